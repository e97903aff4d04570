"""The reconciling plan's rules (`hubfleet.plan.live`), with hand-made live states: each
state of a release gives its job and reason, or none; a rolled-back hub is held while git
holds the inputs that were rolled back, and retried with --retry or changed inputs; the
canary rule; the union with a change-based plan; the plan JSON version 3 and its reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubfleet.base.errors import HubfleetError
from hubfleet.config.fleet import Fleet
from hubfleet.plan.job import Job
from hubfleet.plan.live import (
    HELD_HINT,
    ClusterState,
    Declared,
    Observed,
    RolledBack,
    combine,
    is_held,
    live_plan,
    read_states,
    verdict,
)
from hubfleet.plan.plan import CommunityDecision, HubVerdict, Plan, Planned, read_plan
from hubfleet.plan.schema import check_plan_json

GIT = "sha256:" + "a" * 64
OLD = "sha256:" + "b" * 64
BAD = "sha256:" + "c" * 64
C1 = "1" * 40
C2 = "2" * 40


def ours(digest: str = GIT, *, status: str = "deployed", revision: int = 3) -> Observed:
    return Observed(status, revision, True, digest, C1, "hubfleet/1 ...")


def declared(hub: str | None = "prod1", kind: str = "prod", digest: str = GIT) -> Declared:
    return Declared("alpha", hub, kind, "gcp", digest)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("observed", "state", "words"),
    [
        (None, "job", "never deployed"),
        (ours(status="uninstalled"), "job", "never deployed"),
        (ours(), "in-sync", "in sync"),
        (ours(OLD), "job", "behind git: revision 3 runs commit 111111111111"),
        (ours(status="failed"), "job", "helm status failed at revision 3"),
        (ours(status="pending-upgrade"), "job", "pending-upgrade at revision 3"),
        (Observed("deployed", 4, False, None, None, "by alice"), "job", "changed by hand"),
        # a hand upgrade with git's values is still a hand change: its description says so
        (Observed("deployed", 4, False, None, None, "Upgrade complete"), "job", "by hubfleet"),
    ],
)
def test_each_state_gives_its_verdict(observed: Observed | None, state: str, words: str) -> None:
    found, reason = verdict(declared(), observed, retry=False)
    assert found == state
    assert words in reason


def test_a_hand_description_is_cut_and_kept_on_one_line() -> None:
    long = "line one\n" + "x" * 500
    _, reason = verdict(declared(), Observed("deployed", 2, False, None, None, long), retry=False)
    assert "\n" not in reason
    assert len(reason) < 140


def _rolled_back(undone: str | None, running: str = OLD) -> Observed:
    return Observed("deployed", 5, True, running, C1, "Rollback to 3", RolledBack(C2, undone))


def test_a_rollback_of_gits_inputs_is_held_and_retried_on_request() -> None:
    found, reason = verdict(declared(digest=BAD), _rolled_back(BAD), retry=False)
    assert found == "held"
    assert reason == f"rolled back at {C2[:12]}, {HELD_HINT}"
    found, reason = verdict(declared(digest=BAD), _rolled_back(BAD), retry=True)
    assert (found, reason) == ("job", f"rolled back at {C2[:12]}; retried (--retry)")


def test_a_rollback_is_deployed_again_when_the_inputs_change() -> None:
    found, reason = verdict(declared(digest=GIT), _rolled_back(BAD), retry=False)
    assert found == "job"
    assert "inputs changed since" in reason


def test_a_rollback_whose_bad_change_git_reverted_is_in_sync() -> None:
    assert verdict(declared(digest=OLD), _rolled_back(BAD), retry=False)[0] == "in-sync"


def test_a_rollback_of_unrecorded_inputs_is_held_on_the_safe_side() -> None:
    found, reason = verdict(declared(digest=GIT), _rolled_back(None), retry=False)
    assert found == "held"
    assert "not recorded" in reason


def _state(**releases: Observed | None) -> dict[str, ClusterState]:
    found = {("alpha", None if k == "support" else k): v for k, v in releases.items() if v}
    return {"alpha": ClusterState("alpha", "gcp", found)}


def _declared_alpha(**digests: str) -> list[Declared]:
    kinds = {"support": "support", "staging": "staging", "prod1": "prod", "prod2": "prod"}
    return [
        declared(None if hub == "support" else hub, kind, digests.get(hub, GIT))
        for hub, kind in kinds.items()
    ]


def test_live_plan_gives_the_differing_releases_and_their_canaries(fleet: Fleet) -> None:
    states = _state(support=ours(), staging=ours(), prod1=ours(OLD), prod2=ours())
    live = live_plan(fleet, _declared_alpha(), states)
    assert [(j.hub, j.kind) for j in live.jobs] == [("staging", "staging"), ("prod1", "prod")]
    staging = live.jobs[0]
    assert staging.reasons == ("canary: guards production hubs prod1 of cluster alpha",)
    assert live.jobs[1].reasons[0].startswith("live: behind git")
    assert live.scope.clusters == ("alpha",)
    assert live.held == ()


def test_a_held_canary_is_not_a_canary(fleet: Fleet) -> None:
    states = _state(support=ours(), staging=_rolled_back(BAD), prod1=ours(OLD), prod2=ours())
    live = live_plan(fleet, _declared_alpha(staging=BAD), states)
    assert [j.hub for j in live.jobs] == ["prod1"]
    assert [j.hub for j in live.held] == ["staging"]
    assert is_held(live.held[0])
    assert any("without a canary" in w for w in live.warnings)


def test_an_unreadable_cluster_is_isolated(fleet: Fleet) -> None:
    def reader(name: str) -> ClusterState:
        if name == "beta":
            raise HubfleetError("cannot reach the cluster\nmore detail")
        return ClusterState(name, "gcp", {("alpha", None): ours()})

    states = read_states(["alpha", "beta"], reader, {"beta": "aws"})
    assert states["beta"].error == "cannot reach the cluster"
    live = live_plan(fleet, _declared_alpha(), states)
    assert live.scope.clusters == ("alpha",)
    assert [(u.cluster, u.provider) for u in live.scope.unreachable] == [("beta", "aws")]
    # never deployed, each of alpha's hubs; the support release is in sync
    assert {j.hub for j in live.jobs} == {"staging", "prod1", "prod2"}


def _change_plan() -> Plan:
    return Plan(
        prod_jobs=(Job("alpha", "prod1", "prod", "gcp", ("prod1.values.yaml changed",)),),
        skipped=(Job("beta", None, "cluster", "aws", ("provider_url changed",)),),
        planned=Planned(changes=()),
    )


def test_combine_is_the_union_with_merged_reasons(fleet: Fleet) -> None:
    states = _state(support=None, staging=ours(), prod1=ours(OLD), prod2=_rolled_back(GIT))
    live = live_plan(fleet, _declared_alpha(), states)
    plan = combine(_change_plan(), live)
    assert [j.cluster for j in plan.support_jobs] == ["alpha"]
    prod1 = plan.prod_jobs[0]
    assert prod1.reasons[0] == "prod1.values.yaml changed"  # the change's first
    assert prod1.reasons[1].startswith("live: behind git")
    assert [j.hub for j in plan.prod_jobs] == ["prod1"]
    assert [(j.cluster, j.hub) for j in plan.skipped] == [("alpha", "prod2"), ("beta", None)]
    assert plan.live is not None and plan.live.clusters == ("alpha",)
    data = plan.to_json()
    assert data["version"] == 3
    assert data["live"] == {"clusters": ["alpha"], "retry": False, "unreachable": []}


def test_a_changed_hub_is_not_held(fleet: Fleet) -> None:
    """The change deploys a held hub (a changed input is a new attempt): not skipped."""
    states = _state(support=ours(), staging=ours(), prod1=_rolled_back(GIT), prod2=ours())
    plan = combine(_change_plan(), live_plan(fleet, _declared_alpha(), states))
    assert [j.hub for j in plan.prod_jobs] == ["prod1"]
    assert not any(is_held(j) for j in plan.skipped)


def test_a_community_plan_gets_no_live_jobs(fleet: Fleet) -> None:
    community = CommunityDecision(True, True, (), hubs=(HubVerdict("alpha", "prod1", (), None),))
    plan = Plan(
        prod_jobs=(Job("alpha", "prod1", "prod", "gcp", ("x",)),),
        community=community,
        planned=Planned(changes=()),
    )
    live = live_plan(fleet, _declared_alpha(), _state(support=None))
    combined = combine(plan, live)
    assert [j.hub for j in combined.prod_jobs] == ["prod1"]
    assert combined.support_jobs == ()
    assert any("community-only change" in w for w in combined.warnings)


def test_a_plan_without_live_stays_version_2() -> None:
    assert _change_plan().to_json()["version"] == 2


def test_version_3_reads_back_and_passes_its_schema(fleet: Fleet, tmp_path: Path) -> None:
    states = _state(support=ours(), staging=_rolled_back(GIT), prod1=ours(OLD), prod2=ours())
    plan = combine(_change_plan(), live_plan(fleet, _declared_alpha(), states, retry=False))
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan.to_json(), indent=2))
    assert check_plan_json(plan.to_json(), "plan.json") == []
    again = read_plan(path, schema=True)
    assert again.live == plan.live
    assert again.prod_jobs == plan.prod_jobs
    assert [is_held(j) for j in again.skipped] == [True, False]


@pytest.mark.parametrize(
    ("live", "version", "words"),
    [
        ({"clusters": ["a"], "retry": False, "unreachable": []}, 2, "live needs plan version 3"),
        ({"clusters": ["a", "a"], "retry": False, "unreachable": []}, 3, "distinct"),
        ({"clusters": ["a"], "retry": "yes", "unreachable": []}, 3, "live.retry must be"),
        ({"clusters": ["a"], "retry": False, "unreachable": [{}]}, 3, "cluster_name"),
    ],
)
def test_a_bad_live_section_is_refused_at_its_line(
    tmp_path: Path, live: object, version: int, words: str
) -> None:
    data = {"version": version, "support_jobs": [], "staging_jobs": [], "prod_jobs": []}
    data["live"] = live  # type: ignore[assignment]
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data, indent=2))
    with pytest.raises(HubfleetError) as caught:
        read_plan(path)
    assert words in caught.value.message
    assert caught.value.line is not None and caught.value.line > 1


def test_a_newer_version_is_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"version": 4, "support_jobs": []}))
    with pytest.raises(HubfleetError, match="newer than this hubfleet reads"):
        read_plan(path)
