"""The workflows' own scripts, taken out of the generated YAML and run with bash:
the matrix step and the summary step run the real hubfleet; the plan and comment
steps run against small fakes of `hubfleet` and `gh` that record their arguments."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.ci.ci_helpers import PLAN, bash, git, hubfleet, step

# Among the slowest files of the suite: scripts/test -m "not slow" leaves it out.
pytestmark = pytest.mark.slow


def _outputs(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def _matrix_of(plan: dict[str, Any], tmp_path: Path, deploy: dict[str, Any]) -> dict[str, str]:
    script = step(deploy["jobs"]["plan"], id="matrix")["run"]
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    out = tmp_path / "github_output"
    out.write_text("")
    result = bash(script, cwd=tmp_path, env={"GITHUB_OUTPUT": str(out)})
    assert result.returncode == 0, result.stderr
    return _outputs(out)


def test_matrix_step_gives_one_entry_per_touched_cluster(
    tmp_path: Path, deploy: dict[str, Any]
) -> None:
    outputs = _matrix_of(json.loads(PLAN.read_text()), tmp_path, deploy)
    assert json.loads(outputs["matrix"]) == {
        "include": [
            {"cluster": "alpha", "provider": "gcp"},
            {"cluster": "beta", "provider": "aws"},
            {"cluster": "delta", "provider": "kubeconfig"},
        ]
    }
    assert outputs["count"] == "3"
    assert "\n" not in outputs["matrix"]  # one GITHUB_OUTPUT line


def test_matrix_step_with_an_empty_plan(tmp_path: Path, deploy: dict[str, Any]) -> None:
    empty = {"support_jobs": [], "staging_jobs": [], "prod_jobs": []}
    outputs = _matrix_of(empty, tmp_path, deploy)
    assert json.loads(outputs["matrix"]) == {"include": []}
    assert outputs["count"] == "0"  # the deploy job's `if` skips it


def test_matrix_step_fails_on_a_bad_plan(tmp_path: Path, deploy: dict[str, Any]) -> None:
    script = step(deploy["jobs"]["plan"], id="matrix")["run"]
    (tmp_path / "plan.json").write_text('{"prod_jobs": [{"hub_name": "x"}]}')
    out = tmp_path / "github_output"
    result = bash(script, cwd=tmp_path, env={"GITHUB_OUTPUT": str(out)})
    assert result.returncode == 2
    assert "cluster_name" in result.stderr


def test_matrix_from_a_real_plan_of_the_test_fleet(
    tmp_path: Path, deploy: dict[str, Any], fleet_copy: Path
) -> None:
    """Plan a change to one hub of the test fleet and feed the result through the
    workflow's matrix step."""
    changed = tmp_path / "changed.txt"
    changed.write_text("config/clusters/alpha/prod1.values.yaml\n")
    result = hubfleet(
        "--repo",
        str(fleet_copy),
        "plan",
        "--changed-files",
        str(changed),
        "--output",
        "json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    outputs = _matrix_of(json.loads(result.stdout), tmp_path, deploy)
    assert json.loads(outputs["matrix"]) == {"include": [{"cluster": "alpha", "provider": "gcp"}]}


# ---------------------------------------------------------------- summary step


def _report(cluster: str, *statuses: tuple[str | None, str, str]) -> dict[str, Any]:
    return {
        "jobs": [
            {
                "cluster_name": cluster,
                "hub_name": hub,
                "kind": kind,
                "status": status,
                "reasons": ["helm failed"] if status == "failed" else [],
                "started": "2025-01-01T00:00:00Z",
                "duration_s": 1.0,
            }
            for hub, kind, status in statuses
        ]
    }


def _summary(
    tmp_path: Path, deploy: dict[str, Any], plan_result: str, matrix: str
) -> tuple[subprocess.CompletedProcess[str], str]:
    script = step(deploy["jobs"]["summary"], name="Merge the reports")["run"]
    summary = tmp_path / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary), "PLAN_RESULT": plan_result, "MATRIX": matrix}
    result = bash(script, cwd=tmp_path, env=env)
    return result, summary.read_text() if summary.exists() else ""


