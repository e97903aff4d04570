"""cluster.yaml's `decommissioned:` entries (docs/decommission.md): the schema, and the
loader's checks at the entry's line. A hub both live and decommissioned, a name no
hub could have (the deploy would uninstall `support` or delete `kube-system`), a bad
data decision: errors; a date in the future: a warning."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from hubfleet.config.decommission import decommission_problems, describe, entry_yaml
from hubfleet.config.load import hub_name_problem, load_fleet
from hubfleet.config.models import ClusterFile, DecommissionedHub
from hubfleet.config.schema import json_schema

ALPHA = "config/clusters/alpha/cluster.yaml"


def _append(root: Path, text: str, file: str = ALPHA) -> int:
    """Append `text` to the cluster file; the line number its first line lands on."""
    path = root / file
    before = path.read_text()
    path.write_text(before + text)
    return before.count("\n") + 1


def _problems(root: Path) -> list[str]:
    return [p.render() for p in load_fleet(root).problems]


def test_a_decommissioned_hub_loads_with_its_decision(fleet_copy: Path) -> None:
    _append(
        fleet_copy,
        "decommissioned:\n- name: old-hub\n  date: 2025-06-30\n  data: keep\n"
        "  reason: course ended\n- name: gone\n  date: '2025-07-01'\n  data: delete\n",
    )
    result = load_fleet(fleet_copy)
    assert result.errors == ()
    cluster = result.fleet.cluster("alpha")
    assert [(e.name, e.date, e.data) for e in cluster.decommissioned] == [
        ("old-hub", datetime.date(2025, 6, 30), "keep"),
        ("gone", datetime.date(2025, 7, 1), "delete"),
    ]
    assert "old-hub" not in {h.name for h in cluster.hubs}
    assert describe(cluster.decommissioned[0]) == (
        "decommissioned on 2025-06-30, data: keep (course ended)"
    )
    assert cluster.decommissioned_hub("gone") is not None
    assert cluster.decommissioned_hub("prod1") is None


def test_a_hub_both_live_and_decommissioned_is_an_error_at_its_entry(fleet_copy: Path) -> None:
    line = _append(fleet_copy, "decommissioned:\n- name: prod1\n  date: 2025-06-30\n  data: keep\n")
    problems = _problems(fleet_copy)
    found = [p for p in problems if "both a hub" in p]
    assert found == [
        f"{ALPHA}:{line + 1}: hub 'prod1' is both a hub (line 19) and decommissioned "
        "(hint: remove its entry from hubs: to keep the hub, remove it from decommissioned)"
    ]
    assert load_fleet(fleet_copy).errors  # an error: validate exits 2


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("data: archive", "data"),
        ("data: true", "data"),
        ("data: ''", "data"),
    ],
)
def test_a_bad_data_decision_is_an_error_at_its_line(
    fleet_copy: Path, value: str, expected: str
) -> None:
    line = _append(fleet_copy, f"decommissioned:\n- name: old\n  date: 2025-06-30\n  {value}\n")
    errors = [p.render() for p in load_fleet(fleet_copy).errors]
    assert any(e.startswith(f"{ALPHA}:{line + 3}:") and expected in e for e in errors), errors


def test_data_is_required(fleet_copy: Path) -> None:
    line = _append(fleet_copy, "decommissioned:\n- name: old\n  date: 2025-06-30\n")
    errors = [p.render() for p in load_fleet(fleet_copy).errors]
    assert any(e.startswith(f"{ALPHA}:{line + 1}:") and "data" in e for e in errors), errors


@pytest.mark.parametrize("date", ["2025-13-01", "yesterday", "2025-06-30T10:00:00"])
def test_a_date_that_is_not_an_iso_date_is_an_error(fleet_copy: Path, date: str) -> None:
    line = _append(fleet_copy, f"decommissioned:\n- name: old\n  date: {date}\n  data: keep\n")
    errors = [p.render() for p in load_fleet(fleet_copy).errors]
    assert any(e.startswith(f"{ALPHA}:{line + 2}:") for e in errors), errors


@pytest.mark.parametrize("name", ["support", "kube-system", "default", "Bad_Name", "-x"])
def test_a_name_no_hub_could_have_is_refused(fleet_copy: Path, name: str) -> None:
    """The deploy would uninstall the support release or delete a system namespace."""
    line = _append(
        fleet_copy, f"decommissioned:\n- name: '{name}'\n  date: 2025-06-30\n  data: delete\n"
    )
    errors = [p.render() for p in load_fleet(fleet_copy).errors]
    assert any(e.startswith(f"{ALPHA}:{line + 1}: decommissioned: hub name") for e in errors), (
        errors
    )


def test_a_hub_decommissioned_twice_is_an_error(fleet_copy: Path) -> None:
    line = _append(
        fleet_copy,
        "decommissioned:\n- name: old\n  date: 2025-06-30\n  data: keep\n"
        "- name: old\n  date: 2025-07-30\n  data: delete\n",
    )
    errors = [p.render() for p in load_fleet(fleet_copy).errors]
    assert errors == [
        f"{ALPHA}:{line + 4}: hub 'old' is decommissioned twice (hint: first at line "
        f"{line + 1}; keep one entry)"
    ]


def test_a_date_in_the_future_is_a_warning_not_an_error(fleet_copy: Path) -> None:
    line = _append(fleet_copy, "decommissioned:\n- name: old\n  date: 2999-01-01\n  data: keep\n")
    result = load_fleet(fleet_copy)
    assert result.errors == ()
    [warning] = [p for p in result.problems if p.severity == "warning" and "future" in p.message]
    assert (warning.path, warning.line) == (ALPHA, line + 2)


def test_today_is_not_in_the_future() -> None:
    spec = ClusterFile.model_validate(
        {
            "name": "c",
            "provider": "local",
            "decommissioned": [{"name": "h", "date": datetime.date(2026, 1, 2), "data": "keep"}],
        }
    )
    from hubfleet.base.yamlio import LineMap

    problems = decommission_problems(
        spec, "f", LineMap(), {}, hub_name_problem, today=datetime.date(2026, 1, 2)
    )
    assert problems == []
    later = decommission_problems(
        spec, "f", LineMap(), {}, hub_name_problem, today=datetime.date(2026, 1, 1)
    )
    assert [p.severity for p in later] == ["warning"]


def test_the_json_schema_has_the_entry() -> None:
    schema = json_schema("cluster")
    entry = schema["$defs"]["DecommissionedHub"]
    assert set(entry["required"]) == {"name", "date", "data"}
    assert entry["properties"]["data"]["enum"] == ["keep", "delete"]
    assert schema["properties"]["decommissioned"]["items"] == {"$ref": "#/$defs/DecommissionedHub"}


def test_the_entry_to_paste_loads() -> None:
    """The plan's warning shows an entry that, its date filled in, is a valid one."""
    import yaml

    text = entry_yaml("teaching").replace("YYYY-MM-DD", "2026-01-01")
    [data] = yaml.safe_load(text)
    entry = DecommissionedHub.model_validate(data)
    assert (entry.name, entry.data) == ("teaching", "keep")
    with pytest.raises(ValueError, match="ISO date"):
        DecommissionedHub.model_validate(yaml.safe_load(entry_yaml("teaching"))[0])
    assert entry_yaml("a: b") == '- {name: "a: b", date: YYYY-MM-DD, data: keep, reason: ...}'
