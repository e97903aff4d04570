"""The hold of a stopped rollout (`hubfleet.plan.rollout_state`) and of `hold:` in the
live plan (`hubfleet.plan.live`): held hubs get no job from a change or from the live
plan, every untouched hub is listed even when the change does not touch it, a resume
keeps only the untouched hubs in their waves; a hub with `hold:` in cluster.yaml is not
reconciled either. The round trip with a real deploy: tests/deploy/test_rollout_halt.py."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from hubfleet.base.errors import HubfleetError
from hubfleet.config.fleet import Fleet
from hubfleet.plan.job import Job
from hubfleet.plan.live import ClusterState, Declared, Observed, combine, live_plan
from hubfleet.plan.plan import Plan
from hubfleet.plan.rollout_state import (
    HALT_HELD,
    HeldHub,
    RolloutState,
    hold_halted,
    is_halt_held,
    parse_state,
    resume,
)
from hubfleet.plan.waves import Rollout, WaveInfo
from tests.conftest import TEST_FLEET

GIT = "sha256:" + "a" * 64
OLD = "sha256:" + "b" * 64
STATE = RolloutState(
    "c" * 40,
    "d" * 40,
    "halted after wave first: 1 of 4 jobs failed (at most 0 tolerated)",
    (
        HeldHub("alpha", "prod2", "prod", "rest", "gcp"),
        HeldHub("beta", "research", "prod", "rest", "aws"),
    ),
)
ROLLOUT = Rollout((WaveInfo("first", 0, 0), WaveInfo("rest", 0, 0)), "test")


def _plan() -> Plan:
    return Plan(
        support_jobs=(Job("alpha", None, "support", "gcp", ("x",), wave="first"),),
        prod_jobs=(
            Job("alpha", "prod1", "prod", "gcp", ("x",), wave="first"),
            Job("alpha", "prod2", "prod", "gcp", ("x",), wave="rest"),
        ),
        rollout=ROLLOUT,
    )


def test_held_hubs_get_no_job_and_every_one_is_listed() -> None:
    held = hold_halted(_plan(), STATE)
    assert [j.label for j in held.prod_jobs] == ["alpha/prod1"]
    assert [j.label for j in held.support_jobs] == ["alpha/support"]
    assert [j.label for j in held.held] == ["alpha/prod2", "beta/research"]  # beta: untouched
    assert all(
        is_halt_held(j) and j.reasons[0].startswith(HALT_HELD + "cccccccccccc") for j in held.held
    )
    assert held.held[0].wave == "rest" and held.held[1].provider == "aws"
    assert any("resume-rollout" in w and "halted after wave first" in w for w in held.warnings)
    assert held.rollout == ROLLOUT  # the waves stay the fleet's (deploy --plan checks them)


@pytest.mark.parametrize("state", [None, dataclasses.replace(STATE, stopped=None, held=())])
def test_no_state_or_a_completed_rollout_holds_nothing(state: RolloutState | None) -> None:
    assert hold_halted(_plan(), state) == _plan()


def test_resume_keeps_the_untouched_hubs_in_their_waves() -> None:
    resumed = resume(_plan(), STATE)
    assert [j.label for j in resumed.prod_jobs] == ["alpha/prod2"]
    assert resumed.prod_jobs[0].wave == "rest"
    assert resumed.prod_jobs[0].reasons[0].startswith("resuming the rollout of cccccccccccc")
    # its cluster's support release stays
    assert [j.label for j in resumed.support_jobs] == ["alpha/support"]
    assert any("1 held hub(s) get no job" in w for w in resumed.warnings)  # beta/research
    with pytest.raises(HubfleetError, match="no stopped rollout"):
        resume(_plan(), None)


def test_a_live_plan_keeps_the_plans_held_hubs_held(fleet: Fleet) -> None:
    declared = [Declared("alpha", h, "prod", "gcp", GIT) for h in ("prod1", "prod2")]
    behind = Observed("deployed", 3, True, OLD, "1" * 40, "hubfleet/1 ...")
    states = {
        "alpha": ClusterState(
            "alpha", "gcp", {("alpha", "prod1"): behind, ("alpha", "prod2"): behind}
        )
    }
    live = live_plan(fleet, declared, states)
    assert {j.hub for j in live.jobs if j.kind == "prod"} == {"prod1", "prod2"}
    plan = combine(hold_halted(Plan(), STATE), live)
    assert [j.hub for j in plan.prod_jobs] == ["prod1"]
    assert {j.label for j in plan.held} == {"alpha/prod2", "beta/research"}
    assert not combine(Plan(), live).held  # without the hold: both deploy


def test_a_hub_with_hold_is_not_reconciled(fleet: Fleet) -> None:
    cluster = fleet.cluster("alpha")
    hub = cluster.hub("prod2")
    held_hub = dataclasses.replace(hub, hold="exam week")
    held_cluster = dataclasses.replace(
        cluster, hubs=tuple(held_hub if h.name == "prod2" else h for h in cluster.hubs)
    )
    held_fleet = dataclasses.replace(
        fleet, clusters=tuple(held_cluster if c.name == "alpha" else c for c in fleet.clusters)
    )
    declared = [Declared("alpha", "prod2", "prod", "gcp", GIT)]
    live = live_plan(held_fleet, declared, {"alpha": ClusterState("alpha", "gcp", {})})
    assert live.jobs == ()
    assert live_plan(fleet, declared, {"alpha": ClusterState("alpha", "gcp", {})}).jobs


@pytest.mark.parametrize(
    "data",
    [
        {"stopped": "x", "held": [{"cluster_name": "a", "hub_name": "h", "kind": "support",
                                   "wave": "w"}]},
        {"stopped": "x", "held": [{"cluster_name": "a", "hub_name": "h", "kind": "prod",
                                   "wave": "w", "provider": "evil"}]},
        {"stopped": "x" * 301, "held": []},
        {"stopped": "halted\n- injected line", "held": []},
        {"stopped": "x", "held": [{"cluster_name": "a/../b", "hub_name": "h", "kind": "prod",
                                   "wave": "w"}]},
        [],
    ],
)  # fmt: skip
def test_a_state_with_a_bad_field_is_no_state(data: object) -> None:
    assert parse_state(data) is None


def test_a_good_state_reads_back() -> None:
    again = parse_state(STATE.to_json())
    assert again == STATE


def test_resume_with_a_saved_plan_is_refused(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`--resume-rollout` plans from the checkout; with `--from-json` it used to be
    ignored without a word."""
    saved = tmp_path / "plan.json"
    saved.write_text("{}")
    result = run_cli(
        "--repo", TEST_FLEET, "plan", "--from-json", saved, "--resume-rollout", "--output", "json"
    )
    assert result.exit_code == 2, result.output
    assert "--resume-rollout" in result.stderr and "--from-json" in result.stderr
    assert result.stdout == ""
