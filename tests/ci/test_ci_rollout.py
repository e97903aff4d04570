"""A rollout in waves across CI runs (`hubfleet.ci.rollout`, docs/ci.md "After a halt"):
the plan job finds the last state's run through a fake `gh` (this repository's default
branch only: never a fork's, an expired or another branch's artifact); the summary after
the chain merges every wave's reports (a cluster in two waves keeps one report each) in
the unwaved summary's format, says which waves passed, halted or were left untouched,
and writes the state the next plan holds the untouched hubs from (the same format as a
local deploy's); a completed rollout clears it. The workflow steps run with the real
hubfleet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hubfleet.ci.rollout import find_state_run, parse_results, rollout_summary
from hubfleet.plan.job import Job
from hubfleet.plan.plan import Plan, read_plan
from hubfleet.plan.rollout_state import hold_halted, parse_state, resume
from tests.ci.ci_helpers import bash, step
from tests.fakes import FakeTools
from tests.fakes import fake_tools as fake_tools  # fixture

REPO_ID = 11


def _artifact(run_id: int, created: str, **over: Any) -> dict[str, Any]:
    workflow_run = {"id": run_id, "repository_id": REPO_ID, "head_repository_id": REPO_ID,
                    "head_branch": "main"}  # fmt: skip
    workflow_run |= over.pop("run", {})
    return {"name": "hubfleet-rollout", "expired": False, "created_at": created,
            "workflow_run": workflow_run, **over}  # fmt: skip


ARTIFACTS = [
    _artifact(5, "2026-12-01T10:00:00Z"),
    _artifact(9, "2026-12-03T10:00:00Z"),  # the newest of the repository's own main
    _artifact(12, "2026-12-04T10:00:00Z", run={"head_repository_id": 99}),  # a fork's
    _artifact(13, "2026-12-05T10:00:00Z", expired=True),
    _artifact(14, "2026-12-06T10:00:00Z", run={"head_branch": "feature"}),
    _artifact(15, "2026-12-07T10:00:00Z", name="hubfleet-plan"),
]


def _gh(fakes: FakeTools, artifacts: list[dict[str, Any]]) -> None:
    body = json.dumps({"total_count": len(artifacts), "artifacts": artifacts})
    fakes.script([{"tool": "gh", "args": ["api"], "stdout": body}])


def test_the_newest_state_of_the_default_branch_itself(fake_tools: FakeTools) -> None:
    _gh(fake_tools, ARTIFACTS)
    calls: list[list[str]] = []

    def gh(words: Any, stdin: str | None) -> str:
        import subprocess

        calls.append(list(words))
        return subprocess.run(["gh", *words], capture_output=True, text=True, check=True).stdout

    assert find_state_run(gh, "org/fleet", "main") == 9
    assert calls == [
        ["api", "repos/org/fleet/actions/artifacts?name=hubfleet-rollout&per_page=100"]
    ]
    _gh(fake_tools, ARTIFACTS[2:])
    assert find_state_run(gh, "org/fleet", "main") is None


@pytest.mark.parametrize(("repository", "branch"), [("org/../x", "main"), ("org", "main"),
                                                     ("org/fleet", "-x"), ("org/fleet", "a..b")])  # fmt: skip
def test_hostile_names_never_reach_gh(repository: str, branch: str) -> None:
    def gh(words: Any, stdin: str | None) -> str:
        raise AssertionError("gh called")

    with pytest.raises(Exception, match="is not a"):
        find_state_run(gh, repository, branch)


def test_the_plan_jobs_step_writes_the_run_id(
    tmp_path: Path, deploy: dict[str, Any], fake_tools: FakeTools
) -> None:
    _gh(fake_tools, ARTIFACTS)
    out = tmp_path / "github_output"
    out.write_text("")
    plan_job = deploy["jobs"]["plan"]
    script = step(plan_job, id="rollout")["run"]
    env = {"GITHUB_OUTPUT": str(out), "GH_TOKEN": "t0ken", "REPOSITORY": "org/fleet",
           "DEFAULT_BRANCH": "main"}  # fmt: skip
    result = bash(script, cwd=tmp_path, env=env, path_first=[fake_tools.bin_dir])
    assert result.returncode == 0, result.stderr
    assert out.read_text() == "run-id=9\n"
    assert fake_tools.calls("gh")[0]["env"]["GH_TOKEN"] == "t0ken"
    download = step(plan_job, name="Download the last rollout's state")
    assert download["if"] == "steps.rollout.outputs.run-id != ''"
    assert download["with"]["run-id"] == "${{ steps.rollout.outputs.run-id }}"
    assert download["with"]["name"] == "hubfleet-rollout"
    assert download["with"]["path"] == ".hubfleet"  # where `hubfleet plan` reads it


# ---------------------------------------------------------------- the summary

WAVES = ("first", "second", "third")


def _job(cluster: str, hub: str | None, wave: str, provider: str = "gcp") -> dict[str, Any]:
    entry: dict[str, Any] = {"cluster_name": cluster, "provider": provider, "reasons": ["x"],
                             "choice_reason": "x", "wave": wave}  # fmt: skip
    if hub is not None:
        entry["hub_name"] = hub
    return entry


def _plan_file(tmp_path: Path) -> Path:
    """a: first and third wave (one cluster, two waves); b: second; c: third."""
    plan = {
        "version": 2,
        "support_jobs": [_job("a", None, "first"), _job("b", None, "second", "aws"),
                         _job("c", None, "third")],
        "staging_jobs": [_job("a", "staging", "first")],
        "prod_jobs": [_job("a", "p1", "first"), _job("a", "p3", "third"),
                      _job("b", "p", "second", "aws"), _job("c", "p", "third")],
        "planned": {"base": "a" * 40, "head": "b" * 40, "labels": [], "changes": []},
        "rollout": {"trigger": "chart basehub changed", "waves": [
            {"name": "first", "soak_s": 0, "max_failures": 0},
            {"name": "second", "soak_s": 0, "max_failures": 1},
            {"name": "third", "soak_s": 0, "max_failures": 0}]},
    }  # fmt: skip
    path = tmp_path / "hubfleet-plan" / "plan.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(plan))
    return path


def _report(root: Path, cluster: str, wave: int, statuses: dict[str, str]) -> None:
    folder = root / f"hubfleet-report-{cluster}-wave-{wave}"
    folder.mkdir(parents=True)
    jobs = [
        {"cluster_name": cluster, "hub_name": None if hub == "support" else hub,
         "kind": "support" if hub == "support" else ("staging" if hub == "staging" else "prod"),
         "status": status}
        for hub, status in statuses.items()
    ]  # fmt: skip
    (folder / f"{cluster}.json").write_text(json.dumps({"jobs": jobs}))


def _results(*gates: str) -> str:
    found: dict[str, Any] = {"plan": {"result": "success"}}
    for k in range(1, 7):
        gate = gates[k - 1] if k <= len(gates) else "skipped"
        found[f"wave-{k}"] = {"result": "skipped" if gate == "skipped" else "success"}
        found[f"wave-{k}-gate"] = {"result": gate}
    return json.dumps(found)


def _summary_step(tmp_path: Path, deploy: dict[str, Any], results: str) -> Any:
    script = step(deploy["jobs"]["rollout-summary"], name="Merge the waves' reports")["run"]
    summary = tmp_path / "step-summary.md"
    env = {"RESULTS": results, "COMMIT": "b" * 40, "GITHUB_STEP_SUMMARY": str(summary)}
    return bash(script, cwd=tmp_path, env=env), summary


def test_a_halted_rollout_says_where_and_records_the_untouched_hubs(
    tmp_path: Path, deploy: dict[str, Any]
) -> None:
    plan_path = _plan_file(tmp_path)
    waves = tmp_path / "hubfleet-waves"
    _report(waves, "a", 1, {"support": "succeeded", "staging": "succeeded", "p1": "succeeded"})
    # wave 2: b's deploy could not run (exit 2: no report); 2 jobs failed, 1 tolerated
    result, summary = _summary_step(tmp_path, deploy, _results("success", "failure"))
    assert result.returncode == 1, result.stderr
    text = summary.read_text()
    assert "| 1 | first | passed | 3 | 0 | 0 |" in text
    assert "| 2 | second | halted | 2 | 2 | 1 |" in text
    assert "| 3 | third | not started: halted after wave second | 3 | 0 | 0 |" in text
    assert "**The rollout halted at wave 2 (second)**" in text
    assert "### Wave 1: first (passed)" in text and "### Wave 2: second (halted)" in text
    assert "no report: the job failed before deploying or was cancelled" in text
    assert "- a/p3 (prod, wave third)" in text and "- c/p (prod, wave third)" in text
    state = json.loads((tmp_path / "hubfleet-rollout" / "rollout.json").read_text())
    assert state["commit"] == "b" * 40 and state["base"] == "a" * 40
    assert state["stopped"] == "halted after wave second: 2 of 2 jobs failed (at most 1 tolerated)"
    assert {(h["cluster_name"], h["hub_name"], h["wave"]) for h in state["held"]} == {
        ("a", "p3", "third"),
        ("c", "p", "third"),
    }
    # The next run's plan holds them (the same format as a local deploy's state).
    parsed = parse_state(state)
    assert parsed is not None and parsed.halted
    later = Plan(prod_jobs=(Job("c", "p", "prod", "gcp", ("live: behind git",)),
                            Job("b", "p", "prod", "aws", ("a change",))))  # fmt: skip
    held = hold_halted(later, parsed)
    assert [j.label for j in held.prod_jobs] == ["b/p"]
    assert {j.label for j in held.held} == {"a/p3", "c/p"}
    assert all(j.reasons[0].startswith("held: rollout of bbbbbbbbbbbb halted after wave second")
               for j in held.held)  # fmt: skip
    # Resume: of the plan from the same base, only the untouched hubs, in their waves.
    again = resume(read_plan(plan_path), parsed)
    assert {j.label for j in again.prod_jobs} == {"a/p3", "c/p"}
    assert {j.wave for j in again.prod_jobs} == {"third"}


def test_a_cluster_that_could_not_deploy_within_the_threshold_passes_its_wave(
    tmp_path: Path, deploy: dict[str, Any]
) -> None:
    _plan_file(tmp_path)
    waves = tmp_path / "hubfleet-waves"
    _report(waves, "a", 1, {"support": "succeeded", "staging": "succeeded", "p1": "succeeded"})
    _report(waves, "b", 2, {"support": "succeeded", "p": "failed"})
    _report(waves, "a", 3, {"p3": "succeeded"})  # a second report of cluster a: wave 3's
    _report(waves, "c", 3, {"support": "succeeded", "p": "succeeded"})
    result, summary = _summary_step(tmp_path, deploy, _results("success", "success", "success"))
    text = summary.read_text()
    assert "| 2 | second | passed with failures | 2 | 1 | 1 |" in text
    assert "| 3 | third | passed | 3 | 0 | 0 |" in text
    assert "The rollout completed: every wave ran." in text
    assert result.returncode == 1  # a job failed: the summary says so, as unwaved runs do
    state = json.loads((tmp_path / "hubfleet-rollout" / "rollout.json").read_text())
    assert state["stopped"] is None and state["held"] == []  # the hold ends


def test_a_completed_rollout_clears_the_state(tmp_path: Path, deploy: dict[str, Any]) -> None:
    _plan_file(tmp_path)
    waves = tmp_path / "hubfleet-waves"
    _report(waves, "a", 1, {"support": "succeeded", "staging": "succeeded", "p1": "succeeded"})
    _report(waves, "b", 2, {"support": "succeeded", "p": "succeeded"})
    _report(waves, "a", 3, {"p3": "succeeded"})
    _report(waves, "c", 3, {"support": "unchanged", "p": "succeeded"})
    result, _ = _summary_step(tmp_path, deploy, _results("success", "success", "success"))
    assert result.returncode == 0, result.stdout + result.stderr
    state = parse_state(json.loads((tmp_path / "hubfleet-rollout" / "rollout.json").read_text()))
    assert state is not None and not state.halted
    assert hold_halted(Plan(prod_jobs=(Job("c", "p", "prod", "gcp"),)), state).held == ()


def test_a_run_completing_while_an_earlier_halt_holds_keeps_that_state(tmp_path: Path) -> None:
    plan = read_plan(_plan_file(tmp_path))
    earlier = parse_state({"commit": "c" * 40, "base": None, "stopped": "halted after wave x",
                           "held": [{"cluster_name": "z", "hub_name": "h", "kind": "prod",
                                     "wave": "x", "provider": "gcp"}]})  # fmt: skip
    assert earlier is not None
    held_plan = hold_halted(plan, earlier)
    results = parse_results(_results("success", "success", "success"))
    done = rollout_summary(held_plan, results, tmp_path / "none", "d" * 40, earlier)
    assert done.state == earlier
    assert "1 hub(s) stay held by an earlier halted rollout" in done.markdown


def test_a_cancelled_wave_stops_the_rollout_and_holds_the_rest(tmp_path: Path) -> None:
    plan = read_plan(_plan_file(tmp_path))
    results = parse_results(_results("success", "cancelled"))
    done = rollout_summary(plan, results, tmp_path / "none", "d" * 40)
    assert not done.ok and done.state is not None
    assert done.state.stopped == "stopped at wave second: its gate did not run to the end"
    assert {(h.cluster, h.hub) for h in done.state.held} == {("a", "p3"), ("c", "p")}


def test_a_hostile_trigger_is_escaped(tmp_path: Path) -> None:
    path = _plan_file(tmp_path)
    data = json.loads(path.read_text())
    data["rollout"]["trigger"] = "x | y <script> ](http://evil) @team\n- injected"
    path.write_text(json.dumps(data))
    done = rollout_summary(read_plan(path), parse_results(_results("failure")), tmp_path, "e" * 40)
    assert "<script>" not in done.markdown and "\n- injected" not in done.markdown
    assert "](http://evil)" not in done.markdown
    assert "| 1 | first | halted |" in done.markdown


def test_a_gate_that_failed_on_its_own_still_halts(tmp_path: Path) -> None:
    """The gate's verdict stands even when the reports here count no failure (its own
    step failed, e.g. a download): the rollout halted, and the state says so."""
    plan = read_plan(_plan_file(tmp_path))
    waves = tmp_path / "hubfleet-waves"
    _report(waves, "a", 1, {"support": "succeeded", "staging": "succeeded", "p1": "succeeded"})
    done = rollout_summary(plan, parse_results(_results("failure")), waves, "e" * 40)
    assert done.state is not None and not done.ok
    assert done.state.stopped == (
        "halted after wave first: its gate failed; the reports say 0 of 3 jobs failed "
        "(at most 0 tolerated)"
    )
    assert {(h.cluster, h.hub) for h in done.state.held} == {("b", "p"), ("a", "p3"), ("c", "p")}
