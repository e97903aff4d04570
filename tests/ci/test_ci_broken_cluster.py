"""The deploy workflow's plan job with one broken cluster (issue 24 point 2,
docs/isolation.md), its scripts run as the runner runs them on a git copy of the
example fleet: validate and plan accept exit 3 and go on, the plan lists the broken
cluster, the matrix leaves it out and outputs `broken`, the pull-request check fails
on it (after the plan is written), the summary job passes it to `ci summary`; a broken
hubfleet.yaml still stops the job at validate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.ci.ci_helpers import EXAMPLE_FLEET, bash, git, step

BROKEN = "config/clusters/research-aws"


@pytest.fixture
def fleet_repo(tmp_path: Path) -> tuple[Path, str]:
    """A git copy of the example fleet; its head commit deletes a secret file
    research-aws still lists, and changes a hub of pilot-gcp. Returns (repo, base)."""
    if shutil.which("git") is None or shutil.which("jq") is None:
        pytest.skip("no git or jq")
    repo = tmp_path / "fleet"
    shutil.copytree(EXAMPLE_FLEET, repo, ignore=shutil.ignore_patterns(".github"))
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    base = git(repo, "rev-parse", "HEAD")
    (repo / BROKEN / "enc-teaching.secret.values.yaml").unlink()
    values = repo / "config/clusters/pilot-gcp/common.values.yaml"
    values.write_text(values.read_text() + "\n# a change\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "break research-aws, change pilot-gcp")
    return repo, base


def _run(job: dict[str, Any], name: str, repo: Path, env: dict[str, str]) -> Any:
    return bash(step(job, name=name)["run"], cwd=repo, env=env)


def test_push_plans_the_rest_and_names_the_broken_cluster(
    fleet_repo: tuple[Path, str], deploy: dict[str, Any], tmp_path: Path
) -> None:
    repo, base = fleet_repo
    job = deploy["jobs"]["plan"]
    validate = _run(job, "Validate the fleet", repo, {})
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert "research-aws" in validate.stdout + validate.stderr

    summary = tmp_path / "summary.md"
    env = {key: "" for key in step(job, name="Plan")["env"]}
    env.update(EVENT_NAME="push", PUSH_BEFORE=base, GITHUB_STEP_SUMMARY=str(summary))
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"head_commit": {"id": "x"}}))
    env["GITHUB_EVENT_PATH"] = str(event)
    plan = _run(job, "Plan", repo, env)
    assert plan.returncode == 0, plan.stderr
    data = json.loads((repo / "plan.json").read_text())
    assert [b["cluster_name"] for b in data["broken"]] == ["research-aws"]
    assert {j["cluster_name"] for j in data["prod_jobs"]} == {"pilot-gcp"}
    assert "Broken clusters (not planned, not deployed): 1" in summary.read_text()

    out = tmp_path / "github_output"
    out.write_text("")
    matrix = bash(step(job, id="matrix")["run"], cwd=repo, env={"GITHUB_OUTPUT": str(out)})
    assert matrix.returncode == 0, matrix.stderr
    outputs = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert json.loads(outputs["broken"]) == ["research-aws"]
    clusters = json.loads(outputs["clusters"])["include"]
    assert [c["cluster"] for c in clusters] == ["pilot-gcp"]

    # on a pull request the plan job then fails, naming the cluster
    check = _run(job, "Broken clusters", repo, {"BROKEN": outputs["broken"]})
    assert check.returncode == 1
    assert "::error::configuration broken, not planned" in check.stdout
    assert "research-aws" in check.stdout
    assert _run(job, "Broken clusters", repo, {"BROKEN": "[]"}).returncode == 0

    # the summary job hands the plan job's `broken` output to `ci summary`
    merge = step(deploy["jobs"]["summary"], name="Merge the reports")
    assert merge["env"]["BROKEN"] == "${{ needs.plan.outputs.broken }}"
    assert job["outputs"]["broken"] == "${{ steps.matrix.outputs.broken }}"
    reports = tmp_path / "reports"
    reports.mkdir()
    summarized = bash(
        merge["run"].replace("hubfleet-reports", str(reports)),
        cwd=repo,
        env={
            "PLAN_RESULT": "success",
            "MATRIX": json.dumps({"include": []}),
            "BROKEN": outputs["broken"],
            "GITHUB_STEP_SUMMARY": str(tmp_path / "deploy-summary.md"),
        },
    )
    assert summarized.returncode != 0
    assert "research-aws" in (tmp_path / "deploy-summary.md").read_text()


def test_hostile_name_cannot_start_a_workflow_command(
    deploy: dict[str, Any], tmp_path: Path
) -> None:
    if shutil.which("jq") is None:
        pytest.skip("no jq")
    names = json.dumps(["a\n::add-mask::x", "b%0A"])
    check = bash(step(deploy["jobs"]["plan"], name="Broken clusters")["run"], cwd=tmp_path,
                 env={"BROKEN": names})  # fmt: skip
    assert check.returncode == 1
    assert [line for line in check.stdout.splitlines() if line.startswith("::")] == [
        line for line in check.stdout.splitlines() if line.startswith("::error::")
    ]
    assert "%0A::add-mask::x" in check.stdout and "b%250A" in check.stdout


def test_broken_hubfleet_yaml_stops_the_plan_job(
    fleet_repo: tuple[Path, str], deploy: dict[str, Any]
) -> None:
    repo, _ = fleet_repo
    (repo / "hubfleet.yaml").write_text("default_chart: [x\n")
    validate = _run(deploy["jobs"]["plan"], "Validate the fleet", repo, {})
    assert validate.returncode == 2
    assert "hubfleet.yaml:" in validate.stdout
