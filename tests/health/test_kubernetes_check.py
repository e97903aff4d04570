"""`hubfleet check` of a hub on Kubernetes: its token from the hub's Secret, the hub
through a port-forward, both through the fake kubectl, the hub a real JupyterHub."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hubfleet.base import runner
from hubfleet.base.errors import DeployError
from hubfleet.base.redact import Redactor
from hubfleet.config.load import load_fleet
from hubfleet.health import DEFAULT_USER, STEPS
from hubfleet.health.check import health_scopes
from hubfleet.health.gate import HealthRequest
from hubfleet.health.kubernetes import SERVICE, health_check, kube_target, values_snippet
from hubfleet.providers import Credentials
from hubfleet.release.values import ReleaseValues
from hubfleet.secrets.sops import Sops, encrypt
from tests.conftest import AGE_KEY, SECRET_MARKER, alive
from tests.fakes import FakeTools
from tests.fakes import fake_tools as fake_tools  # fixture
from tests.health.kube import (
    BASE_URL,
    KEY,
    KubeHub,
    kubectl_rules,
    running_hub,
    set_health_check,
    with_base_url,
)
from tests.local.hubs import wrapper_chart

# One running hub for the module: its tests run on one pytest-xdist worker. Among the slowest files.
pytestmark = [pytest.mark.xdist_group("kube-check"), pytest.mark.slow]

Cli = Callable[..., Any]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeHub]:
    with running_hub(tmp_path_factory.mktemp("kube") / "state") as running:
        yield running


@pytest.fixture
def kube_fleet(
    fleet_copy: Path, fake_tools: FakeTools, age_key: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The test fleet with its Kubernetes staging hubs under BASE_URL; the user's own
    KUBECONFIG set (it must never reach kubectl)."""
    for cluster, name in (("delta", "staging-a"), ("delta", "staging-b"), ("alpha", "staging")):
        with_base_url(fleet_copy, cluster, name)
    monkeypatch.setenv("KUBECONFIG", str(fleet_copy / "users-own-kubeconfig"))
    return fleet_copy


def _no_forward_left(fakes: FakeTools) -> None:
    forwards = [c for c in fakes.started("kubectl") if c["argv"][0] == "port-forward"]
    assert forwards, "no port-forward was started"
    ended = {c["pid"]: c for c in fakes.calls("kubectl")}
    for call in forwards:
        assert ended[call["pid"]]["signal"] == "SIGTERM"
        assert not alive(call["pid"])
    assert runner.live_children() == []


def test_check_command_on_a_kubernetes_hub(
    hub: KubeHub,
    kube_fleet: Path,
    fake_tools: FakeTools,
    run_cli: Cli,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_tools.script(kubectl_rules(hub))
    caplog.set_level(logging.DEBUG)
    result = run_cli("--repo", kube_fleet, "--debug", "check", "delta", "staging-a")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines[:-1]] == [["ok", step] for step in STEPS]
    assert lines[-1].startswith("delta/staging-a: healthy")
    # The token (and the Secret's other values) never printed or logged, --debug too.
    for text in (result.output, caplog.text):
        assert hub.token not in text and SECRET_MARKER not in text
    get, forward = fake_tools.calls("kubectl")[0], fake_tools.started("kubectl")[1]
    assert get["argv"] == ["get", "secret", "--output=json", "--namespace=staging-a", "--", "hub"]
    assert forward["argv"] == [
        "port-forward", "--address=127.0.0.1", "--namespace=staging-a",
        "--", "service/proxy-public", ":80",
    ]  # fmt: skip
    for call in fake_tools.calls("kubectl"):
        kubeconfig = call["env"]["KUBECONFIG"]
        assert "hubfleet-creds-delta-" in kubeconfig and kubeconfig.endswith("/kubeconfig")
        assert kubeconfig != os.environ["KUBECONFIG"] and kubeconfig != os.devnull
        assert not Path(kubeconfig).exists()  # the private folder is gone
    _no_forward_left(fake_tools)


