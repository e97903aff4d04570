"""The community-review workflow: an owner's approval that comes after the plan makes
the pull request community-only, and only then is auto-merge turned on. Its scripts run
as GitHub's runner would, against the real hubfleet, with a fake `gh` for the API."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.ci.ci_helpers import BIN, bash, load, rendered, step
from tests.community.conftest import RESEARCH
from tests.community.test_plan_community import EVENT, NEW_TAG, _edit
from tests.helpers import git

# Among the slowest files of the suite: scripts/test -m "not slow" leaves it out.
pytestmark = pytest.mark.slow

WORKFLOW = ".github/workflows/hubfleet-community-review.yaml"


@pytest.fixture
def workflow() -> dict[str, Any]:
    return load(rendered()[WORKFLOW])


def _fake_gh(folder: Path, reviews: list[dict[str, Any]]) -> Path:
    """A `gh` whose `api .../reviews` prints the reviews one per line (as `--jq '.[]'`)."""
    folder.mkdir()
    (folder / "reviews.jsonl").write_text("".join(json.dumps(r) + "\n" for r in reviews))
    gh = folder / "gh"
    gh.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> "{folder}/calls"\n'
        f'if [ "$1" = api ]; then cat "{folder}/reviews.jsonl"; fi\n'
    )
    gh.chmod(0o755)
    return folder


def test_the_workflow_runs_on_approvals_only_and_deploys_nothing(workflow: dict[str, Any]) -> None:
    assert workflow["on"] == {"pull_request_review": {"types": ["submitted"]}}  # `on:`
    assert workflow["permissions"] == {}
    [job] = workflow["jobs"].values()
    assert job["if"] == "github.event.review.state == 'approved'"
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
    text = json.dumps(workflow)
    assert "deploy" not in " ".join(s.get("run", "") for s in job["steps"])
    assert "secrets." not in text
    for s in job["steps"]:
        assert "${{" not in s.get("run", ""), s["name"]


@pytest.mark.parametrize(
    ("approver", "merges"),
    [("alice-research", True), ("someone-else", False)],
)
def test_a_later_owner_approval_turns_on_auto_merge(
    example_fleet: Path, tmp_path: Path, workflow: dict[str, Any], approver: str, merges: bool
) -> None:
    repo = example_fleet
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    base = os.popen(f"git -C {repo} rev-parse HEAD").read().strip()
    _edit(repo, RESEARCH, *NEW_TAG)  # inside the research hub's policy
    git(repo, "commit", "-q", "-am", "research: newer image")
    payload = json.loads(EVENT.read_text())
    payload["action"] = "submitted"
    payload["pull_request"]["user"]["login"] = "not-an-owner"  # planned "no" when opened
    payload["review"] = {"user": {"login": approver}, "state": "approved"}
    event = tmp_path / "review-event.json"
    event.write_text(json.dumps(payload))
    fake = _fake_gh(tmp_path / "fakegh", [{"user": {"login": approver}, "state": "APPROVED"}])
    [job] = workflow["jobs"].values()
    env = {
        "GH_TOKEN": "t", "REPOSITORY": "example-org/fleet", "PR_NUMBER": "42",
        "PR_BASE_SHA": base, "GITHUB_EVENT_PATH": str(event),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GITHUB_OUTPUT": str(tmp_path / "output"), "SOPS_DISABLE_VERSION_CHECK": "1",
    }  # fmt: skip
    for name in ("Plan with the pull request's reviews", "Community-only?"):
        result = bash(step(job, name=name)["run"], cwd=repo, env=env, path_first=[fake, BIN])
        assert result.returncode == 0, result.stderr
    assert (
        (fake / "calls")
        .read_text()
        .startswith("api --paginate repos/example-org/fleet/pulls/42/reviews")
    )
    output = (tmp_path / "output").read_text()
    assert output == f"community-only={'true' if merges else 'false'}\n"
    merge = step(job, name="Merge once the community's owners approve")
    assert merge["if"] == "steps.community.outputs.community-only == 'true'"
