"""`hubfleet ci incidents`: health-check results -> GitHub issues, through a fake `gh`
(it records argv and stdin, and answers `gh issue list` as scripted)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hubfleet.ci.incidents import LABEL, MAX_LABEL, format_duration, labels_of, mention
from hubfleet.deploy.fleetcheck import FleetCheck, HubCheck
from tests.fakes import FakeTools
from tests.fakes import fake_tools as fake_tools  # fixture

Cli = Callable[..., Any]
REPO = "example-org/fleet"


def _results(tmp_path: Path, *hubs: HubCheck, at: str = "2026-12-07T12:30:00Z") -> Path:
    clusters = tuple(sorted({h.cluster for h in hubs}))
    path = tmp_path / f"results-{len(list(tmp_path.glob('results-*')))}.json"
    path.write_text(json.dumps(FleetCheck(at, clusters, hubs).to_json()))
    return path


def _contacts(fleet: Path, contacts: dict[str, list[str]]) -> None:
    path = fleet / "hubfleet.yaml"
    data = yaml.safe_load(path.read_text())
    data["notify"] = {"contacts": contacts}
    path.write_text(yaml.safe_dump(data))


def _issue(number: int, cluster: str, hub: str, **marker: Any) -> dict[str, Any]:
    body = "old body\n"
    if marker:
        body += f"<!-- hubfleet-health {json.dumps(marker)} -->\n"
    return {
        "number": number,
        "title": f"Health check failing: {cluster}/{hub}",
        "labels": [{"name": n} for n in labels_of(cluster, hub)],
        "createdAt": "2026-12-07T09:00:00Z",
        "body": body,
    }


def _gh(fakes: FakeTools, issues: list[dict[str, Any]]) -> None:
    fakes.script([{"tool": "gh", "args": ["issue", "list"], "stdout": json.dumps(issues)}])


def _calls(fakes: FakeTools) -> list[tuple[list[str], str]]:
    return [
        (c["argv"], base64.b64decode(c["stdin"]).decode() if c["stdin"] else "")
        for c in fakes.calls("gh")
    ]


def _failed(cluster: str, hub: str, message: str = "step start_server failed: 503") -> HubCheck:
    return HubCheck(cluster, hub, "failed", message, failed_step="start_server", tries=2)


@pytest.fixture
def incidents(
    fleet_copy: Path, fake_tools: FakeTools, run_cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Any]:
    monkeypatch.setenv("GH_TOKEN", "ghs_faketoken0123456789")

    def run(*results: Path, extra: tuple[str, ...] = ()) -> Any:
        args = [a for r in results for a in ("--results", str(r))]
        return run_cli("--repo", fleet_copy, "ci", "incidents", *args, "--repository", REPO, *extra)

    return run


def test_a_failing_hub_opens_one_issue_mentioning_its_owners(
    tmp_path: Path, fleet_copy: Path, fake_tools: FakeTools, incidents: Callable[..., Any]
) -> None:
    _contacts(
        fleet_copy,
        {"alpha/prod1": ["@alice", "@example-org/hub-team"], "prod1": ["@Other-Org/admins"]},
    )
    _gh(fake_tools, [])
    results = _results(
        tmp_path,
        _failed("alpha", "prod1"),
        HubCheck("alpha", "prod2", "ok", "healthy", tries=1),
        HubCheck("delta", "prod", "skipped", "health check switched off"),
    )
    result = incidents(results)
    assert result.exit_code == 0, result.output
    calls = _calls(fake_tools)
    assert calls[0][0][:3] == ["issue", "list", "--repo"]
    assert calls[0][0][6:8] == ["--label", LABEL]
    labels = ["hubfleet-health", "cluster:alpha", "hub:prod1"]
    assert [argv[2] for argv, _ in calls[1:4]] == labels  # gh label create, each once
    assert all(argv[:2] == ["label", "create"] and "--force" in argv for argv, _ in calls[1:4])
    [(create, body)] = [(argv, stdin) for argv, stdin in calls if argv[:2] == ["issue", "create"]]
    assert create[create.index("--title") + 1] == "Health check failing: alpha/prod1"
    assert [create[i + 1] for i, a in enumerate(create) if a == "--label"] == labels
    assert "--body-file" in create and create[create.index("--body-file") + 1] == "-"
    assert "@alice" in body and "@example-org/hub-team" in body
    # a team of another organization is not mentioned (GitHub could not notify it anyway)
    assert "`@Other-Org/admins`" in body
    assert "2 times in a row" in body and "`start_server`" in body
    assert '"since": "2026-12-07T12:30:00Z"' in body and '"failures": 1' in body
    assert len(calls) == 5  # nothing for the passing and the skipped hub
    assert "opened   alpha/prod1" in result.stdout


def test_a_failing_hub_with_an_open_issue_updates_it(
    tmp_path: Path, fake_tools: FakeTools, incidents: Callable[..., Any]
) -> None:
    from hubfleet.ci.incidents import _digest

    failing = _failed("alpha", "prod1")
    since = "2026-12-07T10:00:00Z"
    _gh(fake_tools, [_issue(7, "alpha", "prod1", since=since, failures=3, digest=_digest(failing))])
    result = incidents(_results(tmp_path, failing))
    assert result.exit_code == 0, result.output
    calls = _calls(fake_tools)
    assert [argv[:3] for argv, _ in calls[1:]] == [
        ["issue", "edit", "7"]
    ]  # no comment: same failure
    body = calls[1][1]
    assert f'"since": "{since}"' in body and '"failures": 4' in body
    assert "4 failing checks since 2026-12-07T10:00:00Z" in body
    assert "updated  alpha/prod1 (#7)" in result.stdout

    # A different failure: the body, and a comment saying what changed.
    fake_tools.reset()
    other = _failed("alpha", "prod1", "step run_notebook failed: kernel died")
    result = incidents(_results(tmp_path, other))
    calls = _calls(fake_tools)
    assert [argv[:3] for argv, _ in calls[1:]] == [
        ["issue", "edit", "7"],
        ["issue", "comment", "7"],
    ]
    assert "fails differently now" in calls[2][1] and "kernel died" in calls[2][1]


def test_a_passing_hub_closes_its_issue_with_the_time_it_was_down(
    tmp_path: Path, fake_tools: FakeTools, incidents: Callable[..., Any]
) -> None:
    _gh(fake_tools, [_issue(7, "alpha", "prod1", since="2026-12-07T10:00:00Z", failures=5)])
    ok = HubCheck("alpha", "prod1", "ok", "healthy", tries=1)
    result = incidents(_results(tmp_path, ok, at="2026-12-07T12:30:00Z"))
    assert result.exit_code == 0, result.output
    calls = _calls(fake_tools)
    assert [argv[:3] for argv, _ in calls[1:]] == [
        ["issue", "comment", "7"],
        ["issue", "close", "7"],
    ]
    assert "down for 2h 30m (since 2026-12-07T10:00:00Z)" in calls[1][1]
    assert calls[2][0][-2:] == ["--reason", "completed"]
    assert "closed   alpha/prod1 (#7)" in result.stdout


def test_without_a_marker_the_issue_opened_is_the_start(
    tmp_path: Path, fake_tools: FakeTools, incidents: Callable[..., Any]
) -> None:
    """An issue opened by hand with the labels: down since it was opened."""
    _gh(fake_tools, [_issue(9, "alpha", "prod1")])
    ok = HubCheck("alpha", "prod1", "ok", "healthy", tries=1)
    incidents(_results(tmp_path, ok, at="2026-12-08T10:05:00Z"))
    comment = _calls(fake_tools)[1][1]
    assert "down for 1d 1h 5m (since 2026-12-07T09:00:00Z)" in comment


def test_a_flaky_check_retried_once_is_not_reported(
    tmp_path: Path, fake_tools: FakeTools, incidents: Callable[..., Any]
) -> None:
    _gh(fake_tools, [])
    flaky = HubCheck("alpha", "prod1", "ok", "healthy", tries=2, flaky=True)
    result = incidents(_results(tmp_path, flaky))
    assert result.exit_code == 0, result.output
    assert [argv[:2] for argv, _ in _calls(fake_tools)] == [["issue", "list"]]
    assert "no incident opened, updated or closed" in result.stdout


def test_skipped_and_cancelled_hubs_change_nothing(
    tmp_path: Path, fake_tools: FakeTools, incidents: Callable[..., Any]
) -> None:
    _gh(fake_tools, [_issue(7, "alpha", "prod1", since="2026-12-07T10:00:00Z", failures=1)])
    results = _results(
        tmp_path,
        HubCheck("alpha", "prod1", "cancelled", "cancelled before it was checked"),
        HubCheck("alpha", "prod2", "skipped", "switched off"),
    )
    incidents(results)
    assert [argv[:2] for argv, _ in _calls(fake_tools)] == [["issue", "list"]]


def test_results_of_several_clusters_are_merged(
    tmp_path: Path, fake_tools: FakeTools, incidents: Callable[..., Any]
) -> None:
    _gh(fake_tools, [])
    folder = tmp_path / "health"
    folder.mkdir()
    _results(folder, _failed("alpha", "prod1"))
    _results(folder, _failed("beta", "research"))
    result = incidents(folder)
    assert result.exit_code == 0, result.output
    created = [argv for argv, _ in _calls(fake_tools) if argv[:2] == ["issue", "create"]]
    assert [a[a.index("--title") + 1] for a in created] == [
        "Health check failing: alpha/prod1",
        "Health check failing: beta/research",
    ]


def test_hostile_text_stays_text_in_the_issue(
    tmp_path: Path, fake_tools: FakeTools, incidents: Callable[..., Any]
) -> None:
    """A failure message (from a hub's answer) cannot mention, link or close the marker."""
    _gh(fake_tools, [])
    message = "@everyone see [this](https://evil.example) <img src=x> --> #1 `code`"
    result = incidents(_results(tmp_path, _failed("alpha", "prod1", message)))
    assert result.exit_code == 0, result.output
    [body] = [s for argv, s in _calls(fake_tools) if argv[:2] == ["issue", "create"]]
    assert "@everyone" not in body and "@&#8203;everyone" in body
    assert "[this]" not in body and "<img" not in body and "https://evil" not in body
    assert body.count("-->") == 1  # only the marker's end
    assert "ghs_faketoken" not in body and "ghs_faketoken" not in result.output


def test_results_naming_a_hub_the_fleet_has_not_are_refused(
    tmp_path: Path, fake_tools: FakeTools, incidents: Callable[..., Any]
) -> None:
    _gh(fake_tools, [])
    result = incidents(_results(tmp_path, _failed("alpha", "no-such-hub")))
    assert result.exit_code == 2
    assert "no-such-hub" in result.stderr
    assert fake_tools.calls("gh") == []


def test_a_bad_results_file_or_repository_is_refused(
    tmp_path: Path,
    fake_tools: FakeTools,
    incidents: Callable[..., Any],
    fleet_copy: Path,
    run_cli: Cli,
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps({"version": 1, "checked_at": "yesterday", "clusters": [], "hubs": []})
    )
    assert incidents(bad).exit_code == 2
    good = _results(tmp_path, _failed("alpha", "prod1"))
    result = run_cli(
        "--repo", fleet_copy, "ci", "incidents", "--results", good, "--repository", "a/b;rm -rf"
    )
    assert result.exit_code == 2
    assert fake_tools.calls("gh") == []


def test_dry_run_calls_no_gh_but_the_list(
    tmp_path: Path, fake_tools: FakeTools, incidents: Callable[..., Any]
) -> None:
    _gh(fake_tools, [])
    result = incidents(_results(tmp_path, _failed("alpha", "prod1")), extra=("--dry-run",))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["kind"] == "open"
    assert [argv[:2] for argv, _ in _calls(fake_tools)] == [["issue", "list"]]


# ---------------------------------------------------------------- the pieces


def test_labels_stay_within_githubs_limits_and_apart() -> None:
    long_a = "h" * 63
    long_b = "h" * 62 + "i"
    for cluster, hub in (("c", long_a), ("c", long_b), ("x" * 63, "hub")):
        labels = labels_of(cluster, hub)
        assert all(len(label) <= MAX_LABEL and "," not in label for label in labels), labels
    assert labels_of("c", long_a)[2] != labels_of("c", long_b)[2]
    assert labels_of("c", "hub") == ("hubfleet-health", "cluster:c", "hub:hub")
    # a hub of the same name in two clusters: the cluster label tells them apart
    assert labels_of("a", "hub")[1] != labels_of("b", "hub")[1]


@pytest.mark.parametrize(
    ("handle", "shown"),
    [
        ("@alice", "@alice"),
        ("@example-org/team", "@example-org/team"),
        ("@other/team", "`@other/team`"),
        ("@alice,@bob", "@&#8203;alice,@&#8203;bob"),
        ("everyone", "everyone"),
    ],
)
def test_only_handles_are_mentioned(handle: str, shown: str) -> None:
    assert mention(handle, "example-org") == shown


def test_format_duration() -> None:
    from datetime import timedelta

    assert format_duration(timedelta(seconds=59)) == "0m"
    assert format_duration(timedelta(hours=2, minutes=30)) == "2h 30m"
    assert format_duration(timedelta(days=3, minutes=1)) == "3d 0h 1m"
    assert format_duration(timedelta(seconds=-5)) == "0m"


def test_a_hand_edited_marker_cannot_inject(
    tmp_path: Path, fake_tools: FakeTools, incidents: Callable[..., Any]
) -> None:
    """The marker's `since` is read back only as a time: anything else is replaced by
    when the issue was opened."""
    _gh(fake_tools, [_issue(7, "alpha", "prod1", since="--> @everyone <img>", failures="x")])
    result = incidents(_results(tmp_path, _failed("alpha", "prod1")))
    assert result.exit_code == 0, result.output
    body = _calls(fake_tools)[1][1]
    assert "@everyone" not in body and "<img" not in body and body.count("-->") == 1
    assert '"since": "2026-12-07T09:00:00Z"' in body and '"failures": 2' in body


def test_the_run_url_must_be_a_plain_https_url(
    tmp_path: Path, fake_tools: FakeTools, incidents: Callable[..., Any]
) -> None:
    _gh(fake_tools, [])
    results = _results(tmp_path, _failed("alpha", "prod1"))
    for url in ("http://x.example/1", "https://x.example/1) [a](https://evil", "javascript:x"):
        assert incidents(results, extra=("--run-url", url)).exit_code == 2, url
    assert fake_tools.calls("gh") == []
    ok = incidents(results, extra=("--run-url", "https://github.com/o/r/actions/runs/5"))
    assert ok.exit_code == 0, ok.output
    [body] = [s for argv, s in _calls(fake_tools) if argv[:2] == ["issue", "create"]]
    assert "- run: https://github.com/o/r/actions/runs/5" in body
