"""A community-only change deploys only its hub, health-checks it after the upgrade, and
rolls it back to its previous revision when the check fails (against the fake helm)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hubfleet.base.redact import Redactor
from hubfleet.config.load import load_fleet
from hubfleet.deploy.orchestrator import Deployer
from hubfleet.deploy.output import report_json
from hubfleet.deploy.targets import from_plan
from hubfleet.health.gate import HealthRequest, HealthResult
from hubfleet.secrets.sops import Sops
from tests.deploy.conftest import DeployEnv, planned_record, release_of


def _plan(denv: DeployEnv, *, files_only: bool) -> Path:
    job = {"cluster_name": "alpha", "provider": "gcp", "reasons": ["x"], "choice_reason": "x"}
    plan = {
        "support_jobs": [],
        "staging_jobs": [{**job, "hub_name": "staging"}],  # the canary rule's addition
        "prod_jobs": [{**job, "hub_name": "prod1"}],
        "community": {
            "community_only": files_only,
            "files_only": files_only,
            "reasons": ["test"],
            "hubs": [{"cluster_name": "alpha", "hub_name": "prod1", "owners": ["@a"]}],
        },
        "planned": planned_record(["config/clusters/alpha/prod1.values.yaml"]),
    }
    path = denv.out / "plan.json"
    path.write_text(json.dumps(plan))
    return path


def _deploy(denv: DeployEnv, plan: Path, healthy: bool) -> tuple[dict[str, Any], list[str]]:
    checked: list[str] = []

    def check(request: HealthRequest) -> HealthResult:
        checked.append(f"{request.hub.cluster}/{request.hub.name}")
        return HealthResult(healthy, "" if healthy else "hub API answered 503")

    listing = [{"name": "prod1", "namespace": "prod1", "revision": "7", "status": "deployed"}]
    denv.fakes.script(
        [{"tool": "helm", "args": ["list"], "stdout": json.dumps(listing)}],
    )
    fleet = load_fleet(denv.fleet).fleet_or_raise()
    redactor = Redactor()
    targets = from_plan(fleet, plan)
    deployer = Deployer(
        fleet,
        targets.jobs,
        sops=Sops(redactor, cwd=fleet.root),
        redactor=redactor,
        health_checks={"gcp": check},
    )
    report = json.loads(report_json(deployer.run(), redactor))
    return report, checked


def _helm(denv: DeployEnv) -> list[list[str]]:
    return [c["argv"] for c in denv.fakes.calls("helm") if c["argv"][0] in ("upgrade", "rollback")]


def test_failed_check_after_the_upgrade_rolls_back_to_the_previous_revision(
    denv: DeployEnv,
) -> None:
    report, checked = _deploy(denv, _plan(denv, files_only=True), healthy=False)
    [job] = report["jobs"]  # only the community's hub: no canary, no support release
    assert (job["cluster_name"], job["hub_name"]) == ("alpha", "prod1")
    assert checked == ["alpha/prod1"]
    assert job["status"] == "failed"
    assert job["rolled_back"] == 7
    assert "health check failed: hub API answered 503" in job["message"]
    assert "rolled back to revision 7" in job["message"]
    calls = _helm(denv)
    assert [c[0] for c in calls] == ["upgrade", "rollback"]
    rollback = calls[1]
    assert rollback[rollback.index("--") + 1 :] == ["prod1", "7"]
    assert "--namespace=prod1" in rollback
    assert report["summary"] == {"failed": 1}


def test_passing_check_keeps_the_upgrade(denv: DeployEnv) -> None:
    report, checked = _deploy(denv, _plan(denv, files_only=True), healthy=True)
    [job] = report["jobs"]
    assert checked == ["alpha/prod1"]
    assert job["status"] == "succeeded" and job["rolled_back"] is None
    assert [c[0] for c in _helm(denv)] == ["upgrade"]


def test_other_changes_deploy_as_before(denv: DeployEnv) -> None:
    report, checked = _deploy(denv, _plan(denv, files_only=False), healthy=False)
    jobs = {j["hub_name"]: j for j in report["jobs"]}
    assert set(jobs) == {"staging", "prod1"}
    assert checked == ["alpha/staging"]  # the canary gate only
    assert jobs["prod1"]["status"] == "skipped"
    assert not any(c[0] == "rollback" for c in _helm(denv))
    assert all(release_of({"argv": c}) != "prod1" for c in _helm(denv))