MATRIX = json.dumps(
    {"include": [{"cluster": "alpha", "provider": "gcp"}, {"cluster": "beta", "provider": "aws"}]}
)


def test_summary_step_all_clusters_succeeded(tmp_path: Path, deploy: dict[str, Any]) -> None:
    reports = tmp_path / "hubfleet-reports"
    reports.mkdir()
    (reports / "alpha.json").write_text(
        json.dumps(_report("alpha", (None, "support", "succeeded"), ("prod1", "prod", "unchanged")))
    )
    (reports / "beta.json").write_text(json.dumps(_report("beta", ("x", "prod", "succeeded"))))
    result, summary = _summary(tmp_path, deploy, "success", MATRIX)
    assert result.returncode == 0, result.stderr
    assert "2 of 2 clusters deployed." in summary
    assert "| alpha | gcp | ok | 1 | 1 | 0 | 0 | 0 |" in summary


def test_summary_step_fails_when_one_cluster_failed(tmp_path: Path, deploy: dict[str, Any]) -> None:
    reports = tmp_path / "hubfleet-reports"
    reports.mkdir()
    (reports / "alpha.json").write_text(
        json.dumps(_report("alpha", ("staging", "staging", "failed"), ("prod1", "prod", "skipped")))
    )
    # beta left no report: its job failed before deploying, or was cancelled
    result, summary = _summary(tmp_path, deploy, "success", MATRIX)
    assert result.returncode == 1
    assert "0 of 2 clusters deployed, 2 failed." in summary
    assert "- **alpha** staging (staging): failed: helm failed" in summary
    assert "- **beta**: no report" in summary


def _fake_gh(folder: Path, pulls: str) -> Path:
    """A `gh` that answers the commit's pull requests with `pulls` and records its argv."""
    folder.mkdir()
    gh = folder / "gh"
    gh.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> "{folder}/calls"\n'
        f'if [ "$1" = api ]; then printf %s "{pulls}"; fi\n'
    )
    gh.chmod(0o755)
    return folder


@pytest.mark.parametrize(("pulls", "commented"), [("42", True), ("", False)])
def test_the_summary_is_posted_on_the_merged_pull_request(
    tmp_path: Path, deploy: dict[str, Any], pulls: str, commented: bool
) -> None:
    """After a merge the summary (upgrades, rollbacks after a failed check) goes to the
    pull request the pushed commit came from; a commit without one posts nothing."""
    reports = tmp_path / "hubfleet-reports"
    reports.mkdir()
    (reports / "alpha.json").write_text(json.dumps(_report("alpha", ("x", "prod", "failed"))))
    merged, _ = _summary(tmp_path, deploy, "success", MATRIX)
    assert merged.returncode == 1  # a failed cluster still fails the job, after the file is written
    assert (tmp_path / "hubfleet-summary.md").read_text().strip()
    report = step(deploy["jobs"]["summary"], name="Report on the merged pull request")
    assert report["if"] == "always() && hashFiles('hubfleet-summary.md') != ''"
    fake = _fake_gh(tmp_path / "fakegh", pulls)
    env = {"GH_TOKEN": "t", "REPOSITORY": "org/fleet", "COMMIT": "abc123"}
    result = bash(report["run"], cwd=tmp_path, env=env, path_first=[fake])
    assert result.returncode == 0, result.stderr
    calls = (fake / "calls").read_text().splitlines()
    assert calls[0].startswith("api repos/org/fleet/commits/abc123/pulls")
    if commented:
        assert calls[1:] == ["pr comment 42 --repo org/fleet --body-file hubfleet-summary.md"]
    else:
        assert calls[1:] == []
        assert "no pull request for abc123" in result.stdout


def test_summary_step_when_nothing_to_deploy(tmp_path: Path, deploy: dict[str, Any]) -> None:
    result, summary = _summary(tmp_path, deploy, "success", '{"include":[]}')
    assert result.returncode == 0, result.stderr
    assert "Nothing to deploy" in summary


