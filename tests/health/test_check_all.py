"""`hubfleet check --all`: every hub of the named clusters, clusters in parallel and
isolated, a cluster's hubs bounded in parallel, one retry before a failure counts.

The passing hub is a real JupyterHub reached through the fake kubectl (as
tests/health/test_kubernetes_check.py does); failing hubs are the fake kubectl's or
gcloud's failures."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hubfleet.deploy.fleetcheck import read_fleet_check
from tests.fakes import FakeTools
from tests.fakes import fake_tools as fake_tools  # fixture
from tests.health.kube import KubeHub, kubectl_rules, running_hub, set_health_check, with_base_url

pytestmark = [pytest.mark.xdist_group("kube-check-all"), pytest.mark.slow]

Cli = Callable[..., Any]
NOT_FOUND = {"exit": 1, "stderr": 'Error from server (NotFound): secrets "hub" not found'}


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeHub]:
    with running_hub(tmp_path_factory.mktemp("kube") / "state") as running:
        yield running


@pytest.fixture
def fleet(fleet_copy: Path, fake_tools: FakeTools, age_key: Path) -> Path:
    """The test fleet, its delta staging hubs under the hub's base URL, no retry delay."""
    for name in ("staging-a", "staging-b"):
        with_base_url(fleet_copy, "delta", name)
    path = fleet_copy / "hubfleet.yaml"
    data = yaml.safe_load(path.read_text())
    data["health"] = {"retry_delay_s": 0, "attempt_timeout_s": 60}
    path.write_text(yaml.safe_dump(data))
    return fleet_copy


def _secret_fails(namespace: str, **extra: Any) -> dict[str, Any]:
    return {"tool": "kubectl", "args": ["get", "secret", f"--namespace={namespace}"],
            **NOT_FOUND, **extra}  # fmt: skip


def _gets(fakes: FakeTools, namespace: str) -> list[dict[str, Any]]:
    return [
        c for c in fakes.calls("kubectl")
        if c["argv"][:2] == ["get", "secret"] and f"--namespace={namespace}" in c["argv"]
    ]  # fmt: skip