def test_check_json_on_a_gcp_hub(
    hub: KubeHub, kube_fleet: Path, fake_tools: FakeTools, run_cli: Cli
) -> None:
    fake_tools.script(kubectl_rules(hub))
    result = run_cli("--repo", kube_fleet, "check", "alpha", "staging", "-o", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["failed_step"] is None
    assert report["url"].startswith("http://127.0.0.1:") and report["url"].endswith(BASE_URL)
    assert [s["name"] for s in report["steps"]] == list(STEPS)
    [login] = fake_tools.calls("gcloud")
    assert login["argv"][:4] == ["container", "clusters", "get-credentials", "alpha-cluster"]
    for call in fake_tools.calls("kubectl"):
        assert call["env"]["KUBECONFIG"] == login["env"]["KUBECONFIG"]
        assert "hubfleet-creds-alpha-" in call["env"]["KUBECONFIG"]
        assert "--namespace=staging" in call["argv"]
    assert hub.token not in result.output
    _no_forward_left(fake_tools)


def test_settings_from_cluster_yaml(
    hub: KubeHub, kube_fleet: Path, fake_tools: FakeTools, run_cli: Cli
) -> None:
    settings = {"secret": "jhub", "key": "check.token", "service": "hub-web", "port": 8080}
    set_health_check(kube_fleet, "delta", "staging-a", settings)
    fake_tools.script(kubectl_rules(hub, data={"check.token": hub.token}))
    result = run_cli("--repo", kube_fleet, "check", "delta", "staging-a")
    assert result.exit_code == 0, result.output
    get, forward = (c["argv"] for c in fake_tools.started("kubectl"))
    assert get[:2] == ["get", "secret"] and get[-2:] == ["--", "jhub"]
    assert forward[-3:] == ["--", "service/hub-web", ":8080"]

    # Another check user: the hub's service may only manage its own user.
    set_health_check(kube_fleet, "delta", "staging-a", {**settings, "user": "someone-else"})
    result = run_cli(
        "--repo", kube_fleet, "check", "delta", "staging-a", "--attempts", "1", "--timeout", "20"
    )
    assert result.exit_code == 1
    assert "FAIL create_user" in result.stdout
    assert "step create_user failed" in result.stdout and "'someone-else'" in result.stdout


def test_secret_without_the_key(
    hub: KubeHub, kube_fleet: Path, fake_tools: FakeTools, run_cli: Cli
) -> None:
    other = "hub.services.jupyterhub-idle-culler.apiToken"
    fake_tools.script(kubectl_rules(hub, data={other: "culler-token-s3cr3t"}))
    result = run_cli("--repo", kube_fleet, "check", "delta", "staging-a")
    assert result.exit_code == 1
    message = result.stderr
    assert f"Secret 'hub' in namespace 'staging-a' has no key '{KEY}'" in message
    assert other in message  # the keys it has name the services it knows
    assert "docs/health-check.md" in message and "health_check: {enabled: false}" in message
    assert SECRET_MARKER not in result.output
    assert [c["argv"][0] for c in fake_tools.started("kubectl")] == ["get"]  # no forward


def test_missing_secret(
    hub: KubeHub, kube_fleet: Path, fake_tools: FakeTools, run_cli: Cli
) -> None:
    notfound = 'Error from server (NotFound): secrets "hub" not found\n'
    fake_tools.script([{"tool": "kubectl", "args": ["get"], "exit": 1, "stderr": notfound}])
    result = run_cli("--repo", kube_fleet, "check", "delta", "staging-a")
    assert result.exit_code == 1
    assert "Secret 'hub' in namespace 'staging-a' not found (hub delta/staging-a)" in result.stderr
    assert "health_check.secret/key" in result.stderr


def test_port_forward_that_fails_to_start(
    hub: KubeHub, kube_fleet: Path, fake_tools: FakeTools, run_cli: Cli
) -> None:
    notfound = 'Error from server (NotFound): services "proxy-public" not found\n'
    rules = kubectl_rules(hub)[:1]
    rules.append({"tool": "kubectl", "args": ["port-forward"], "exit": 1, "stderr": notfound})
    fake_tools.script(rules)
    result = run_cli("--repo", kube_fleet, "check", "delta", "staging-a")
    assert result.exit_code == 1
    assert "port-forward to service/proxy-public:80 in namespace 'staging-a' failed" in (
        result.stderr
    )
    assert 'services "proxy-public" not found' in result.stderr
    assert "health_check.service" in result.stderr
    assert runner.live_children() == []


def test_failing_check_stops_the_port_forward(
    hub: KubeHub, kube_fleet: Path, fake_tools: FakeTools, run_cli: Cli
) -> None:
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        nowhere = closed.getsockname()[1]
    fake_tools.script(kubectl_rules(hub, forward_to=nowhere))
    result = run_cli(
        "--repo", kube_fleet, "check", "delta", "staging-a", "--attempts", "1", "--timeout", "10"
    )
    assert result.exit_code == 1
    assert "FAIL create_user" in result.stdout
    assert "delta/staging-a: step create_user failed after 1 attempt(s)" in result.stdout
    _no_forward_left(fake_tools)


def test_each_attempt_gets_a_fresh_port_forward(
    hub: KubeHub, kube_fleet: Path, fake_tools: FakeTools, run_cli: Cli
) -> None:
    """The first forward leads nowhere (its pod went away); the second attempt's new
    forward reaches the hub, and the check passes."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nowhere = closed.getsockname()[1]
    fake_tools.script(kubectl_rules(hub, forward_to=nowhere))

    def heal() -> None:  # once the first forward is stopped, forward to the hub
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(c["argv"][0] == "port-forward" for c in fake_tools.calls("kubectl")):
                fake_tools.script(kubectl_rules(hub))
                return
            time.sleep(0.05)

    healer = threading.Thread(target=heal)
    healer.start()
    result = run_cli(
        "--repo", kube_fleet, "check", "delta", "staging-a", "--attempts", "2",
        "--timeout", "60", "-o", "json",
    )  # fmt: skip
    healer.join()
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["attempts"] == 2
    forwards = [c for c in fake_tools.started("kubectl") if c["argv"][0] == "port-forward"]
    assert len(forwards) == 2
    _no_forward_left(fake_tools)


def test_switched_off_hub_is_not_checked(
    kube_fleet: Path, fake_tools: FakeTools, run_cli: Cli
) -> None:
    set_health_check(kube_fleet, "delta", "staging-a", {"enabled": False})
    result = run_cli("--repo", kube_fleet, "check", "delta", "staging-a")
    assert result.exit_code == 2
    assert "health check switched off (config/clusters/delta/cluster.yaml:" in result.stderr
    assert fake_tools.started("kubectl") == []


def test_cancel_stops_the_port_forward_at_once(
    hub: KubeHub, kube_fleet: Path, fake_tools: FakeTools, tmp_path: Path
) -> None:
    """A hub that never answers: the deploy's cancel ends the check, and its forward."""
    silent = socket.create_server(("127.0.0.1", 0))  # accepts (backlog), never answers
    fake_tools.script(kubectl_rules(hub, forward_to=silent.getsockname()[1]))
    fleet = load_fleet(kube_fleet).fleet_or_raise()
    cancel = threading.Event()
    request = HealthRequest(
        fleet=fleet,
        hub=fleet.cluster("delta").hub("staging-a"),
        credentials=Credentials("delta", tmp_path, tmp_path / "kubeconfig", {}),
        redactor=Redactor(),
        cancel=cancel,
    )
    timer = threading.Timer(1.0, cancel.set)
    timer.start()
    started = time.monotonic()
    try:
        result = health_check(request)
    finally:
        timer.cancel()
        silent.close()
    assert not result.ok  # (a check's result always counts as the health-check gate)
    assert result.message == "cancelled during the health check"
    assert time.monotonic() - started < 20  # not the 30 s request timeout, nor 2 x 300 s
    _no_forward_left(fake_tools)


def test_target_from_settings_and_values(fleet_copy: Path) -> None:
    fleet = load_fleet(fleet_copy).fleet_or_raise()
    target = kube_target(fleet, fleet.cluster("delta").hub("staging-a"))
    assert (target.namespace, target.secret, target.key) == ("staging-a", "hub", KEY)
    assert (target.service, target.port, target.user) == ("proxy-public", 80, DEFAULT_USER)
    assert target.base_url == "/"
    with_base_url(fleet_copy, "delta", "staging-a")
    fleet = load_fleet(fleet_copy).fleet_or_raise()
    assert kube_target(fleet, fleet.cluster("delta").hub("staging-a")).base_url == BASE_URL


def test_target_base_url_inside_a_wrapper_chart(fleet_copy: Path) -> None:
    """A basehub-style chart keeps z2jh's values under its dependency's key."""
    wrapper_chart(fleet_copy)
    folder = fleet_copy / "config/clusters/delta"
    (folder / "staging-a.values.yaml").write_text(
        "jupyterhub:\n  hub:\n    baseUrl: /wrapped\nhub:\n  baseUrl: /not-this/\n"
    )
    cluster = yaml.safe_load((folder / "cluster.yaml").read_text())
    for entry in cluster["hubs"]:
        if entry["name"] == "staging-a":
            entry["helm_chart"] = "wrapper"
            entry.pop("chart_override", None)
    (folder / "cluster.yaml").write_text(yaml.safe_dump(cluster, sort_keys=False))
    fleet = load_fleet(fleet_copy).fleet_or_raise()
    assert kube_target(fleet, fleet.cluster("delta").hub("staging-a")).base_url == "/wrapped/"


def test_values_snippet_matches_the_defaults() -> None:
    """The snippet registers the service whose token the default key names, with the
    local provider's scopes, and blocks the check user."""
    snippet = values_snippet()["hub"]
    [service] = snippet["services"]
    assert f"hub.services.{service}.apiToken" == KEY
    assert service == SERVICE
    assert snippet["loadRoles"][service]["scopes"] == health_scopes(DEFAULT_USER)
    assert snippet["loadRoles"][service]["services"] == [service]
    assert snippet["config"]["Authenticator"]["blocked_users"] == [DEFAULT_USER]


def test_a_forward_that_ends_is_named_in_the_failed_step(
    hub: KubeHub, kube_fleet: Path, fake_tools: FakeTools, run_cli: Cli
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nowhere = closed.getsockname()[1]
    lost = "error: lost connection to pod\n"
    rules = kubectl_rules(hub)[:1]
    rules.append(
        {"tool": "kubectl", "args": ["port-forward"], "exit": 1, "stderr": lost,
         "stdout": f"Forwarding from 127.0.0.1:{nowhere} -> 8000\n"}
    )  # fmt: skip
    fake_tools.script(rules)
    result = run_cli(
        "--repo", kube_fleet, "check", "delta", "staging-a", "--attempts", "1", "--timeout", "10"
    )
    assert result.exit_code == 1
    assert "step create_user failed" in result.stdout
    assert "(kubectl port-forward had ended: error: lost connection to pod)" in result.stdout
    assert runner.live_children() == []


def _api_only_request(fleet_root: Path, tmp_path: Path, cluster: str, name: str) -> HealthRequest:
    fleet = load_fleet(fleet_root).fleet_or_raise()
    return HealthRequest(
        fleet=fleet,
        hub=fleet.cluster(cluster).hub(name),
        credentials=Credentials(cluster, tmp_path, tmp_path / "kubeconfig", {}),
        redactor=Redactor(),
        user_server=False,
    )


def test_a_production_check_asks_the_hub_api_only(
    hub: KubeHub, kube_fleet: Path, fake_tools: FakeTools, tmp_path: Path
) -> None:
    """Without the user-server part: no token read from the hub's Secret (production hubs
    need no health-check service), no user made, the hub's API through the forward."""
    fake_tools.script(kubectl_rules(hub))
    result = health_check(_api_only_request(kube_fleet, tmp_path, "delta", "staging-a"))
    assert result.ok, result.message
    assert result.message.endswith("answers, no user server"), result.message
    assert "JupyterHub " in result.message
    assert [c["argv"][0] for c in fake_tools.calls("kubectl")] == ["port-forward"]
    _no_forward_left(fake_tools)


def test_a_production_check_fails_when_the_hub_api_does_not_answer(
    hub: KubeHub, kube_fleet: Path, fake_tools: FakeTools, tmp_path: Path
) -> None:
    """A forward that reaches something that is not the hub (its pod not ready behind
    the proxy): the check fails naming the hub API step."""
    other = socket.create_server(("127.0.0.1", 0))
    port = other.getsockname()[1]
    other.close()  # nothing listens there now: the forward leads nowhere
    fake_tools.script(kubectl_rules(hub, forward_to=port))
    result = health_check(_api_only_request(kube_fleet, tmp_path, "delta", "staging-a"))
    assert not result.ok
    assert "hub_api" in result.message
    _no_forward_left(fake_tools)


def _encrypted_base_url(fleet_copy: Path) -> None:
    """delta/staging-a's base URL set in a sops-encrypted values file of its own."""
    folder = fleet_copy / "config/clusters/delta"
    name = "enc-staging-a.secret.values.yaml"
    encrypted = encrypt(
        yaml.safe_dump({"hub": {"baseUrl": "/hidden/"}}).encode(),
        filename=f"config/clusters/delta/{name}",
        cwd=fleet_copy,
        env={"SOPS_AGE_KEY_FILE": str(AGE_KEY)},
    )
    (folder / name).write_bytes(encrypted)
    cluster = yaml.safe_load((folder / "cluster.yaml").read_text())
    for entry in cluster["hubs"]:
        if entry["name"] == "staging-a":
            entry["helm_chart_values_files"].append(name)
    (folder / "cluster.yaml").write_text(yaml.safe_dump(cluster, sort_keys=False))


def test_target_base_url_through_the_deploys_pipeline(fleet_copy: Path, age_key: Path) -> None:
    """A deploy hands the check its one values pipeline (secrets decrypted): the base
    URL comes from it, and one in an encrypted file is still refused, not decrypted
    into the check's URL."""
    with_base_url(fleet_copy, "delta", "staging-a")
    fleet = load_fleet(fleet_copy).fleet_or_raise()
    hub = fleet.cluster("delta").hub("staging-a")
    pipeline = ReleaseValues(fleet, sops=Sops(Redactor(), cwd=fleet.root))
    assert kube_target(fleet, hub, pipeline).base_url == BASE_URL
    reads = pipeline.reads
    assert kube_target(fleet, hub, pipeline).base_url == BASE_URL
    assert pipeline.reads == reads  # the deploy's files, read once for it

    _encrypted_base_url(fleet_copy)
    fleet = load_fleet(fleet_copy).fleet_or_raise()
    hub = fleet.cluster("delta").hub("staging-a")
    decrypting = ReleaseValues(fleet, sops=Sops(Redactor(), cwd=fleet.root))
    for pipeline in (decrypting, None):
        with pytest.raises(DeployError, match=r"hub\.baseUrl is set in an encrypted values file"):
            kube_target(fleet, hub, pipeline)
