"""`plan --event` reads its inputs once (issue 22, point 2): the fleet is loaded once
and git is asked for the diff, the commits and the base contents once, for the plan
and the community decision together (`hubfleet.plan.revisions.Revisions`)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from hubfleet.base import runner
from hubfleet.config import load
from hubfleet.plan import git as changes
from tests.community.conftest import RESEARCH
from tests.community.test_plan_community import EVENT, NEW_TAG, _edit
from tests.helpers import GitFleet


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Calls of the fleet loader (`load`) and of git, by git subcommand."""
    calls: Counter[str] = Counter()
    real_load, real_run, real_run_bytes = load.load_fleet, runner.run, runner.run_bytes

    def load_fleet(root: Path, *args: Any, **kwargs: Any) -> Any:
        calls["load"] += 1
        return real_load(root, *args, **kwargs)

    def git_args(argv: Sequence[str]) -> None:
        if argv[0] == "git":
            calls[next(a for a in argv[1:] if not a.startswith("-"))] += 1

    def run(argv: Sequence[str], *args: Any, **kwargs: Any) -> Any:
        git_args(argv)
        return real_run(argv, *args, **kwargs)

    def run_bytes(argv: Sequence[str], *args: Any, **kwargs: Any) -> Any:
        git_args(argv)
        return real_run_bytes(argv, *args, **kwargs)

    monkeypatch.setattr(load, "load_fleet", load_fleet)
    monkeypatch.setattr(changes, "run", run)
    monkeypatch.setattr(changes, "run_bytes", run_bytes)
    return calls


def _plan(run_cli: Any, root: Path, *args: str) -> dict[str, Any]:
    result = run_cli("--repo", root, "plan", "--event", EVENT, "--output", "json", *args)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    assert data["community"]["files"], "the decision saw the changed community file"
    return data


@pytest.mark.parametrize("head", [[], ["--head", "HEAD"]], ids=["worktree", "head"])
def test_plan_with_event_from_git_loads_the_fleet_once_and_diffs_once(
    run_cli: Any, example_fleet: Path, counted: Counter[str], head: list[str]
) -> None:
    repo = GitFleet.started(example_fleet)
    _edit(example_fleet, RESEARCH, *NEW_TAG)
    if head:
        repo.commit("a community change")
    counted.clear()
    data = _plan(run_cli, example_fleet, "--base", "base", *head)
    assert data["prod_jobs"] and data["community"]["hubs"]
    assert counted["load"] == 1, counted
    assert counted["diff"] == 1, counted
    # base (and --head) resolved once, the base contents read once, head once with --head
    assert counted["rev-parse"] == 2 + (2 if head else 0), counted
    assert counted["cat-file"] == (2 if head else 1), counted


def test_plan_with_event_from_a_list_loads_the_fleet_once(
    run_cli: Any, example_fleet: Path, counted: Counter[str], tmp_path: Path
) -> None:
    _edit(example_fleet, RESEARCH, *NEW_TAG)
    listed = tmp_path / "changed.txt"
    listed.write_text(RESEARCH + "\n")
    counted.clear()
    _plan(run_cli, example_fleet, "--changed-files", str(listed))
    assert counted == Counter(load=1), counted
