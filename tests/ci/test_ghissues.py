"""`hubfleet.ci.ghissues`: the one "GitHub issue per thing" module the health incidents
and the drift issues share: one `gh` convention, one repository check on every call
(the drift issues had none in the core), markers that nothing can end early, and a
`gh` answer that is not a list refused as bad input (it was a bare ValueError for the
drift issues)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from hubfleet.base.errors import HubfleetError
from hubfleet.ci import drift, ghissues, incidents
from hubfleet.ci.ghissues import Marker


class Recorder:
    def __init__(self, answer: str = "[]") -> None:
        self.calls: list[tuple[list[str], str | None]] = []
        self.answer = answer

    def __call__(self, args: Sequence[str], stdin: str | None) -> str:
        self.calls.append((list(args), stdin))
        return self.answer


HOSTILE_REPOSITORIES = ["o/r --web", "-o/r", "o/../r", "o/r/x", "o", "o/r;x", "o/r\n"]


@pytest.mark.parametrize("repository", HOSTILE_REPOSITORIES)
def test_every_call_checks_the_repository(repository: str) -> None:
    gh = Recorder()
    calls = [
        lambda: ghissues.list_open(gh, repository, "x"),
        lambda: ghissues.ensure_label(gh, repository, "x", "about"),
        lambda: ghissues.open_issue(gh, repository, "t", "b", ["x"]),
        lambda: ghissues.edit_issue(gh, repository, 1, "b"),
        lambda: ghissues.comment_issue(gh, repository, 1, "c"),
        lambda: ghissues.close_issue(gh, repository, 1, comment="c"),
    ]
    for call in calls:
        with pytest.raises(HubfleetError, match="not a repository owner/name"):
            call()
    assert gh.calls == []


@pytest.mark.parametrize("repository", HOSTILE_REPOSITORIES)
def test_the_drift_issues_check_the_repository_too(repository: str) -> None:
    """The drift core took any repository (only the CLI checked it, with its own regex)."""
    gh = Recorder()
    with pytest.raises(HubfleetError, match="not a repository owner/name"):
        drift.list_issues(gh, repository, "hubfleet-drift")
    actions = drift.decide([drift.ClusterDrift("a", "drifted", ("- x",))], [])
    with pytest.raises(HubfleetError, match="not a repository owner/name"):
        drift.apply_actions(gh, repository, "hubfleet-drift", actions)
    assert gh.calls == []


def test_both_kinds_call_gh_the_same_way() -> None:
    """Drift (a `Gh`) and incidents (the CLI's whole-argv runner, adapted by `words`)
    reach `gh` with the same words for the same operation."""
    argv: list[tuple[list[str], bytes | None]] = []

    def runner(args: Sequence[str], stdin: bytes | None) -> str:
        argv.append((list(args), stdin))
        return "[]"

    gh = Recorder()
    drift.list_issues(gh, "o/r", "hubfleet-drift")
    incidents.list_issues(runner, "o/r")
    assert argv[0][0][0] == "gh"
    drift_words, health_words = gh.calls[0][0], argv[0][0][1:]
    assert drift_words[:7] == health_words[:7] == [
        "issue", "list", "--repo", "o/r", "--state", "open", "--label"
    ]  # fmt: skip
    assert drift_words[8:] == health_words[8:]
    text = "a body: ü\n"
    ghissues.words(runner)(["issue", "create"], text)
    assert argv[-1] == (["gh", "issue", "create"], text.encode("utf-8"))


def test_a_gh_answer_that_is_not_a_list_is_bad_input() -> None:
    for answer in ["{not json", '{"number": 1}', "1"]:
        with pytest.raises(HubfleetError):
            drift.list_issues(Recorder(answer), "o/r", "hubfleet-drift")
        with pytest.raises(HubfleetError):
            incidents.parse_issues(answer)


def test_markers_are_read_back_and_never_end_early() -> None:
    marker = Marker("health", r"\{[^<>]*\}")
    line = marker.text(json.dumps({"hub": "a"}))
    assert line == '<!-- hubfleet-health {"hub": "a"} -->'
    assert marker.read(f"text\n{line}\n") == '{"hub": "a"}'
    assert marker.read("<!-- hubfleet-drift cluster=a -->") is None
    with pytest.raises(HubfleetError):
        marker.text('{"x": "--> <b>"}')
    cluster = Marker("drift", r"cluster=[A-Za-z0-9._-]+")
    assert cluster.read(drift.MARKER.format("alpha")) == "cluster=alpha"
    assert cluster.read("<!-- hubfleet-drift cluster=a;b -->") is None


def test_issues_found_by_labels_the_oldest_first() -> None:
    issues = [
        ghissues.Issue(9, labels=frozenset({"a", "b"})),
        ghissues.Issue(4, labels=frozenset({"a", "b", "c"})),
        ghissues.Issue(2, labels=frozenset({"a"})),
    ]
    found = ghissues.find_by_labels(issues, ["a", "b"])
    assert found is not None and found.number == 4
    assert ghissues.find_by_labels(issues, ["d"]) is None


def test_close_with_a_comment_is_one_call_and_the_reason_optional() -> None:
    gh = Recorder()
    ghissues.close_issue(gh, "o/r", 7, comment="Back in sync with git.")
    ghissues.close_issue(gh, "o/r", 8, reason="completed")
    assert [args for args, _ in gh.calls] == [
        ["issue", "close", "7", "--repo", "o/r", "--comment", "Back in sync with git."],
        ["issue", "close", "8", "--repo", "o/r", "--reason", "completed"],
    ]


def test_a_health_issue_keeps_its_marker_state() -> None:
    answer = json.dumps(
        [
            {
                "number": 3,
                "title": "t",
                "labels": [{"name": "hubfleet-health"}],
                "createdAt": "2026-12-07T09:00:00Z",
                "body": 'x\n<!-- hubfleet-health {"failures": 2} -->\n',
            },
            {"number": "4", "createdAt": "2026-12-07T09:00:00Z"},  # no number: left out
        ]
    )
    [issue] = incidents.parse_issues(answer)
    assert issue.marker() == {"failures": 2}
    assert issue.created_at == datetime(2026, 12, 7, 9, tzinfo=UTC)
    assert issue.labels == frozenset({"hubfleet-health"})
