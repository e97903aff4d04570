"""The workflows' scripts end to end with the real hubfleet: a pull request's plan
step on a git copy of the example fleet, the matrix step, and the comment's
rendering (schema check with check-jsonschema, markdown with the marker)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.ci.ci_helpers import COMMENT, EXAMPLE_FLEET, bash, git, load, rendered, step

# Among the slowest files of the suite: scripts/test -m "not slow" leaves it out.
pytestmark = pytest.mark.slow

MARKER = "<!-- hubfleet-plan -->"

# `python -m pip install ...` is the only step part that needs the network.
FAKE_PYTHON = f"""#!/bin/bash
if [ "$1" = -m ] && [ "$2" = pip ]; then exit 0; fi
exec {sys.executable} "$@"
"""


@pytest.fixture
def fleet_repo(tmp_path: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("no git")
    repo = tmp_path / "fleet"
    shutil.copytree(EXAMPLE_FLEET, repo, ignore=shutil.ignore_patterns(".github"))
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    return repo


def _first_hub_values(repo: Path) -> tuple[str, Path]:
    import yaml

    for cluster_yaml in sorted((repo / "config" / "clusters").glob("*/cluster.yaml")):
        data = yaml.safe_load(cluster_yaml.read_text())
        if data.get("provider") == "local":
            continue
        for hub in data.get("hubs", []):
            if "staging" not in hub["name"]:
                files = hub["helm_chart_values_files"]
                return data["name"], cluster_yaml.parent / files[-1]
    raise AssertionError("no production hub in the example fleet")


def _plan_on_pull_request(repo: Path, deploy: dict[str, Any]) -> None:
    base = git(repo, "rev-parse", "HEAD")
    cluster, values = _first_hub_values(repo)
    values.write_text(values.read_text() + "\n# a change\n")
    git(repo, "commit", "-q", "-am", "change one hub")
    summary = repo.parent / "summary.md"
    event = repo.parent / "event.json"  # the runner's payload (the plan reads --github-event)
    event.write_text(json.dumps({"pull_request": {"user": {"login": "someone"}}}))
    plan_step = step(deploy["jobs"]["plan"], name="Plan")
    env = {key: "" for key in plan_step["env"]}
    env.update(
        EVENT_NAME="pull_request",
        PR_BASE_SHA=base,
        PR_LABELS='[\n  "documentation"\n]',
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_EVENT_PATH=str(event),
    )
    result = bash(plan_step["run"], cwd=repo, env=env)
    assert result.returncode == 0, result.stderr
    assert MARKER in summary.read_text()
    plan = json.loads((repo / "plan.json").read_text())
    assert {job["cluster_name"] for job in plan["prod_jobs"]} == {cluster}
    assert plan.get("unmatched_files", []) == []  # the plan file itself is not a change


def _render_comment(
    workdir: Path, outcome: str = "success"
) -> tuple[subprocess.CompletedProcess[str], str]:
    bindir = workdir / "fakebin"
    bindir.mkdir(exist_ok=True)
    (bindir / "python").write_text(FAKE_PYTHON)
    (bindir / "python").chmod(0o755)
    render = step(load(rendered()[COMMENT])["jobs"]["comment"], name="Render the comment")
    env = {key: str(value) for key, value in render["env"].items()}
    env.update(DOWNLOAD_OUTCOME=outcome, RUN_URL="https://example.invalid/run/1")
    result = bash(render["run"], cwd=workdir, env=env, path_first=[bindir])
    body = ""
    if (workdir / "comment.json").exists():
        body = json.loads((workdir / "comment.json").read_text())["body"]
    return result, body


def test_pull_request_plan_matrix_and_comment(
    fleet_repo: Path, deploy: dict[str, Any], tmp_path: Path
) -> None:
    _plan_on_pull_request(fleet_repo, deploy)

    out = tmp_path / "github_output"
    out.write_text("")
    matrix_step = step(deploy["jobs"]["plan"], id="matrix")["run"]
    result = bash(matrix_step, cwd=fleet_repo, env={"GITHUB_OUTPUT": str(out)})
    assert result.returncode == 0, result.stderr
    outputs = dict(line.split("=", 1) for line in out.read_text().splitlines())
    cluster, _ = _first_hub_values(fleet_repo)
    assert outputs["count"] == "1"
    assert json.loads(outputs["matrix"])["include"][0]["cluster"] == cluster

    # the comment workflow, on the downloaded artifact
    workdir = tmp_path / "comment"
    (workdir / "hubfleet-plan").mkdir(parents=True)
    shutil.copy(fleet_repo / "plan.json", workdir / "hubfleet-plan" / "plan.json")
    result, body = _render_comment(workdir)
    assert result.returncode == 0, result.stderr
    assert body.startswith(MARKER)
    assert cluster in body
    assert "No plan could be computed" not in body


def test_comment_for_an_empty_plan(fleet_repo: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "hubfleet",
            "--repo",
            str(fleet_repo),
            "plan",
            "--changed-files",
            "-",
            "--output",
            "json",
        ],
        input="",
        capture_output=True,
        text=True,
        check=True,
    )
    (tmp_path / "hubfleet-plan").mkdir()
    (tmp_path / "hubfleet-plan" / "plan.json").write_text(result.stdout)
    result, body = _render_comment(tmp_path)
    assert result.returncode == 0, result.stderr
    assert body.startswith(MARKER)
    assert "No plan could be computed" not in body
    assert "Nothing will be deployed" in body  # the comment is updated, not left stale


@pytest.mark.parametrize("case", ["no artifact", "not the plan schema"])
def test_comment_when_no_valid_plan(fleet_repo: Path, tmp_path: Path, case: str) -> None:
    (tmp_path / "hubfleet-plan").mkdir()
    if case == "no artifact":
        result, body = _render_comment(tmp_path, outcome="failure")
    else:
        bad = {"support_jobs": [{"cluster_name": 3}], "staging_jobs": [], "prod_jobs": []}
        (tmp_path / "hubfleet-plan" / "plan.json").write_text(json.dumps(bad))
        result, body = _render_comment(tmp_path)
    assert result.returncode == 0, result.stderr
    assert body.startswith(MARKER)
    assert "No plan could be computed for this commit" in body
    assert "https://example.invalid/run/1" in body
