"""`hubfleet plan --event`: is a change community-only, from a recorded pull-request event."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.community.conftest import CLUSTER, RESEARCH, TEACHING
from tests.helpers import GitFleet, git

EVENT = Path(__file__).parent / "events" / "pull_request.json"


@pytest.fixture
def repo(example_fleet: Path) -> Path:
    return GitFleet.started(example_fleet).root


def _event(tmp: Path, author: str, reviews: list[tuple[str, str]] = ()) -> Path:  # type: ignore[assignment]
    payload = json.loads(EVENT.read_text())
    payload["pull_request"]["user"]["login"] = author
    if reviews:
        payload["reviews"] = [{"user": {"login": who}, "state": state} for who, state in reviews]
    path = tmp / f"event-{author}-{len(reviews)}.json"
    path.write_text(json.dumps(payload))
    return path


def _edit(root: Path, path: str, old: str, new: str) -> None:
    text = (root / path).read_text()
    assert old in text
    (root / path).write_text(text.replace(old, new))


def _plan(run_cli: Any, repo: Path, event: Path, *extra: str) -> dict[str, Any]:
    result = run_cli(
        "--repo", repo, "plan", "--base", "HEAD", "--event", event, "--output", "json", *extra
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


NEW_TAG = ("tag: '2025-10-20'", "tag: '2026-01-05'")


def _inside(repo: Path) -> None:
    _edit(repo, RESEARCH, *NEW_TAG)


def _outside(repo: Path) -> None:
    _edit(repo, RESEARCH, *NEW_TAG)
    with (repo / RESEARCH).open("a") as handle:
        handle.write("hub.extraConfig: x\nproxy:\n  https:\n    enabled: false\n")


def _shared(repo: Path) -> None:
    _edit(repo, f"{CLUSTER}/common.values.yaml", "timeout: 3600", "timeout: 7200")


def _shared_community_file(repo: Path) -> None:
    _edit(
        repo,
        f"{CLUSTER}/cluster.yaml",
        "  - enc-staging.secret.values.yaml\n",
        "  - enc-staging.secret.values.yaml\n  - research.community.values.yaml\n",
    )
    git(repo, "commit", "-qam", "staging reads research's file")  # base has the sharing
    _inside(repo)


def _two_hubs(repo: Path) -> None:
    _inside(repo)
    _edit(repo, TEACHING, "limit: 4G", "limit: 6G")


CASES = [
    # (name, change, author, reviews, community_only, a reason that must be given)
    ("inside the policy", _inside, "alice-research", [], True, "every changed file"),
    ("outside the policy", _outside, "alice-research", [], False, "deny entry 'proxy'"),
    ("a shared file", _shared, "alice-research", [], False, "common.values.yaml is not a community file"),
    ("a community file another hub reads", _shared_community_file, "alice-research", [], False,
     "is shared with pilot-gcp/staging"),
    ("two hubs, one owner", _two_hubs, "alice-research", [], False,
     "hub pilot-gcp/teaching: neither the author @alice-research nor an approver"),
    ("two hubs, both owners", _two_hubs, "alice-research", [("tina-teacher", "APPROVED")], True,
     "every changed file"),
    ("author not an owner", _inside, "mallory", [], False,
     "hub pilot-gcp/research: neither the author @mallory"),
    ("author not an owner, an owner approved", _inside, "mallory",
     [("alice-research", "APPROVED")], True, "every changed file"),
    ("an approval withdrawn", _inside, "mallory",
     [("alice-research", "APPROVED"), ("alice-research", "CHANGES_REQUESTED")], False,
     "neither the author @mallory"),
    ("a self-approval", _inside, "mallory", [("mallory", "APPROVED")], False, "neither the author"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "change", "author", "reviews", "expected", "reason"), CASES,
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_community_only_decision(
    run_cli: Any,
    repo: Path,
    tmp_path: Path,
    name: str,
    change: Any,
    author: str,
    reviews: list[tuple[str, str]],
    expected: bool,
    reason: str,
) -> None:
    change(repo)
    teams = tmp_path / "teams.json"  # the members of the owner teams, from the workflow
    teams.write_text(json.dumps({"reviews": [], "teams": {
        "example-teaching/instructors": ["tina-teacher"],
        "example-research/hub-admins": ["rob-research"],
    }}))  # fmt: skip
    plan = _plan(run_cli, repo, _event(tmp_path, author, reviews), "--reviews", str(teams))
    community = plan["community"]
    assert community["community_only"] is expected, community["reasons"]
    assert any(reason in r for r in community["reasons"]), community["reasons"]
    assert community["author"] == author


def test_inside_the_policy_names_hub_owner_and_changed_keys(
    run_cli: Any, repo: Path, tmp_path: Path
) -> None:
    _inside(repo)
    community = _plan(run_cli, repo, _event(tmp_path, "alice-research"))["community"]
    assert community["hubs"] == [
        {
            "cluster_name": "pilot-gcp",
            "hub_name": "research",
            "owners": ["@example-research/hub-admins", "@alice-research"],
            "approved_by": "alice-research",
        }
    ]
    assert community["files"] == [
        {
            "path": RESEARCH,
            "hubs": ["pilot-gcp/research"],
            "changed_keys": ["singleuser.image.tag"],
            "problems": [],
        }
    ]


def test_an_unchanged_key_outside_the_policy_does_not_count(
    run_cli: Any, repo: Path, tmp_path: Path
) -> None:
    """Only changed keys are decided: a key the platform team set earlier stays theirs."""
    with (repo / RESEARCH).open("a") as handle:
        handle.write("debug:\n  enabled: true\n")
    git(repo, "commit", "-qam", "platform: debug on")
    _inside(repo)
    community = _plan(run_cli, repo, _event(tmp_path, "alice-research"))["community"]
    assert community["community_only"] is True, community["reasons"]


def test_team_owner_approval_needs_the_teams_members(
    run_cli: Any, repo: Path, tmp_path: Path
) -> None:
    _inside(repo)
    event = _event(tmp_path, "mallory", [("rob-research", "APPROVED")])
    without = _plan(run_cli, repo, event)["community"]
    assert without["community_only"] is False
    teams = tmp_path / "reviews.json"
    teams.write_text(json.dumps({"teams": {"example-research/hub-admins": ["rob-research"]}}))
    with_teams = _plan(run_cli, repo, event, "--reviews", str(teams))["community"]
    assert with_teams["community_only"] is True
    assert with_teams["hubs"][0]["approved_by"] == "rob-research"


def test_push_event_decides_files_only(run_cli: Any, repo: Path, tmp_path: Path) -> None:
    _inside(repo)
    push = tmp_path / "push.json"
    push.write_text(json.dumps({"ref": "refs/heads/main", "before": "0" * 40, "after": "1" * 40}))
    community = _plan(run_cli, repo, push)["community"]
    assert community["files_only"] is True
    assert community["community_only"] is False
    assert "not a pull request" in " ".join(community["reasons"])


def test_markdown_comment_says_so_and_why(run_cli: Any, repo: Path, tmp_path: Path) -> None:
    _outside(repo)
    result = run_cli(
        "--repo", repo, "plan", "--base", "HEAD", "--event", _event(tmp_path, "alice-research"),
        "--output", "markdown",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "### Community-only: no: the platform team reviews it" in result.stdout
    assert "deny entry 'proxy'" in result.stdout


def test_plan_json_with_community_is_a_valid_saved_plan(
    run_cli: Any, repo: Path, tmp_path: Path
) -> None:
    _inside(repo)
    saved = tmp_path / "plan.json"
    saved.write_text(json.dumps(_plan(run_cli, repo, _event(tmp_path, "alice-research"))))
    result = run_cli("--repo", repo, "plan", "--from-json", saved, "--output", "markdown")
    assert result.exit_code == 0, result.output
    assert "### Community-only: yes" in result.stdout


def test_github_event_reads_the_runner_payload(
    run_cli: Any, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _inside(repo)
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(_event(tmp_path, "alice-research")))
    result = run_cli("--repo", repo, "plan", "--base", "HEAD", "--github-event", "--output", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["community"]["community_only"] is True
    monkeypatch.delenv("GITHUB_EVENT_PATH")
    result = run_cli("--repo", repo, "plan", "--base", "HEAD", "--github-event")
    assert result.exit_code == 2 and "GITHUB_EVENT_PATH" in result.stderr
