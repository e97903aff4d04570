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


def test_a_force_push_of_three_commits_deploys_all_three_changes(
    ci: Ci, run_cli: Any, denv: DeployEnv, helm_state: HelmState, repo: GitFleet
) -> None:
    _in_sync(ci, "delta", "alpha")
    # three commits, pushed at once by a force push: the push's "before" is not in the
    # clone, so the workflow plans the last commit alone and reconciles every cluster
    repo.edit(DELTA_STAGING, "\n", "\n# commit 1\n")
    repo.commit("commit 1: delta's staging-a")
    repo.edit(ALPHA_SUPPORT, "\n", "\n# commit 2\n")
    repo.commit("commit 2: alpha's support")
    repo.edit(DELTA_PROD, "\n", "\n# commit 3\n")
    head = repo.commit("commit 3: delta's prod")
    last = ci.cli("plan", "--base", "HEAD^", "--head", "HEAD", "--output", "json")
    assert last.exit_code == 0, last.output
    assert set(jobs_of(json.loads(last.stdout))) == {"prod", "staging-a", "staging-b"}
    plan = ci.out("plan.json")
    plan.write_text(last.stdout)
    matrix = ci.cli("ci", "matrix", "--plan", plan, "--every-cluster", "--output", "json")
    assert matrix.exit_code == 0, matrix.output
    clusters = [e["cluster"] for e in json.loads(matrix.stdout)["include"]]
    assert clusters == ["alpha", "beta", "delta", "gamma"]  # local: not from CI
    calls = upgrades(denv)
    for cluster in ("alpha", "delta"):  # beta and gamma were never deployed: left out here
        live = ci.out(f"{cluster}.plan.json")
        result = ci.cli(
            "plan", "--from-json", plan, "--live", "--cluster", cluster, "--output", "json"
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        live.write_text(result.stdout)
        report = ci.deploy(live, cluster)
        assert report["exit_code"] == 0, report["stdout"]
    done = upgraded(denv, calls)
    assert "staging-a" in done and "prod" in done and "support" in done
    assert "prod1" not in done and "prod2" not in done  # alpha's hubs are in sync
    for cluster in ("alpha", "delta"):
        assert jobs_of(ci.live_plan(cluster)) == {}
    support = helm_state.latest("alpha", "support", "support")
    assert support is not None and head in support["description"]


def test_a_manual_upgrade_is_found_by_the_live_plan_and_repaired(
    ci: Ci, denv: DeployEnv, helm_state: HelmState, repo: GitFleet
) -> None:
    _in_sync(ci, "delta")
    helm_state.seed("delta", "prod", "prod", description="Upgrade complete")
    plan = ci.live_plan("delta")
    canary = ["canary: guards production hubs prod of cluster delta"]
    assert jobs_of(plan) == {
        "prod": ["live: changed by hand: revision 2 was not made by hubfleet "
                 "(description 'Upgrade complete')"],
        "staging-a": canary,
        "staging-b": canary,
    }  # fmt: skip
    path = ci.out("repair.json")
    path.write_text(json.dumps(plan))
    report = ci.deploy(path, "delta")
    assert set(statuses(report).values()) == {"succeeded"}
    assert jobs_of(ci.live_plan("delta")) == {}


def test_a_live_job_in_sync_by_the_deploy_is_not_deployed(
    ci: Ci, denv: DeployEnv, helm_state: HelmState, repo: GitFleet
) -> None:
    """deploy --plan reads the cluster again: a job that is in sync by then is recorded
    unchanged; a job the cluster does not give and the change does not either is refused."""
    _in_sync(ci, "delta")
    helm_state.seed("delta", "prod", "prod", description="Upgrade complete")
    plan = ci.live_plan("delta")
    path = ci.out("live.json")
    path.write_text(json.dumps(plan))
    first = ci.deploy(path, "delta")
    assert statuses(first) == dict.fromkeys(("staging-a", "staging-b", "prod"), "succeeded")
    calls = upgrades(denv)
    again = ci.deploy(path, "delta")  # the same plan, after the repair
    assert again["exit_code"] == 0, again["stdout"]
    assert statuses(again) == dict.fromkeys(("staging-a", "staging-b", "prod"), "unchanged")
    assert all("in sync with git when the deploy read" in j["message"] for j in again["jobs"])
    assert upgraded(denv, calls) == []
    # a job added by hand for a cluster the plan did not read is refused at its line
    plan["prod_jobs"].append(dict(plan["prod_jobs"][0], cluster_name="alpha", hub_name="prod1"))
    plan["prod_jobs"][-1]["provider"] = "gcp"
    path.write_text(json.dumps(plan, indent=1))
    refused = ci.cli("deploy", "--plan", path, "--progress", "plain")
    assert refused.exit_code == 2
    assert "gives no prod job for alpha/prod1" in refused.output


def _failing_rollout(denv: DeployEnv, helm_state: HelmState, hub: str, cluster: str) -> None:
    """The hub's new pods crash: the deploy's rollout watch fails and rolls it back."""
    creds = f"hubfleet-creds-{cluster}-"
    denv.fakes.script(
        [
            {"tool": "helm", "args": ["get", "manifest", hub], "contains": creds,
             "stdout": manifest(hub)},
            {"tool": "kubectl", "args": ["get", "deploy,sts,ds,pods", f"--namespace={hub}"],
             "contains": creds, "states": [state("pending"), state("crashloop")]},
        ],
        helm_state=helm_state.folder,
    )  # fmt: skip


def test_a_rolled_back_hub_is_not_retried_until_its_inputs_change_or_retry(
    ci: Ci, denv: DeployEnv, helm_state: HelmState, repo: GitFleet
) -> None:
    _in_sync(ci, "alpha")
    before = repo.git("rev-parse", "HEAD")
    repo.edit(ALPHA_STAGING, "\n", "\n# a bad change\n")
    bad = repo.commit("a change whose pods crash")
    _failing_rollout(denv, helm_state, "staging", "alpha")
    failed = ci.push(before)["alpha"]
    [canary] = [j for j in failed["jobs"] if j["hub_name"] == "staging"]
    assert canary["status"] == "failed" and canary["rolled_back"] is not None
    held = f"rolled back at {bad[:12]}, not retried until its inputs change or `deploy --retry`"

    # The live plan holds it: no job, listed as skipped with why.
    plan = ci.live_plan("alpha")
    assert jobs_of(plan) == {}
    assert [(s["hub_name"], s["reasons"]) for s in plan["skipped"]] == [
        ("staging", [f"live: {held}"])
    ]

    # An unrelated push to the same cluster: its change deploys, the hub is not retried.
    before = repo.git("rev-parse", "HEAD")
    repo.edit(ALPHA_SUPPORT, "\n", "\n# unrelated\n")
    repo.commit("an unrelated change: alpha's support")
    calls = upgrades(denv)
    report = ci.push(before)["alpha"]
    assert report["exit_code"] == 0, report["stdout"]
    assert upgraded(denv, calls) == ["support"]
    assert statuses(report) == {"support": "succeeded", "staging": "skipped"}
    [skipped] = [j for j in report["jobs"] if j["hub_name"] == "staging"]
    assert skipped["message"] == held
    assert f"alpha/staging: {held}" in report["stdout"]
    summary = denv.out / "summary.md"

    # A person asks: --retry (the plan's, or the deploy's); it fails again and is rolled back.
    retried = ci.live_plan("alpha", "--retry")
    assert jobs_of(retried) == {"staging": [f"live: rolled back at {bad[:12]}; retried (--retry)"]}
    path = ci.out("held.json")
    path.write_text(json.dumps(plan))
    calls = upgrades(denv)
    retried_at = repo.git("rev-parse", "HEAD")
    again = ci.deploy(path, "alpha", "--retry")
    assert upgraded(denv, calls) == ["staging"]
    assert statuses(again)["staging"] == "failed"
    assert not summary.exists()

    # Its inputs change: the live plan deploys it again (the change would too).
    denv.fakes.script([], helm_state=helm_state.folder)
    before = repo.git("rev-parse", "HEAD")
    repo.edit(ALPHA_STAGING, "# a bad change\n", "# fixed\n")
    repo.commit("the fix")
    reasons = jobs_of(ci.live_plan("alpha"))["staging"]
    # (the last rollback undid the retry, made at the commit then checked out)
    assert reasons == [
        f"live: rolled back at {retried_at[:12]}; its inputs changed since, deployed again"
    ]
    fixed = ci.push(before)["alpha"]
    assert statuses(fixed)["staging"] == "succeeded"
    assert jobs_of(ci.live_plan("alpha")) == {}
    assert ci.live_plan("alpha")["skipped"] == []


def test_the_step_summary_lists_the_held_hubs(
    ci: Ci, denv: DeployEnv, helm_state: HelmState, repo: GitFleet, monkeypatch: Any
) -> None:
    _in_sync(ci, "alpha")
    before = repo.git("rev-parse", "HEAD")
    repo.edit(ALPHA_STAGING, "\n", "\n# a bad change\n")
    bad = repo.commit("a change whose pods crash")
    _failing_rollout(denv, helm_state, "staging", "alpha")
    ci.push(before)
    summary = denv.out / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    plan = ci.out("held.json")
    plan.write_text(json.dumps(ci.live_plan("alpha")))
    report = ci.deploy(plan, "alpha")
    assert report["exit_code"] == 0, report["stdout"]
    text = summary.read_text()
    assert "### Rolled back, not retried: 1" in text
    assert f"**alpha/staging**: rolled back at {bad[:12]}, not retried" in text


def test_an_unreachable_cluster_is_isolated(
    ci: Ci, denv: DeployEnv, helm_state: HelmState, repo: GitFleet
) -> None:
    """`plan --live` of two clusters, one whose helm cannot list: the other is planned,
    the unreachable one listed with why, exit 3 (docs/isolation.md)."""
    denv.fakes.script(
        [{"tool": "helm", "args": ["list"], "contains": "hubfleet-creds-alpha-", "exit": 1,
          "stderr": "Error: Kubernetes cluster unreachable: connection refused"}],
        helm_state=helm_state.folder,
    )  # fmt: skip
    result = ci.cli("plan", "--live", "--cluster", "alpha", "--cluster", "delta", "-o", "json")
    assert result.exit_code == 3, result.output
    plan = json.loads(result.stdout)
    assert plan["live"]["clusters"] == ["delta"]
    [gone] = plan["live"]["unreachable"]
    assert gone["cluster_name"] == "alpha" and gone["provider"] == "gcp"
    assert "unreachable" in gone["message"]
    assert {j["cluster_name"] for j in plan["prod_jobs"]} == {"delta"}
    assert "cluster alpha: live state not read" in result.stderr
    table = ci.cli("plan", "--live", "--cluster", "alpha", "--output", "table")
    assert table.exit_code == 3
    assert "live state not read" in table.stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("plan", "--retry", "--changed-files", "-"), "--cluster and --retry go with --live"),
        (("plan", "--live", "--cluster", "deltaa"), "delta"),
        (("deploy", "delta", "--retry"), "--retry goes with --plan"),
    ],
)
def test_bad_options_exit_2(ci: Ci, repo: GitFleet, args: tuple[str, ...], words: str) -> None:
    result = ci.cli(*args)
    assert result.exit_code == 2, result.output
    assert words in result.output
    assert "Traceback" not in result.output