def test_summary_step_when_the_plan_failed(tmp_path: Path, deploy: dict[str, Any]) -> None:
    result, summary = _summary(tmp_path, deploy, "failure", "")
    assert result.returncode == 1
    assert "The plan job did not succeed (result: failure)" in summary


# ---------------------------------------------------------------- plan step (fake hubfleet)

FAKE_HUBFLEET = """#!/usr/bin/env python3
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if "json" in args:
    print('{"support_jobs": [], "staging_jobs": [], "prod_jobs": []}')
elif "markdown" in args:
    print("plan markdown")
"""


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git missing")
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    for n in (1, 2):
        (repo / "f.txt").write_text(str(n))
        git(repo, "add", "f.txt")
        git(repo, "commit", "-q", "-m", f"c{n}")
    return repo


def _plan_step(repo: Path, deploy: dict[str, Any], **env: str) -> list[list[str]]:
    bindir = repo.parent / "bin"
    bindir.mkdir(exist_ok=True)
    (bindir / "hubfleet").write_text(FAKE_HUBFLEET)
    (bindir / "hubfleet").chmod(0o755)
    log = repo.parent / "hubfleet.log"
    log.write_text("")
    summary = repo.parent / "summary.md"
    plan_step = step(deploy["jobs"]["plan"], name="Plan")
    for key in plan_step["env"]:
        env.setdefault(key, "")
    full = {**env, "FAKE_LOG": str(log), "GITHUB_STEP_SUMMARY": str(summary)}
    result = bash(plan_step["run"], cwd=repo, env=full, path_first=[bindir])
    assert result.returncode == 0, result.stderr
    assert summary.read_text() == "plan markdown\n"
    assert json.loads((repo / "plan.json").read_text())["prod_jobs"] == []
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_plan_step_on_a_pull_request(git_repo: Path, deploy: dict[str, Any]) -> None:
    base = git(git_repo, "rev-parse", "HEAD^")
    labels = '[\n  "deployer:deploy-support",\n  "x; rm -rf / $(id)"\n]'
    calls = _plan_step(
        git_repo, deploy, EVENT_NAME="pull_request", PR_BASE_SHA=base, PR_LABELS=labels
    )
    assert calls[0] == [
        "plan",
        "--base",
        base,
        "--head",
        "HEAD",
        "--rendered",
        "--output",
        "json",
        "--labels",
        labels,
        "--diff-file",
        "plan.diff",
        "--diff-json",
        "plan-diff.json",
        "--github-event",
    ]
    assert calls[1] == ["plan", "--from-json", "plan.json", "--output", "markdown"]


def test_plan_step_on_a_push(git_repo: Path, deploy: dict[str, Any]) -> None:
    before = git(git_repo, "rev-parse", "HEAD^")
    calls = _plan_step(git_repo, deploy, EVENT_NAME="push", PUSH_BEFORE=before, PR_LABELS="null")
    assert calls[0] == [
        "plan",
        "--base",
        before,
        "--head",
        "HEAD",
        "--rendered",
        "--output",
        "json",
        "--github-event",
    ]


@pytest.mark.parametrize("before", ["0" * 40, "", "1234567890" * 4])
def test_plan_step_without_a_usable_before(
    git_repo: Path, deploy: dict[str, Any], before: str
) -> None:
    """A new branch (all zeros), a force push (unknown commit): the last commit alone."""
    parent = git(git_repo, "rev-parse", "HEAD^")
    calls = _plan_step(git_repo, deploy, EVENT_NAME="push", PUSH_BEFORE=before)
    assert calls[0] == [
        "plan",
        "--base",
        parent,
        "--head",
        "HEAD",
        "--rendered",
        "--output",
        "json",
        "--github-event",
    ]


# ---------------------------------------------------------------- comment steps (fake gh)

