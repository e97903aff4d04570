"""The canary gate of Kubernetes clusters: each staging hub's health check (its token
from the hub's Secret, the hub through a port-forward) decides its production hubs.

The fake helm succeeds; the fake kubectl answers the Secret and forwards to a real
JupyterHub running locally (tests/health/kube.py).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from tests.conftest import SECRET_MARKER, alive
from tests.deploy.conftest import DeployEnv, by_job, namespace_of, release_of
from tests.health.kube import (
    KubeHub,
    kubectl_rules,
    running_hub,
    set_health_check,
    with_base_url,
)

from hubfleet.base import runner

# One running hub for the module: its tests run on one pytest-xdist worker. Among the slowest files.
pytestmark = [pytest.mark.xdist_group("kube-hub"), pytest.mark.slow]

# Every hub is checked after its upgrade (production too, docs/deploy.md).
CHECKED = {
    "alpha": ["staging", "prod1", "prod2"],
    "beta": ["staging", "research"],
    "delta": ["staging-a", "staging-b", "prod"],
}


def check_user(cluster: str, name: str) -> str:
    """The check user of one hub: the hubs checked at once share one JupyterHub here, and
    two checks of one user would remove it from under each other."""
    return f"check-{cluster}-{name}"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeHub]:
    users = tuple(check_user(cluster, name) for cluster, hubs in CHECKED.items() for name in hubs)
    with running_hub(tmp_path_factory.mktemp("kube") / "state", users) as running:
        yield running


@pytest.fixture
def kenv(denv: DeployEnv, hub: KubeHub) -> DeployEnv:
    """The deploy environment; the Kubernetes hubs served under the hub's base URL, each
    checked with its own user."""
    for cluster, hubs in CHECKED.items():
        for name in hubs:
            with_base_url(denv.fleet, cluster, name)
            set_health_check(denv.fleet, cluster, name, {"user": check_user(cluster, name)})
    denv.fakes.script(kubectl_rules(hub))
    return denv


def _deploy(
    run_cli: Any, denv: DeployEnv, clusters: list[str], *extra: str
) -> tuple[Any, dict[str, Any]]:
    report = denv.out / "report.json"
    result = run_cli(
        "--repo", denv.fleet, "deploy", "--plan", denv.plan(clusters), "--report", report,
        "--progress", "plain", *extra,
    )  # fmt: skip
    return result, json.loads(report.read_text())


def _forwards_all_stopped(denv: DeployEnv) -> None:
    ended = {c["pid"]: c for c in denv.fakes.calls("kubectl")}
    for call in denv.fakes.started("kubectl"):
        if call["argv"][0] == "port-forward":
            assert ended[call["pid"]]["signal"] == "SIGTERM"
            assert not alive(call["pid"])
    assert runner.live_children() == []


def test_passing_checks_open_the_gate(run_cli: Any, kenv: DeployEnv, hub: KubeHub) -> None:
    result, report = _deploy(run_cli, kenv, ["delta"])
    assert result.exit_code == 0, result.output
    jobs = by_job(report)
    assert {label: j["status"] for label, j in jobs.items()} == {
        "delta/support": "succeeded",
        "delta/staging-a": "succeeded",
        "delta/staging-b": "succeeded",
        "delta/prod": "succeeded",
    }
    assert jobs["delta/staging-a"]["gate"] == jobs["delta/staging-b"]["gate"] == "health-check"
    assert report["health_check"] == "kubeconfig: health check"
    assert "canary gate: kubeconfig: health check" in result.stdout
    gets = [c for c in kenv.fakes.calls("kubectl") if c["argv"][0] == "get"]
    # The canaries' checks read their token; the production hub's own check after its
    # upgrade asks only its API (no token), through its own port-forward.
    assert sorted(namespace_of(c) for c in gets) == ["staging-a", "staging-b"]
    forwards = [c for c in kenv.fakes.calls("kubectl") if c["argv"][0] == "port-forward"]
    assert {namespace_of(c) for c in forwards} == {"prod", "staging-a", "staging-b"}
    assert all("hubfleet-creds-delta-" in c["env"]["KUBECONFIG"] for c in gets)
    # The production hub was upgraded after both canaries' checks ended.
    [prod] = [c for c in kenv.upgrades() if release_of(c) == "prod"]
    canaries = [c for c in kenv.fakes.calls("kubectl") if namespace_of(c) != "prod"]
    assert prod["start"] > max(c["end"] for c in canaries)
    assert hub.token not in result.output + json.dumps(report)
    _forwards_all_stopped(kenv)


def _delta_deployed_fully(jobs: dict[str, Any]) -> None:
    for name in ("support", "staging-a", "staging-b", "prod"):
        assert jobs[f"delta/{name}"]["status"] == "succeeded", jobs[f"delta/{name}"]
    assert jobs["delta/staging-a"]["gate"] == "health-check"


def test_secret_without_token_skips_production_of_its_cluster_only(
    run_cli: Any, kenv: DeployEnv, hub: KubeHub
) -> None:
    # beta's canary is the only hub in namespace "staging" of this deploy.
    rules = kubectl_rules(hub, namespace="staging", data={}) + kubectl_rules(hub)
    kenv.fakes.script(rules)
    result, report = _deploy(run_cli, kenv, ["beta", "delta"])
    assert result.exit_code == 1
    jobs = by_job(report)
    canary = jobs["beta/staging"]
    assert canary["status"] == "failed" and canary["gate"] == "health-check"
    assert canary["message"].startswith(
        "health check failed: Secret 'hub' in namespace 'staging' has no key "
        "'hub.services.hubfleet-health-check.apiToken'"
    )
    assert jobs["beta/research"]["status"] == "skipped"
    assert jobs["beta/research"]["message"] == "health check of staging failed"
    assert not any(release_of(c) == "research" for c in kenv.upgrades())
    _delta_deployed_fully(jobs)
    assert hub.token not in result.output and SECRET_MARKER not in result.output
    _forwards_all_stopped(kenv)


def test_failing_step_skips_production_of_its_cluster_only(
    run_cli: Any, kenv: DeployEnv, hub: KubeHub
) -> None:
    with socket.socket() as closed:  # a port nobody listens on: alpha's hub is down
        closed.bind(("127.0.0.1", 0))
        nowhere = closed.getsockname()[1]
    kenv.fakes.script(
        kubectl_rules(hub, namespace="staging", forward_to=nowhere) + kubectl_rules(hub)
    )
    result, report = _deploy(run_cli, kenv, ["alpha", "delta"])
    assert result.exit_code == 1
    jobs = by_job(report)
    canary = jobs["alpha/staging"]
    assert canary["status"] == "failed" and canary["gate"] == "health-check"
    assert canary["message"].startswith(
        "health check failed: step create_user failed after 2 attempt(s)"
    )
    for label in ("alpha/prod1", "alpha/prod2"):
        assert jobs[label]["status"] == "skipped"
        assert jobs[label]["message"] == "health check of staging failed"
    _delta_deployed_fully(jobs)
    _forwards_all_stopped(kenv)


def test_no_health_check_is_reported(run_cli: Any, kenv: DeployEnv) -> None:
    kenv.fakes.script([{"tool": "kubectl", "exit": 1, "stderr": "must not run"}])
    result, report = _deploy(run_cli, kenv, ["delta"], "--no-health-check")
    assert result.exit_code == 0, result.output
    assert report["health_check"] == "none: --no-health-check"
    assert "canary gate: none: --no-health-check" in result.stdout
    jobs = by_job(report)
    assert jobs["delta/staging-a"]["gate"] == "none: --no-health-check"
    assert jobs["delta/prod"]["status"] == "succeeded"
    assert kenv.fakes.started("kubectl") == []


def test_switched_off_hub_is_gated_on_helm(run_cli: Any, kenv: DeployEnv) -> None:
    set_health_check(kenv.fleet, "delta", "staging-a", {"enabled": False})
    result, report = _deploy(run_cli, kenv, ["delta"])
    assert result.exit_code == 0, result.output
    jobs = by_job(report)
    off = jobs["delta/staging-a"]
    assert off["status"] == "succeeded" and off["gate"] == "helm"
    assert off["message"].startswith("health check switched off (config/clusters/delta/")
    assert "health_check.enabled: false" in off["message"]
    assert jobs["delta/staging-b"]["gate"] == "health-check"
    assert jobs["delta/prod"]["status"] == "succeeded"
    gets = [c for c in kenv.fakes.calls("kubectl") if c["argv"][0] == "get"]
    assert sorted(namespace_of(c) for c in gets) == ["staging-b"]  # prod: its API, no token