def test_retry_needs_a_live_plan(ci: Ci, denv: DeployEnv, repo: GitFleet) -> None:
    repo.edit(DELTA_PROD, "\n", "\n# x\n")
    repo.commit("x")
    result = ci.cli("plan", "--base", "HEAD^", "--head", "HEAD", "--output", "json")
    plan = ci.out("plan.json")
    plan.write_text(result.stdout)
    refused = ci.cli("deploy", "--plan", plan, "--retry")
    assert refused.exit_code == 2
    assert "--retry needs a plan made with `hubfleet plan --live`" in refused.output


def test_a_plan_of_two_clusters_deploys_one_with_cluster(
    ci: Ci, denv: DeployEnv, helm_state: HelmState, repo: GitFleet
) -> None:
    """`deploy --plan --cluster delta` of a live plan of alpha and delta: delta's jobs
    (alpha is neither read nor deployed); the same plan again: every job in sync."""
    result = ci.cli("plan", "--live", "--cluster", "alpha", "--cluster", "delta", "-o", "json")
    assert result.exit_code == 0, result.output
    path = ci.out("two.json")
    path.write_text(result.stdout)
    first = ci.deploy(path, "delta")
    assert first["exit_code"] == 0, first["stdout"]
    assert set(statuses(first)) == {"support", "staging-a", "staging-b", "prod"}
    assert not helm_state.read("alpha").get("releases")  # read by the plan, not deployed
    again = ci.deploy(path, "delta")
    assert again["exit_code"] == 0, again["stdout"]
    assert set(statuses(again).values()) == {"unchanged"}
    assert [j["hub_name"] for j in again["jobs"]] == [None, "staging-a", "staging-b", "prod"]