def test_every_hub_of_a_cluster_passing_and_failing(
    hub: KubeHub, fleet: Path, fake_tools: FakeTools, run_cli: Cli
) -> None:
    fake_tools.script(
        [
            *kubectl_rules(hub, namespace="staging-a"),
            _secret_fails("staging-b"),
            _secret_fails("prod"),
        ]
    )
    result = run_cli("--repo", fleet, "check", "--all", "delta", "--output", "json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["clusters"] == ["delta"] and report["ok"] is False
    hubs = {h["hub"]: h for h in report["hubs"]}
    assert list(hubs) == ["prod", "staging-a", "staging-b"]
    assert hubs["staging-a"]["status"] == "ok" and hubs["staging-a"]["tries"] == 1
    assert hubs["staging-a"]["flaky"] is False and hubs["staging-a"]["url"].startswith(
        "http://127.0.0.1:"
    )
    for name in ("prod", "staging-b"):
        assert hubs[name]["status"] == "failed" and hubs[name]["tries"] == 2, hubs[name]
        assert "not found" in hubs[name]["message"]
        assert len(_gets(fake_tools, name)) == 2  # checked, then once more
    assert report["counts"] == {"ok": 1, "failed": 2, "skipped": 0, "cancelled": 0}
    assert hub.token not in result.output
    # the one reader reads what the command wrote
    path = fleet / "r.json"
    path.write_text(result.stdout)
    assert [h.status for h in read_fleet_check(path).hubs] == ["failed", "ok", "failed"]


def test_a_flaky_check_is_retried_once_and_not_reported(
    hub: KubeHub, fleet: Path, fake_tools: FakeTools, run_cli: Cli
) -> None:
    for name in ("staging-b", "prod"):
        set_health_check(fleet, "delta", name, {"enabled": False})
    rules = kubectl_rules(hub, namespace="staging-a")
    # the first read of the token fails (a blip of the API server), the second works
    rules[0] = {**rules[0], "steps": [{"exit": 1, "stderr": "connection refused"}, {}]}
    fake_tools.script(rules)
    result = run_cli("--repo", fleet, "check", "--all", "delta", "--output", "json")
    assert result.exit_code == 0, result.output
    hubs = {h["hub"]: h for h in json.loads(result.stdout)["hubs"]}
    assert hubs["staging-a"]["status"] == "ok"
    assert hubs["staging-a"]["tries"] == 2 and hubs["staging-a"]["flaky"] is True
    assert hubs["staging-b"]["status"] == hubs["prod"]["status"] == "skipped"
    assert "switched off" in hubs["prod"]["message"]


def test_without_retries_the_first_failure_is_reported(
    fleet: Path, fake_tools: FakeTools, run_cli: Cli
) -> None:
    fake_tools.script([_secret_fails("staging-a", steps=[{}, {"exit": 0}])])
    for name in ("staging-b", "prod"):
        set_health_check(fleet, "delta", name, {"enabled": False})
    result = run_cli("--repo", fleet, "check", "--all", "delta", "--retries", "0")
    assert result.exit_code == 1, result.output
    assert "FAIL delta/staging-a: " in result.stdout
    assert len(_gets(fake_tools, "staging-a")) == 1


def test_clusters_are_isolated_and_run_in_parallel(
    fleet: Path, fake_tools: FakeTools, run_cli: Cli
) -> None:
    """alpha's login fails (after a while): only alpha's hubs fail for it; delta's are
    checked meanwhile, each with its own failure."""
    fake_tools.script(
        [
            {"tool": "gcloud", "exit": 1, "stderr": "ERROR: permission denied", "sleep": 1.5},
            _secret_fails("staging-a"),
            _secret_fails("staging-b"),
            _secret_fails("prod"),
        ]
    )
    result = run_cli("--repo", fleet, "check", "--all", "alpha", "delta", "-o", "json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["clusters"] == ["alpha", "delta"]
    for entry in report["hubs"]:
        if entry["cluster"] == "alpha":
            assert entry["message"].startswith("cluster credentials: "), entry
            assert "permission denied" in entry["message"] and entry["tries"] == 2
        else:
            assert "not found" in entry["message"] and "credentials" not in entry["message"]
    assert [h["hub"] for h in report["hubs"] if h["cluster"] == "alpha"] == [
        "prod1",
        "prod2",
        "staging",
    ]
    assert len(fake_tools.calls("gcloud")) == 2  # the login, tried once more
    # delta's checks ran while alpha's first login was still failing
    first_login = fake_tools.calls("gcloud")[0]
    delta = [c for c in fake_tools.calls("kubectl") if c["argv"][:2] == ["get", "secret"]]
    assert any(c["start"] < first_login["end"] for c in delta)


def test_hubs_of_a_cluster_are_checked_a_bounded_number_at_once(
    fleet: Path, fake_tools: FakeTools, run_cli: Cli
) -> None:
    fake_tools.script([{"tool": "kubectl", "args": ["get", "secret"], **NOT_FOUND, "sleep": 0.8}])
    result = run_cli(
        "--repo", fleet, "check", "--all", "delta", "--hub-concurrency", "2", "--retries", "0"
    )
    assert result.exit_code == 1, result.output
    calls = fake_tools.calls("kubectl")
    assert len(calls) == 3
    overlapping = max(
        sum(1 for other in calls if other["start"] <= c["start"] < other["end"]) for c in calls
    )
    assert overlapping == 2


def test_markdown_and_text_outputs(fleet: Path, fake_tools: FakeTools, run_cli: Cli) -> None:
    fake_tools.script([_secret_fails("staging-a"), _secret_fails("staging-b")])
    set_health_check(fleet, "delta", "prod", {"enabled": False})
    result = run_cli("--repo", fleet, "check", "--all", "delta", "-o", "markdown", "--retries", "0")
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("## hubfleet health check")
    assert "| delta | staging-a | **failed** | 1 |" in result.stdout
    assert "| delta | prod | skipped | 0 |" in result.stdout
    result = run_cli("--repo", fleet, "check", "--all", "delta", "--retries", "0")
    assert result.stdout.splitlines()[-1] == (
        "3 hubs in 1 clusters: 0 ok, 2 failed, 1 skipped, 0 cancelled"
    )


def test_a_broken_cluster_is_named_and_not_checked(
    fleet: Path, fake_tools: FakeTools, run_cli: Cli
) -> None:
    (fleet / "config/clusters/gamma/cluster.yaml").write_text("name: gamma\nprovider: [\n")
    result = run_cli("--repo", fleet, "check", "--all", "gamma", "-o", "json")
    assert result.exit_code == 3, result.output
    report = json.loads(result.stdout)
    assert report["broken"] == ["gamma"] and report["hubs"] == []
    assert "config/clusters/gamma/cluster.yaml" in result.stderr
    assert fake_tools.calls("kubectl") == [] and fake_tools.calls("az") == []


def test_bad_arguments(fleet: Path, run_cli: Cli) -> None:
    assert run_cli("--repo", fleet, "check", "--all", "nope").exit_code == 2
    assert run_cli("--repo", fleet, "check", "delta").exit_code == 2
    assert run_cli("--repo", fleet, "check", "delta", "prod", "-o", "markdown").exit_code == 2


def test_local_hubs_are_checked_where_they_run(
    fleet: Path, fake_tools: FakeTools, run_cli: Cli
) -> None:
    """The local provider's hubs need no credentials: a hub not running fails (after its
    retry) with the hint to deploy it; no cloud CLI or kubectl runs."""
    result = run_cli("--repo", fleet, "check", "--all", "local", "-o", "json")
    assert result.exit_code == 1, result.output
    hubs = json.loads(result.stdout)["hubs"]
    assert [(h["hub"], h["status"], h["tries"]) for h in hubs] == [
        ("prod1", "failed", 2),
        ("staging", "failed", 2),
    ]
    assert all("is not running" in h["message"] for h in hubs)
    assert all(fake_tools.calls(tool) == [] for tool in ("kubectl", "gcloud", "aws", "az"))


def test_a_cancelled_run_checks_nothing_more(fleet: Path, fake_tools: FakeTools) -> None:
    """An interrupt (the cancel event) before the hubs are checked: each is `cancelled`,
    none is `failed` (no incident is opened for it), and the CLI exits 130."""
    import threading

    from hubfleet.base.redact import Redactor
    from hubfleet.config.load import load_fleet
    from hubfleet.deploy.fleetcheck import CheckAllSettings, check_all
    from hubfleet.secrets.sops import Sops

    loaded = load_fleet(fleet).fleet_or_raise()
    cancel = threading.Event()
    cancel.set()
    redactor = Redactor()
    result = check_all(
        loaded, ["delta", "local"], sops=Sops(redactor, cwd=fleet), redactor=redactor,
        settings=CheckAllSettings(retry_delay_s=0), cancel=cancel,
    )  # fmt: skip
    assert {h.status for h in result.hubs} == {"cancelled"}
    assert result.cancelled and result.ok is False
    assert fake_tools.calls("kubectl") == []


def test_a_running_local_hub_passes(fleet: Path, fake_tools: FakeTools, run_cli: Cli) -> None:
    """The local provider's hub is a real JupyterHub on this machine: checked where it
    runs, with the token hubfleet registered for it."""
    from hubfleet.config.load import load_fleet
    from hubfleet.local import LocalHubSpec, deploy_hub
    from hubfleet.local.fleet import state_dir
    from tests.local.hubs import cleaned, free_base_port

    set_health_check(fleet, "local", "prod1", {"enabled": False})
    loaded = load_fleet(fleet).fleet_or_raise()
    state = state_dir(loaded, loaded.cluster("local"))
    with cleaned(state):
        values = {"cull": {"enabled": False}}
        deploy_hub(LocalHubSpec("local", "staging", values, state, free_base_port()), timeout=120)
        result = run_cli("--repo", fleet, "check", "--all", "local", "-o", "json")
    assert result.exit_code == 0, result.output
    hubs = {h["hub"]: h for h in json.loads(result.stdout)["hubs"]}
    assert hubs["staging"]["status"] == "ok" and hubs["staging"]["tries"] == 1
    assert hubs["staging"]["url"].startswith("http://127.0.0.1:")
    assert hubs["prod1"]["status"] == "skipped"
    assert all(fake_tools.calls(tool) == [] for tool in ("kubectl", "gcloud", "aws", "az"))
