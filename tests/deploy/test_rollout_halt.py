"""After a halt (docs/deploy.md "After a halt"): a rollout in waves that halts leaves its
later waves untouched, records them (`.hubfleet/rollout.json`), and every next plan
holds them, the live plan included (the stateful fake helm has them behind git), so an
unrelated change does not continue the rollout without waves; `plan --resume-rollout`
plans them in their waves, and a rollout that completes ends the hold.

The fleet and its waves are tests/deploy/test_waves.py's: first (alpha), half (delta and
gamma's production hubs), rest (beta)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.deploy.conftest import DeployEnv, by_job, cluster_rule
from tests.deploy.test_waves import CLUSTERS, WAVE_OF, deploy, waves_fleet
from tests.fakes.helmstate import HelmState

from hubfleet.ci.rollout import parse_results, rollout_summary
from hubfleet.live.record import Record, describe
from hubfleet.plan.plan import read_plan

OLD = Record(commit="1" * 40, digest="sha256:" + "e" * 64)
HUBS = {
    "alpha": ("staging", "prod1", "prod2"),
    "beta": ("staging", "research"),
    "delta": ("staging-a", "staging-b", "prod"),
    "gamma": ("prod",),
}
UNTOUCHED = {f"{c}/{h}" for c, hubs in HUBS.items() if WAVE_OF[c] != "first" for h in hubs}


@pytest.fixture
def helm_state(denv: DeployEnv) -> HelmState:
    """Every hub deployed by hubfleet from inputs git no longer holds: behind git."""
    found = HelmState(denv.out / "clusters")
    for cluster, hubs in HUBS.items():
        for hub in hubs:
            found.seed(cluster, hub, hub, description=describe(OLD))
    denv.fakes.script([], helm_state=found.folder)
    return found


def _plan(run_cli: Any, denv: DeployEnv, name: str, clusters: tuple[str, ...], *extra: str) -> Any:
    changed = denv.out / f"{name}.txt"
    changed.write_text("".join(f"config/clusters/{c}/cluster.yaml\n" for c in clusters))
    result = run_cli(
        "--repo", denv.fleet, "plan", "--changed-files", changed, "--output", "json", *extra
    )  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    path = denv.out / f"{name}.json"
    path.write_text(result.stdout)
    return path, json.loads(result.stdout)


def _jobs(plan: dict[str, Any]) -> set[str]:
    return {
        f"{j['cluster_name']}/{j['hub_name']}"
        for key in ("staging_jobs", "prod_jobs")
        for j in plan[key]
    }


def _held(plan: dict[str, Any]) -> dict[str, str]:
    return {f"{j['cluster_name']}/{j['hub_name']}": j["reasons"][0] for j in plan.get("held", [])}


def _halt(run_cli: Any, denv: DeployEnv) -> dict[str, Any]:
    """The rollout of every cluster, halted after its first wave (alpha/prod1 fails)."""
    waves_fleet(denv)
    path, _ = _plan(run_cli, denv, "rollout", tuple(CLUSTERS))
    denv.fakes.script(
        [cluster_rule("alpha", "prod1", exit=1, stderr="Error: boom")],
        helm_state=denv.out / "clusters",
    )
    result, report = deploy(run_cli, denv, path)
    assert result.exit_code == 1
    assert report["rollout"]["stopped"].startswith("halted after wave first")
    denv.fakes.script([], helm_state=denv.out / "clusters")
    state = json.loads((denv.fleet / ".hubfleet" / "rollout.json").read_text())
    return state


def test_a_halt_records_the_untouched_hubs(
    run_cli: Any, denv: DeployEnv, helm_state: HelmState
) -> None:
    state = _halt(run_cli, denv)
    held = {f"{h['cluster_name']}/{h['hub_name']}": h["wave"] for h in state["held"]}
    assert set(held) == UNTOUCHED
    assert all(wave == WAVE_OF[label.split("/")[0]] for label, wave in held.items())
    assert state["stopped"].startswith("halted after wave first")
    assert state["commit"] == "uncommitted"  # the test fleet is no git checkout
    assert "SOPS" not in json.dumps(state) and "sops" not in json.dumps(state)


def _ci_state(denv: DeployEnv) -> None:
    """The state as CI records it (the deploy workflow's rollout summary, from the same
    plan, wave 1's gate failed: `hubfleet ci rollout-summary`), in place of the local
    one: the plan job downloads the artifact to the same file."""
    results = {"plan": {"result": "success"}, "wave-1": {"result": "failure"},
               "wave-1-gate": {"result": "failure"}}  # fmt: skip
    summary = rollout_summary(
        read_plan(denv.out / "rollout.json"), parse_results(json.dumps(results)),
        denv.out / "no-reports", "f" * 40,
    )  # fmt: skip
    assert summary.state is not None and not summary.ok
    text = json.dumps(summary.state.to_json())
    (denv.fleet / ".hubfleet" / "rollout.json").write_text(text)


@pytest.mark.parametrize("recorded_by", ["local deploy", "ci"])
def test_the_next_plan_holds_them_live_too_and_resume_completes(
    run_cli: Any, denv: DeployEnv, helm_state: HelmState, recorded_by: str
) -> None:
    _halt(run_cli, denv)
    commit = "uncommitted"
    if recorded_by == "ci":
        _ci_state(denv)
        commit = "f" * 12
    # An unrelated change to alpha, with the live plan of every cluster: without the
    # hold, the reconcile would bring beta, delta and gamma (behind git) up to git.
    _, plan = _plan(run_cli, denv, "next", ("alpha",), "--live")
    held = _held(plan)
    assert set(held) == UNTOUCHED
    for reason in held.values():
        assert reason.startswith(f"held: rollout of {commit} halted after wave first")
        assert "hubfleet plan --resume-rollout" in reason
    assert not _jobs(plan) & UNTOUCHED
    assert "alpha/prod1" in _jobs(plan)  # the failed hub: retried by the live plan
    assert any("halted after wave first" in w and "held" in w for w in plan["warnings"])
    # CI's cluster deploy job: the saved plan again, with its cluster's live plan (no
    # state file there): the plan's `held` keeps them held.
    state_file = denv.fleet / ".hubfleet" / "rollout.json"
    saved = state_file.read_text()
    state_file.unlink()
    again = run_cli(
        "--repo", denv.fleet, "plan", "--from-json", denv.out / "next.json", "--live",
        "--cluster", "beta", "--output", "json",
    )  # fmt: skip
    assert again.exit_code == 0, again.output + again.stderr
    assert not _jobs(json.loads(again.stdout)) & UNTOUCHED
    shown = run_cli("--repo", denv.fleet, "plan", "--from-json", denv.out / "next.json",
                    "--output", "markdown")  # fmt: skip
    assert shown.exit_code == 0 and "halted after wave first" in shown.stdout

    # The teeth: the same plan without the state deploys them (live: behind git).
    _, unheld = _plan(run_cli, denv, "unheld", ("alpha",), "--live")
    assert _jobs(unheld) >= UNTOUCHED
    state_file.write_text(saved)

    # Resume: the untouched hubs only, in their waves, accepted by deploy --plan.
    path, resumed = _plan(run_cli, denv, "resume", tuple(CLUSTERS), "--resume-rollout")
    assert _jobs(resumed) == UNTOUCHED
    for key in ("support_jobs", "staging_jobs", "prod_jobs"):
        for job in resumed[key]:
            assert job["wave"] == WAVE_OF[job["cluster_name"]]
            assert job["reasons"][0].startswith(f"resuming the rollout of {commit}")
    assert "alpha" not in {j["cluster_name"] for j in resumed["support_jobs"]}
    result, report = deploy(run_cli, denv, path)
    assert result.exit_code == 0, result.output + result.stderr
    assert {label for label, job in by_job(report).items() if job["status"] == "succeeded"} >= (
        UNTOUCHED
    )
    state = json.loads(state_file.read_text())
    assert state["stopped"] is None and state["held"] == []

    # Completed: nothing held any more.
    _, after = _plan(run_cli, denv, "after", ("alpha",), "--live")
    assert not _held(after)
    assert not any("held" in w and "rollout" in w for w in after["warnings"])


def test_resume_without_a_halt_is_an_error(run_cli: Any, denv: DeployEnv) -> None:
    waves_fleet(denv)
    changed = denv.out / "c.txt"
    changed.write_text("config/clusters/alpha/cluster.yaml\n")
    result = run_cli(
        "--repo", denv.fleet, "plan", "--changed-files", changed, "--resume-rollout"
    )  # fmt: skip
    assert result.exit_code == 2
    assert "no stopped rollout to resume" in result.stderr


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        json.dumps({"stopped": "halted", "held": [{"cluster_name": "../x", "hub_name": "h",
                                                    "kind": "prod", "wave": "w"}]}),
        json.dumps({"stopped": "halted", "held": "everything"}),
        json.dumps({"stopped": 5, "held": []}),
    ],
)  # fmt: skip
def test_an_unusable_state_holds_nothing(run_cli: Any, denv: DeployEnv, text: str) -> None:
    waves_fleet(denv)
    (denv.fleet / ".hubfleet").mkdir(exist_ok=True)
    (denv.fleet / ".hubfleet" / "rollout.json").write_text(text)
    _, plan = _plan(run_cli, denv, "p", tuple(CLUSTERS))
    assert not _held(plan)
    assert _jobs(plan) >= UNTOUCHED
