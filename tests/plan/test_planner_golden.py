"""The planner's output, byte for byte, against plans recorded before it was split from
the `Plan` (issue 22, point 5): the example fleet, the test fleet and the 2i2c layout,
each file changed alone (modified, added, deleted), renamed, everything with each label
set, seeded random sets, and plans between two git revisions.

Each case's plan JSON (as `plan --output json` prints it, commit ids replaced) is
compared by its SHA-256 with tests/plan/golden_plans.json. To record it again
(only when a change of the plan's output is intended):
`.venv/bin/python -m tests.plan.test_planner_golden`.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubfleet.base.redact import Redactor
from hubfleet.config.load import load_fleet
from hubfleet.plan.changes import Change
from hubfleet.plan.labels import (
    DEPLOY_HUBS,
    DEPLOY_SUPPORT,
    SKIP_DEPLOY,
    SKIP_DEPLOY_HUBS,
    Labels,
)
from hubfleet.plan.plan import Plan
from hubfleet.plan.planner import plan_from_files
from hubfleet.plan.render import to_json_text
from hubfleet.plan.revisions import plan_from_git
from tests.helpers import GitFleet

REPO = Path(__file__).parents[2]
GOLDEN = Path(__file__).with_name("golden_plans.json")
FLEETS = {
    "example": REPO / "examples" / "fleet",
    "test": REPO / "tests" / "fixtures" / "fleet",
    "layout2i2c": REPO / "tests" / "fixtures" / "layout2i2c" / "fleet",
}
LABEL_SETS: list[tuple[str, ...]] = [
    (),
    (SKIP_DEPLOY,),
    (SKIP_DEPLOY_HUBS,),
    (DEPLOY_HUBS,),
    (DEPLOY_SUPPORT,),
    (DEPLOY_HUBS, SKIP_DEPLOY_HUBS),
    (DEPLOY_SUPPORT, DEPLOY_HUBS),
]


def _files(root: Path) -> list[str]:
    """The fleet's files as git has them (what a developer's runs leave beside them, such
    as the demo's `.hubfleet/` state, ignored by git, is no part of the fleet)."""
    listed = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--", "."],
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted(name for name in listed.split("\0") if name and not (root / name).is_dir())


def _change_sets(root: Path) -> Iterator[tuple[str, list[Change], tuple[str, ...]]]:
    files = _files(root)
    for path in files:
        yield f"M {path}", [Change(path)], ()
    for path in files[::7]:
        yield f"D {path}", [Change(path, "D")], ()
        yield f"A {path}", [Change(path, "A")], ()
        yield f"R {path}", [Change(path + ".new", "R", path)], ()
    yield "unmatched", [Change("nowhere/nothing.txt")], ()
    yield "gone", [Change("config/clusters/gone/cluster.yaml")], ()
    for labels in LABEL_SETS:
        yield f"all {labels}", [Change(p) for p in files], labels
        yield f"none {labels}", [], labels
    rng = random.Random(22)
    for index in range(12):
        picked = rng.sample(files, k=min(len(files), rng.randint(2, 8)))
        yield f"random {index}", [Change(p) for p in picked], rng.choice(LABEL_SETS)


def _text(plan: Plan) -> str:
    text = to_json_text(plan)
    planned = plan.planned
    if planned is not None:
        for name, commit in (("BASE", planned.base), ("HEAD", planned.head)):
            if commit is not None:
                text = text.replace(commit, name)
    return text


def _git_cases(tmp: Path) -> Iterator[tuple[str, str]]:
    """Plans between two commits of a copy of the example fleet."""
    root = tmp / "fleet"
    shutil.copytree(FLEETS["example"], root, symlinks=True)
    repo = GitFleet.started(root)
    onprem = "config/clusters/onprem/cluster.yaml"
    repo.edit(onprem, "research.onprem.hubs.example.org", "research2.onprem.hubs.example.org")
    repo.edit("hubfleet.yaml", "\n", "\n# a comment\n")
    repo.edit("config/clusters/onprem/common.values.yaml", "\n", "\n# a comment\n")
    first = repo.commit("edits")
    repo.git("tag", "first")
    text = repo.path(onprem).read_text()
    start = text.index("- name: teaching")
    repo.path(onprem).write_text(text[:start])
    shutil.rmtree(repo.path("config/clusters/research-aws"))
    repo.git("mv", "config/clusters/onprem/teaching.values.yaml", "config/clusters/onprem/t.yaml")
    repo.commit("removals")
    redactor = Redactor()
    for labels in ((), (DEPLOY_HUBS,), (SKIP_DEPLOY_HUBS,)):
        plan = plan_from_git(root, base="base", head=None, labels=Labels(labels), redactor=redactor)
        yield f"git base..worktree {labels}", _text(plan)
    plan = plan_from_git(root, base="base", head=first, labels=Labels(), redactor=redactor)
    yield "git base..first", _text(plan)
    plan = plan_from_git(root, base="first", head="HEAD", labels=Labels(), redactor=redactor)
    yield "git first..HEAD", _text(plan)


def plans() -> dict[str, str]:
    """Each case's name -> the SHA-256 of its plan JSON."""
    found: dict[str, str] = {}
    for fleet_name, root in FLEETS.items():
        fleet = load_fleet(root).fleet_or_raise()
        for name, changes, labels in _change_sets(root):
            plan = plan_from_files(fleet, changes, labels=Labels(labels))
            found[f"{fleet_name}: {name}"] = _text(plan)
    with tempfile.TemporaryDirectory(prefix="hubfleet-golden-") as tmp:
        for name, text in _git_cases(Path(tmp)):
            found[f"example: {name}"] = text
    return {name: hashlib.sha256(text.encode()).hexdigest() for name, text in found.items()}


def test_plans_are_byte_identical_to_the_recorded_ones() -> None:
    recorded = json.loads(GOLDEN.read_text())
    made = plans()
    assert len(made) > 400
    assert sorted(made) == sorted(recorded)
    changed = [name for name in recorded if made[name] != recorded[name]]
    assert changed == []


@pytest.mark.parametrize("fleet_name", sorted(FLEETS))
def test_the_cases_select_jobs(fleet_name: str) -> None:
    """The recorded cases exercise the planner: most fleets' files select jobs."""
    root = FLEETS[fleet_name]
    fleet = load_fleet(root).fleet_or_raise()
    everything = [Change(p) for p in _files(root)]
    plan = plan_from_files(fleet, everything, labels=Labels())
    assert plan.prod_jobs and plan.staging_jobs and plan.support_jobs


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(plans(), indent=1, sort_keys=True) + "\n")
