"""Plans that reconcile git with the clusters, end to end (issue 25 points 3 and 4):
real git, the CLI in-process, the stateful fake helm (tests/fakes/helmstate.py) as the
clusters. Each push is run as the push workflow runs it: `plan --base BEFORE --head
HEAD`, then per cluster of the matrix `plan --from-json plan.json --live --cluster C`
and `deploy --plan` of that (hubfleet-cluster.yaml's Deploy step).

- a first deploy from the live plan alone, then nothing left to do;
- a failed cluster retried by the next push of an unrelated change;
- a force push of three commits: every cluster in the matrix, all three's changes
  deployed;
- a manual out-of-band upgrade found by the live plan;
- a rolled-back hub not retried in a loop, then retried after its inputs change, and
  with --retry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hubfleet.config.load import load_fleet
from hubfleet.live.digest import Digests
from hubfleet.release.pipeline import hub_release
from hubfleet.release.values import ReleaseValues
from tests.deploy.conftest import DeployEnv, cluster_rule, release_of
from tests.deploy.rollout_states import fast_watch, manifest, state
from tests.fakes.helmstate import HelmState
from tests.helpers import GitFleet

DELTA_PROD = "config/clusters/delta/prod.values.yaml"
DELTA_STAGING = "config/clusters/delta/staging-a.values.yaml"
DELTA_SUPPORT = "config/clusters/delta/support.values.yaml"
ALPHA_STAGING = "config/clusters/alpha/staging.values.yaml"
ALPHA_SUPPORT = "config/clusters/alpha/support.values.yaml"


@pytest.fixture
def helm_state(denv: DeployEnv) -> HelmState:
    found = HelmState(denv.out / "clusters")
    denv.fakes.script([], helm_state=found.folder)
    return found


@pytest.fixture
def repo(denv: DeployEnv) -> GitFleet:
    fast_watch(denv.fleet)
    found = GitFleet.started(denv.fleet)
    found.commit("fast rollout watch")
    return found


class Ci:
    """The push workflow's hubfleet calls, in-process."""

    def __init__(self, run_cli: Any, denv: DeployEnv) -> None:
        self.run_cli = run_cli
        self.denv = denv
        self.count = 0

    def cli(self, *args: str | Path) -> Any:
        return self.run_cli("--repo", self.denv.fleet, *args)

    def out(self, name: str) -> Path:
        self.count += 1
        return self.denv.out / f"{self.count:02d}-{name}"

    def live_plan(self, cluster: str, *more: str) -> dict[str, Any]:
        """`plan --live --cluster C`: the jobs that differ from git."""
        result = self.cli("plan", "--live", "--cluster", cluster, "--output", "json", *more)
        assert result.exit_code == 0, result.output
        data: dict[str, Any] = json.loads(result.stdout)
        return data

    def push(self, before: str, clusters: list[str] | None = None, *more: str) -> dict[str, Any]:
        """One push: the change's plan, the matrix (`clusters`: every cluster, a force
        push), then per cluster the live plan added and deployed. Returns the reports
        by cluster."""
        plan = self.out("plan.json")
        result = self.cli("plan", "--base", before, "--head", "HEAD", "--output", "json")
        assert result.exit_code == 0, result.output
        plan.write_text(result.stdout)
        if clusters is None:
            matrix = self.cli("ci", "matrix", "--plan", plan, "--output", "json")
            assert matrix.exit_code == 0, matrix.output
            clusters = [e["cluster"] for e in json.loads(matrix.stdout)["include"]]
        reports = {}
        for cluster in clusters:
            live = self.out(f"{cluster}.plan.json")
            result = self.cli(
                "plan", "--from-json", plan, "--live", "--cluster", cluster, "--output", "json"
            )  # fmt: skip
            assert result.exit_code == 0, result.output
            live.write_text(result.stdout)
            reports[cluster] = self.deploy(live, cluster, *more)
        return reports

    def deploy(self, plan: Path, cluster: str, *more: str) -> dict[str, Any]:
        report = self.out(f"{cluster}.report.json")
        result = self.cli(
            "deploy", "--plan", plan, "--cluster", cluster, "--progress", "plain",
            "--no-health-check", "--report", report, *more,
        )  # fmt: skip
        data: dict[str, Any] = json.loads(report.read_text())
        data["exit_code"] = result.exit_code
        data["stdout"] = result.stdout
        return data


@pytest.fixture
def ci(run_cli: Any, denv: DeployEnv) -> Ci:
    return Ci(run_cli, denv)


