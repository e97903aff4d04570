"""deploy --plan with one broken cluster beside healthy ones, through the fakes (issue 24
point 2, docs/isolation.md): the plan gives the broken cluster no jobs, the deploy
upgrades every other cluster, names the broken one and exits 3; `--cluster` of a
healthy cluster (the CI's per-cluster job) is not failed by another's breakage, of the
broken one exits 2 with its errors; the CI summary over the per-cluster reports fails
naming it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.deploy.conftest import DeployEnv, release_of

BROKEN_FILE = "config/clusters/beta/enc-research.secret.values.yaml"
CHANGED = [f"config/clusters/{c}/cluster.yaml" for c in ("alpha", "beta", "gamma")]


def _plan(run_cli: Any, denv: DeployEnv) -> Path:
    (denv.fleet / BROKEN_FILE).unlink()  # beta's cluster.yaml still lists it
    listing = denv.out / "changed.txt"
    listing.write_text("\n".join(CHANGED) + "\n")
    result = run_cli(
        "--repo", denv.fleet, "plan", "--changed-files", listing, "--output", "json"
    )  # fmt: skip
    assert result.exit_code == 3, result.output
    plan = denv.out / "plan.json"
    plan.write_text(result.stdout)
    return plan


def _deploy(run_cli: Any, denv: DeployEnv, plan: Path, *more: str | Path) -> Any:
    return run_cli(
        "--repo", denv.fleet, "deploy", "--plan", plan, "--progress", "plain",
        "--no-health-check", *more,
    )  # fmt: skip


def test_deploy_plan_deploys_the_rest_and_exits_3(run_cli: Any, denv: DeployEnv) -> None:
    plan = _plan(run_cli, denv)
    assert [b["cluster_name"] for b in json.loads(plan.read_text())["broken"]] == ["beta"]
    report = denv.out / "report.json"
    result = _deploy(run_cli, denv, plan, "--report", report)
    assert result.exit_code == 3, result.output
    assert "beta: not deployed, its configuration is broken" in result.stdout
    jobs = json.loads(report.read_text())["jobs"]
    assert {j["cluster_name"] for j in jobs} == {"alpha", "gamma"}
    assert all(j["status"] == "succeeded" for j in jobs)
    released = {release_of(call) for call in denv.upgrades()}
    assert {"support", "prod1", "prod"} <= released
    assert "research" not in released  # beta's only hub of that name
    assert all("beta" not in json.dumps(call["argv"]) for call in denv.upgrades())


def test_per_cluster_jobs_and_the_ci_summary(run_cli: Any, denv: DeployEnv, tmp_path: Path) -> None:
    """The push workflow: one `deploy --plan --cluster X` per matrix entry, then the
    summary with the plan job's `broken` output."""
    plan = _plan(run_cli, denv)
    matrix = run_cli("ci", "matrix", "--plan", plan, "--output", "github")
    assert matrix.exit_code == 0, matrix.output
    outputs = dict(line.split("=", 1) for line in matrix.stdout.splitlines())
    assert json.loads(outputs["broken"]) == ["beta"]
    include = json.loads(outputs["matrix"])["include"]
    assert [e["cluster"] for e in include] == ["alpha", "gamma"]
    reports = tmp_path / "reports"
    reports.mkdir()
    for entry in include:
        name = entry["cluster"]
        result = _deploy(
            run_cli, denv, plan, "--cluster", name, "--report", reports / f"{name}.json"
        )
        assert result.exit_code == 0, result.output  # beta's breakage is not alpha's
    summary = run_cli(
        "ci", "summary", "--matrix", outputs["matrix"], "--broken", outputs["broken"],
        "--reports", reports,
    )  # fmt: skip
    assert summary.exit_code == 1, summary.output
    assert "2 of 2 clusters deployed." in summary.stdout
    assert "### Broken clusters: 1 (not deployed)" in summary.stdout
    assert "**beta**" in summary.stdout
    # the same summary without a broken cluster is green
    clean = run_cli("ci", "summary", "--matrix", outputs["matrix"], "--reports", reports)
    assert clean.exit_code == 0, clean.output


def test_cluster_option_naming_the_broken_cluster(run_cli: Any, denv: DeployEnv) -> None:
    plan = _plan(run_cli, denv)
    result = _deploy(run_cli, denv, plan, "--cluster", "beta")
    assert result.exit_code == 2, result.output
    assert "config/clusters/beta/cluster.yaml:" in result.stderr
    assert "enc-research.secret.values.yaml" in result.stderr
    assert "its configuration is broken, nothing deployed" in result.stderr
    assert denv.upgrades() == []


def test_a_job_added_for_the_broken_cluster_is_refused(run_cli: Any, denv: DeployEnv) -> None:
    plan = _plan(run_cli, denv)
    data = json.loads(plan.read_text())
    data["prod_jobs"].append(
        {"cluster_name": "beta", "provider": "aws", "hub_name": "research",
         "reasons": ["x"], "choice_reason": "x"}
    )  # fmt: skip
    plan.write_text(json.dumps(data, indent=1))
    result = _deploy(run_cli, denv, plan)
    assert result.exit_code == 2, result.output
    assert denv.upgrades() == []