FAKE_GH = """#!/bin/bash
printf '%s\\n' "$*" >> "$FAKE_LOG"
case "$*" in
  *"/pulls -f state=open"*) echo "${FAKE_FORK_NUMBER:-}" ;;
  *"/pulls/"*) echo "$FAKE_PR_HEAD" ;;
  *"/comments --jq"*) printf '%s' "${FAKE_COMMENT_IDS:-}" ;;
  *"--input comment.json"*) cp comment.json "$FAKE_LOG.body" ;;
esac
"""


def _gh_step(
    tmp_path: Path, comment: dict[str, Any], name: str, **env: str
) -> tuple[subprocess.CompletedProcess[str], list[str], dict[str, str]]:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    (bindir / "gh").write_text(FAKE_GH)
    (bindir / "gh").chmod(0o755)
    log = tmp_path / "gh.log"
    out = tmp_path / "github_output"
    out.write_text("")
    s = step(comment["jobs"]["comment"], name=name)
    full = {key: "" for key in s["env"]}
    full.update(REPO="org/fleet", GH_TOKEN="t", GITHUB_OUTPUT=str(out), FAKE_LOG=str(log))
    full.update(env)
    result = bash(s["run"], cwd=tmp_path, env=full, path_first=[bindir])
    calls = log.read_text().splitlines() if log.exists() else []
    return result, calls, _outputs(out)


HEAD = "a" * 40


def test_pr_number_from_the_event_payload(tmp_path: Path, comment: dict[str, Any]) -> None:
    result, calls, outputs = _gh_step(
        tmp_path,
        comment,
        "Find the pull request",
        PAYLOAD_NUMBER="7",
        HEAD_SHA=HEAD,
        FAKE_PR_HEAD=HEAD,
    )
    assert result.returncode == 0, result.stderr
    assert outputs == {"number": "7"}
    assert calls == ["api repos/org/fleet/pulls/7 --jq .head.sha"]


def test_pr_number_of_a_fork_is_looked_up(tmp_path: Path, comment: dict[str, Any]) -> None:
    result, calls, outputs = _gh_step(
        tmp_path,
        comment,
        "Find the pull request",
        PAYLOAD_NUMBER="",
        HEAD_SHA=HEAD,
        HEAD_OWNER="someone",
        HEAD_BRANCH="feature/x",
        FAKE_FORK_NUMBER="9",
        FAKE_PR_HEAD=HEAD,
    )
    assert result.returncode == 0, result.stderr
    assert outputs == {"number": "9"}
    assert "head=someone:feature/x" in calls[0]


def test_no_comment_when_the_pr_moved_on(tmp_path: Path, comment: dict[str, Any]) -> None:
    result, _, outputs = _gh_step(
        tmp_path,
        comment,
        "Find the pull request",
        PAYLOAD_NUMBER="7",
        HEAD_SHA=HEAD,
        FAKE_PR_HEAD="b" * 40,
    )
    assert result.returncode == 0, result.stderr
    assert outputs == {}  # the later steps are skipped
    assert "moved on" in result.stdout


def _comment_json(tmp_path: Path, body: str) -> None:
    (tmp_path / "comment.json").write_text(json.dumps({"body": body}))


def test_existing_marker_comment_is_updated(tmp_path: Path, comment: dict[str, Any]) -> None:
    _comment_json(tmp_path, "<!-- hubfleet-plan -->\nNothing to deploy.")
    result, calls, _ = _gh_step(
        tmp_path,
        comment,
        "Create or update the comment",
        NUMBER="7",
        FAKE_COMMENT_IDS="111\n222\n",
    )
    assert result.returncode == 0, result.stderr
    assert calls[1] == "api -X PATCH repos/org/fleet/issues/comments/111 --input comment.json"
    assert len(calls) == 2


def test_a_new_comment_is_created(tmp_path: Path, comment: dict[str, Any]) -> None:
    _comment_json(tmp_path, "<!-- hubfleet-plan -->\nplan")
    result, calls, _ = _gh_step(
        tmp_path, comment, "Create or update the comment", NUMBER="7", FAKE_COMMENT_IDS=""
    )
    assert result.returncode == 0, result.stderr
    assert calls[1] == "api -X POST repos/org/fleet/issues/7/comments --input comment.json"