def jobs_of(plan: dict[str, Any]) -> dict[str, list[str]]:
    """`hub (or support): first reason` of every job of a plan."""
    found = {}
    for key in ("support_jobs", "staging_jobs", "prod_jobs"):
        for job in plan[key]:
            found[job.get("hub_name", "support")] = job["reasons"]
    return found


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {(j["hub_name"] or "support"): j["status"] for j in report["jobs"]}


def upgraded(denv: DeployEnv, since: int = 0) -> list[str]:
    """The releases upgraded (helm upgrade calls) after the first `since` calls."""
    calls = [c for c in denv.fakes.calls("helm") if c["argv"][:1] == ["upgrade"]][since:]
    return [release_of(c) for c in calls]


def upgrades(denv: DeployEnv) -> int:
    return len(upgraded(denv))


def digest_of(denv: DeployEnv, cluster: str, hub: str) -> str:
    fleet = load_fleet(denv.fleet).fleet_or_raise()
    return Digests(ReleaseValues(fleet, sops=None)).of(
        hub_release(fleet, fleet.cluster(cluster).hub(hub))
    )


def test_first_deploy_from_the_live_plan_then_nothing_to_do(
    ci: Ci, denv: DeployEnv, helm_state: HelmState, repo: GitFleet
) -> None:
    plan = ci.live_plan("delta")
    found = jobs_of(plan)
    assert set(found) == {"support", "staging-a", "staging-b", "prod"}
    assert found["prod"] == ["live: never deployed: the cluster has no such release"]
    assert plan["version"] == 3
    assert plan["live"] == {"clusters": ["delta"], "retry": False, "unreachable": []}
    path = ci.out("live.json")
    path.write_text(json.dumps(plan))
    report = ci.deploy(path, "delta")
    assert report["exit_code"] == 0, report["stdout"]
    assert set(statuses(report).values()) == {"succeeded"}
    again = ci.live_plan("delta")
    assert jobs_of(again) == {}
    # the second read found every release hubfleet's, at this commit's digest
    latest = helm_state.latest("delta", "prod", "prod")
    assert latest is not None
    assert digest_of(denv, "delta", "prod") in latest["description"]


def _in_sync(ci: Ci, *clusters: str) -> None:
    """Every release of `clusters` deployed (a first deploy from the live plan)."""
    for cluster in clusters:
        path = ci.out(f"{cluster}.first.json")
        path.write_text(json.dumps(ci.live_plan(cluster)))
        report = ci.deploy(path, cluster)
        assert report["exit_code"] == 0, report["stdout"]
        assert jobs_of(ci.live_plan(cluster)) == {}


def test_a_failed_cluster_is_retried_by_the_next_push_of_an_unrelated_change(
    ci: Ci, denv: DeployEnv, helm_state: HelmState, repo: GitFleet
) -> None:
    _in_sync(ci, "delta")
    before = repo.git("rev-parse", "HEAD")
    repo.edit(DELTA_PROD, "\n", "\n# change A\n")
    repo.commit("change A: delta's prod")
    denv.fakes.script(
        [cluster_rule("delta", "prod", exit=1, stderr="Error: UPGRADE FAILED: timed out")],
        helm_state=helm_state.folder,
    )
    failed = ci.push(before)["delta"]
    assert failed["exit_code"] == 1
    assert statuses(failed)["prod"] == "failed"
    latest = helm_state.latest("delta", "prod", "prod")
    assert latest is not None and latest["status"] == "failed"
    assert "helm status failed" in jobs_of(ci.live_plan("delta"))["prod"][0]

    # The next push changes another hub of the cluster; prod's failure is retried.
    denv.fakes.script([], helm_state=helm_state.folder)
    before = repo.git("rev-parse", "HEAD")
    repo.edit(DELTA_STAGING, "\n", "\n# change B\n")
    repo.commit("change B: delta's staging-a, unrelated")
    calls = upgrades(denv)
    report = ci.push(before)["delta"]
    assert report["exit_code"] == 0, report["stdout"]
    reasons = {(j["hub_name"] or "support"): j["reasons"] for j in report["jobs"]}
    assert any("helm status failed" in r for r in reasons["prod"])
    assert any("staging-a.values.yaml" in r for r in reasons["staging-a"])
    assert {"prod", "staging-a"} <= set(upgraded(denv, calls))
    assert jobs_of(ci.live_plan("delta")) == {}
    assert (
        digest_of(denv, "delta", "prod")
        in helm_state.latest("delta", "prod", "prod")["description"]
    )  # type: ignore[index]
