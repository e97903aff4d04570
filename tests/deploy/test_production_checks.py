"""No silent success: every production hub is checked after its upgrade; one whose
check fails is failed with the cause, and rolled back with
`deploy.rollback_on_failed_check`."""

from __future__ import annotations

import json

from tests.deploy.conftest import DeployEnv, deployer
from tests.deploy.rollout_states import fast_watch

from hubfleet.health.gate import HealthRequest, HealthResult

LISTED = [
    {"name": n, "namespace": n, "revision": "7", "status": "deployed"}
    for n in ("staging", "prod1", "prod2", "support")
]


def _check(request: HealthRequest) -> HealthResult:
    if request.hub.name == "prod1":
        return HealthResult(False, "hub pod not ready: GET /hub/api answered 503")
    return HealthResult(True, "healthy (test)")


def _rollbacks(denv: DeployEnv) -> list[list[str]]:
    return [c["argv"] for c in denv.fakes.calls("helm") if c["argv"][0] == "rollback"]


def test_failed_production_check_fails_the_hub_with_its_cause(denv: DeployEnv) -> None:
    fast_watch(denv.fleet)
    denv.fakes.script([{"tool": "helm", "args": ["list"], "stdout": json.dumps(LISTED)}])
    report = deployer(denv, ["alpha"], health_checks={"gcp": _check}).run()
    jobs = {r.job.label: r for r in report.records}
    assert report.exit_code == 1
    prod1 = jobs["alpha/prod1"]
    assert prod1.status == "failed" and prod1.gate == "health-check"
    assert prod1.message == "health check failed: hub pod not ready: GET /hub/api answered 503"
    assert prod1.rolled_back is None and _rollbacks(denv) == []  # the setting is off
    assert jobs["alpha/prod2"].status == "succeeded"
    assert jobs["alpha/prod2"].message.endswith("healthy (test)")


def test_failed_production_check_rolls_back_with_the_setting(denv: DeployEnv) -> None:
    fast_watch(denv.fleet, rollback_on_failed_check=True)
    denv.fakes.script([{"tool": "helm", "args": ["list"], "stdout": json.dumps(LISTED)}])
    report = deployer(denv, ["alpha"], health_checks={"gcp": _check}).run()
    prod1 = {r.job.label: r for r in report.records}["alpha/prod1"]
    assert prod1.status == "failed"
    assert prod1.message.endswith("answered 503; rolled back to revision 7")
    assert prod1.rolled_back == 7
    [rollback] = _rollbacks(denv)
    assert rollback[-3:] == ["--", "prod1", "7"]


def test_production_checks_can_be_switched_off(denv: DeployEnv) -> None:
    fast_watch(denv.fleet, check_production=False)
    checked: list[str] = []

    def check(request: HealthRequest) -> HealthResult:
        checked.append(request.hub.name)
        return _check(request)

    report = deployer(denv, ["alpha"], health_checks={"gcp": check}).run()
    assert report.exit_code == 0 and checked == ["staging"]


def _depths(denv: DeployEnv) -> dict[str, bool]:
    seen: dict[str, bool] = {}

    def check(request: HealthRequest) -> HealthResult:
        seen[request.hub.name] = request.user_server
        return HealthResult(True, "healthy (test)")

    denv.fakes.script([{"tool": "helm", "args": ["list"], "stdout": json.dumps(LISTED)}])
    report = deployer(denv, ["alpha"], health_checks={"gcp": check}).run()
    assert report.exit_code == 0
    return seen


def test_production_hubs_are_checked_without_the_user_server_part(denv: DeployEnv) -> None:
    """Canaries get the whole check; production hubs only that the hub answers its API
    (no user, no server: they need no health-check service in their values)."""
    fast_watch(denv.fleet)
    assert _depths(denv) == {"staging": True, "prod1": False, "prod2": False}


def test_production_user_server_checks_production_hubs_whole(denv: DeployEnv) -> None:
    fast_watch(denv.fleet, production_user_server=True)
    assert _depths(denv) == {"staging": True, "prod1": True, "prod2": True}
