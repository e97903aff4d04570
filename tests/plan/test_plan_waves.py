"""Which wave each job of a plan is in (`hubfleet.plan.waves`): the selectors, the
trigger, canaries in their cluster's first wave, held hubs, the plan's JSON (written
and read back), its markdown and text, and a plan whose waves were edited by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from hubfleet.base.errors import HubfleetError
from hubfleet.base.redact import Redactor
from hubfleet.config.load import load_fleet
from hubfleet.deploy.targets import from_plan
from hubfleet.plan.changes import Change
from hubfleet.plan.job import JsonFile
from hubfleet.plan.labels import Labels
from hubfleet.plan.plan import Plan, plan_from_file
from hubfleet.plan.planner import plan_from_files
from hubfleet.plan.render import to_json_text, to_markdown, to_table

CLUSTERS = ("alpha", "beta", "delta", "gamma")


def _settings(root: Path, rollout: dict[str, Any]) -> None:
    path = root / "hubfleet.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["rollout"] = rollout
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _hub(root: Path, cluster: str, hub: str, **keys: Any) -> None:
    path = root / "config" / "clusters" / cluster / "cluster.yaml"
    doc = yaml.safe_load(path.read_text())
    for entry in doc["hubs"]:
        if entry["name"] == hub:
            entry.update(keys)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _plan(root: Path, paths: tuple[str, ...] | None = None) -> Plan:
    fleet = load_fleet(root).fleet_or_raise()
    files = paths or tuple(f"config/clusters/{c}/cluster.yaml" for c in CLUSTERS)
    changes = [Change(path=p, status="M") for p in files]
    return plan_from_files(fleet, changes, labels=Labels())


def _waves(plan: Plan) -> dict[str, str | None]:
    jobs = [*plan.support_jobs, *plan.staging_jobs, *plan.prod_jobs]
    return {job.label: job.wave for job in jobs}


def test_selectors_in_order_and_canaries_in_the_first_wave(fleet_copy: Path) -> None:
    _hub(fleet_copy, "beta", "research", labels={"tier": "early"})
    _settings(
        fleet_copy,
        {
            "trigger": {"clusters_over": 1},
            "waves": [
                {"name": "lab", "labels": {"tier": "early"}, "soak": "1h"},
                {"name": "named", "hubs": "alpha/prod*", "max_failures": "50%"},
                {"name": "clusters", "clusters": ["gamma"]},
            ],
        },
    )
    plan = _plan(fleet_copy)
    assert _waves(plan) == {
        "alpha/support": "named",
        "alpha/staging": "named",
        "alpha/prod1": "named",
        "alpha/prod2": "named",
        "beta/support": "lab",
        "beta/staging": "lab",
        "beta/research": "lab",
        "delta/support": "rest",
        "delta/staging-a": "rest",
        "delta/staging-b": "rest",
        "delta/prod": "rest",
        "gamma/support": "clusters",
        "gamma/prod": "clusters",
    }
    assert plan.rollout is not None
    assert [(w.name, w.soak_s, w.max_failures) for w in plan.rollout.waves] == [
        ("lab", 3600.0, 0),
        ("named", 0.0, "50%"),
        ("clusters", 0.0, 0),
        ("rest", 0.0, 0),
    ]


def test_a_share_is_stable_and_spread(fleet_copy: Path) -> None:
    _settings(
        fleet_copy,
        {"trigger": {"clusters_over": 0}, "waves": [{"name": "half", "share": "50%"}]},
    )
    first, again = _plan(fleet_copy), _plan(fleet_copy)
    assert _waves(first) == _waves(again)
    prod = [job for job in first.prod_jobs]
    assert sum(job.wave == "half" for job in prod) == 3  # ceil(50% of 5)
    assert {job.cluster for job in prod if job.wave == "half"} != {"alpha"}


def test_no_trigger_no_waves_and_the_json_is_as_before(fleet_copy: Path) -> None:
    before = to_json_text(_plan(fleet_copy))
    _settings(
        fleet_copy,
        {"trigger": {"clusters_over": 10}, "waves": [{"name": "a", "clusters": ["alpha"]}]},
    )
    plan = _plan(fleet_copy)
    assert plan.rollout is None and set(_waves(plan).values()) == {None}
    assert to_json_text(plan) == before
    assert '"wave"' not in before and '"rollout"' not in before


def test_a_change_of_a_named_chart_triggers(fleet_copy: Path) -> None:
    _settings(
        fleet_copy,
        {"trigger": {"charts": ["testhub"]}, "waves": [{"name": "a", "clusters": ["gamma"]}]},
    )
    plan = _plan(fleet_copy, ("helm-charts/testhub/values.yaml",))
    assert plan.rollout is not None and plan.rollout.trigger == "chart testhub changed"
    assert _waves(plan)["gamma/prod"] == "a"
    # the same fleet, a change of one hub's values: no wave
    assert _plan(fleet_copy, ("config/clusters/gamma/prod.values.yaml",)).rollout is None


def test_held_hubs_and_a_held_canary(fleet_copy: Path) -> None:
    _hub(fleet_copy, "beta", "staging", hold={"reason": "migrating storage"})
    plan = _plan(fleet_copy)
    assert [(j.label, j.kind, j.reasons[0]) for j in plan.held] == [
        ("beta/staging", "staging", "held: migrating storage")
    ]
    assert "beta/staging" not in _waves(plan)
    assert (
        "beta/staging: canary held back, its cluster's production hubs have no canary"
        in plan.warnings
    )
    text = to_table(plan)
    assert "Held back (not deployed): 1" in text


def test_the_plan_json_round_trip_markdown_and_table(fleet_copy: Path) -> None:
    _hub(fleet_copy, "alpha", "prod2", hold={"reason": "exams"})
    _settings(
        fleet_copy,
        {
            "trigger": {"clusters_over": 1},
            "waves": [{"name": "first", "clusters": ["alpha"], "soak": "30m"}],
        },
    )
    plan = _plan(fleet_copy)
    text = to_json_text(plan)
    again = plan_from_file(JsonFile("plan.json", text, json.loads(text)))
    assert again == plan
    markdown = to_markdown(plan)
    assert "### Rolled out in waves: hubs of 4 clusters upgrade (more than 1)" in markdown
    assert "| first | 3 | 1800s |" in markdown  # support, staging, prod1 (prod2 is held)
    assert "| Cluster | Hub | Provider | Wave | Reasons |" in markdown
    assert "### Held back (hold: in cluster.yaml, not deployed): 1" in markdown
    table = to_table(plan, width=200)
    assert "rolled out in waves (hubs of 4 clusters upgrade (more than 1)): first (3 jobs" in table
    assert "wave" in table


def _edit(path: Path, change: Any) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=1))


def test_a_plan_whose_waves_were_edited_is_refused(fleet_copy: Path) -> None:
    _settings(
        fleet_copy,
        {"trigger": {"clusters_over": 1}, "waves": [{"name": "first", "clusters": ["alpha"]}]},
    )
    plan = _plan(fleet_copy)
    path = fleet_copy / "plan.json"
    path.write_text(to_json_text(plan))
    fleet = load_fleet(fleet_copy).fleet_or_raise()
    assert from_plan(fleet, path).rollout == plan.rollout

    def move(data: dict[str, Any]) -> None:  # a production hub of delta moved first
        for job in data["prod_jobs"]:
            if job["cluster_name"] == "delta":
                job["wave"] = "first"

    _edit(path, move)
    with pytest.raises(HubfleetError, match=r"delta/prod is in wave 'first', the fleet"):
        from_plan(fleet, path, redactor=Redactor())
    path.write_text(to_json_text(plan))  # the jobs as the fleet gives them, a threshold raised
    _edit(path, lambda data: data["rollout"]["waves"][0].update(max_failures=100))
    with pytest.raises(HubfleetError, match=r"the plan's rollout \(its waves, their soak"):
        from_plan(fleet, path, redactor=Redactor())
    _edit(path, lambda data: data["prod_jobs"][0].update(wave="nowhere"))
    with pytest.raises(HubfleetError, match=r"prod_jobs\[0\]: not in a wave of the rollout"):
        from_plan(fleet, path)


def test_only_one_wave_for_ci(fleet_copy: Path) -> None:
    _settings(
        fleet_copy,
        {"trigger": {"clusters_over": 1}, "waves": [{"name": "first", "clusters": ["alpha"]}]},
    )
    path = fleet_copy / "plan.json"
    path.write_text(to_json_text(_plan(fleet_copy)))
    fleet = load_fleet(fleet_copy).fleet_or_raise()
    targets = from_plan(fleet, path)
    by_name, by_number = targets.only_wave("first"), targets.only_wave("1")
    assert by_name == by_number and by_name.rollout is None
    assert {job.cluster for job in by_name.jobs} == {"alpha"}
    assert {job.cluster for job in targets.only_wave("2").jobs} == {"beta", "delta", "gamma"}
    with pytest.raises(HubfleetError, match="the plan has no wave '3'"):
        targets.only_wave("3")
