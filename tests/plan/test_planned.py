"""A plan records what it was made from (`planned`), and reads it back checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubfleet.config.load import load_fleet
from hubfleet.plan.changes import Change
from hubfleet.plan.job import InputError
from hubfleet.plan.labels import Labels
from hubfleet.plan.plan import Planned, read_plan
from hubfleet.plan.planner import plan_from_files
from hubfleet.plan.schema import check_plan_json
from tests.conftest import TEST_FLEET

SHA = "0123456789abcdef0123456789abcdef01234567"


def test_a_plan_from_files_records_its_changes_and_labels(tmp_path: Path) -> None:
    fleet = load_fleet(TEST_FLEET).fleet_or_raise()
    changes = [
        Change("config/clusters/alpha/prod1.values.yaml"),
        Change("config/clusters/beta/new.values.yaml", "R", "config/clusters/beta/old.yaml"),
    ]
    plan = plan_from_files(fleet, changes, labels=Labels(("deployer:deploy-support",)))
    assert plan.planned == Planned(tuple(changes), ("deployer:deploy-support",))
    data = plan.to_json()
    assert data["planned"]["changes"][1] == {
        "path": "config/clusters/beta/new.values.yaml",
        "status": "R",
        "old_path": "config/clusters/beta/old.yaml",
    }
    assert check_plan_json(data, "plan.json") == []
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data, indent=2))
    assert read_plan(path, schema=True) == plan


BAD = {
    "not an object": ([], "planned must be a JSON object"),
    "short commit": ({"base": "abc", "head": None}, "planned.base must be a commit id"),
    "head alone": ({"base": None, "head": SHA}, "planned.head without planned.base"),
    "no changes": ({"base": None, "head": None}, "planned.changes must be a list"),
    "nul in a path": (
        {"base": None, "head": None, "changes": [{"path": "a\u0000b", "status": "M"}]},
        "planned.changes[0]: a change needs a repository-relative path",
    ),
    "outside": (
        {"base": None, "head": None, "changes": [{"path": "../x", "status": "M"}]},
        "planned.changes[0]: a change needs a repository-relative path",
    ),
    "status": (
        {"base": None, "head": None, "changes": [{"path": "x", "status": "Z"}]},
        "planned.changes[0]: unknown status 'Z'",
    ),
    "labels": (
        {"base": None, "head": None, "changes": [], "labels": [1]},
        "planned.labels must be a list of strings",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_broken_record_is_an_error_at_its_line(tmp_path: Path, case: str) -> None:
    planned, message = BAD[case]
    path = tmp_path / "plan.json"
    path.write_text(
        json.dumps({"support_jobs": [], "staging_jobs": [], "prod_jobs": []})[:-1]
        + ',\n"planned":\n'
        + json.dumps(planned)
        + "}"
    )
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")) as e:
        read_plan(path)
    assert e.value.line is not None and e.value.line >= 2
