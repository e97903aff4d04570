"""A deploy rolled out in waves (`rollout:` in hubfleet.yaml, deploy/waves.py): the
order of the waves, the soak, the halt at the threshold with later waves untouched,
isolation inside a wave, held hubs, SIGINT during a soak. Timings are scripted in the
fake helm (`sleep`, `exit`); the waves come from a real `hubfleet plan`.

The test fleet's plan of every cluster in three waves:
  first: cluster alpha (support, its canary staging, prod1, prod2), soak SOAK
  half:  50% of the remaining production hubs (of 3: 2, chosen by digest: delta/prod
         and gamma/prod, with their clusters' support and canaries), one failure tolerated
  rest:  the rest (beta).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import AGE_KEY
from tests.deploy.conftest import DeployEnv, by_job, cluster_rule, release_of
from tests.deploy.test_scheduling import _cluster_of

from hubfleet.base.redact import Redactor
from hubfleet.config.load import load_fleet
from hubfleet.deploy.orchestrator import Deployer, DeployOptions
from hubfleet.deploy.targets import from_plan
from hubfleet.secrets.sops import Sops

CLUSTERS = ("alpha", "beta", "delta", "gamma")
WAVE_OF = {
    "alpha": "first",
    "delta": "half",
    "gamma": "half",
    "beta": "rest",
}


def waves_fleet(denv: DeployEnv, soak: str = "0.6s", first_max: int = 0) -> None:
    path = denv.fleet / "hubfleet.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["rollout"] = {
        "trigger": {"clusters_over": 2},
        "waves": [
            {"name": "first", "clusters": ["alpha"], "soak": soak, "max_failures": first_max},
            {"name": "half", "share": "50%", "max_failures": 1},
        ],
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def hold(denv: DeployEnv, cluster: str, hub: str, reason: str) -> None:
    path = denv.fleet / "config" / "clusters" / cluster / "cluster.yaml"
    doc = yaml.safe_load(path.read_text())
    for entry in doc["hubs"]:
        if entry["name"] == hub:
            entry["hold"] = {"reason": reason}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def make_plan(run_cli: Any, denv: DeployEnv, clusters: tuple[str, ...] = CLUSTERS) -> Path:
    changed = denv.out / "changed.txt"
    changed.write_text("".join(f"config/clusters/{c}/cluster.yaml\n" for c in clusters))
    result = run_cli(
        "--repo", denv.fleet, "plan", "--changed-files", changed, "--output", "json"
    )  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    plan = denv.out / "plan.json"
    plan.write_text(result.stdout)
    return plan


def deploy(run_cli: Any, denv: DeployEnv, plan: Path, *extra: str) -> tuple[Any, dict[str, Any]]:
    report = denv.out / "report.json"
    result = run_cli(
        "--repo", denv.fleet, "deploy", "--plan", plan, "--report", report,
        "--progress", "plain", "--no-health-check", *extra,
    )  # fmt: skip
    return result, json.loads(report.read_text())


def spans(denv: DeployEnv) -> dict[str, tuple[float, float]]:
    """The first start and last end of each wave's helm upgrades."""
    found: dict[str, tuple[float, float]] = {}
    for call in denv.upgrades():
        wave = WAVE_OF[_cluster_of(call)]
        start, end = found.get(wave, (call["start"], call["end"]))
        found[wave] = (min(start, call["start"]), max(end, call["end"]))
    return found


def test_the_plan_puts_each_job_in_its_wave(run_cli: Any, denv: DeployEnv) -> None:
    waves_fleet(denv)
    plan = json.loads(make_plan(run_cli, denv).read_text())
    assert [w["name"] for w in plan["rollout"]["waves"]] == ["first", "half", "rest"]
    assert plan["rollout"]["trigger"] == "hubs of 4 clusters upgrade (more than 2)"
    for key in ("support_jobs", "staging_jobs", "prod_jobs"):
        for job in plan[key]:
            assert job["wave"] == WAVE_OF[job["cluster_name"]], job


def test_waves_run_in_order_and_the_soak_is_respected(run_cli: Any, denv: DeployEnv) -> None:
    waves_fleet(denv, soak="0.8s")
    plan = make_plan(run_cli, denv)
    denv.fakes.script([{"tool": "helm", "args": ["upgrade"], "sleep": 0.1}])
    result, report = deploy(run_cli, denv, plan)
    assert result.exit_code == 0, result.stderr
    assert len(denv.upgrades()) == 13
    found = spans(denv)
    # wave k+1 starts after every upgrade of wave k ended; after `first`, its soak too
    assert found["half"][0] >= found["first"][1] + 0.8
    assert found["rest"][0] >= found["half"][1]
    rollout = report["rollout"]
    assert rollout["stopped"] is None
    assert [(w["name"], w["status"]) for w in rollout["waves"]] == [
        ("first", "succeeded"),
        ("half", "succeeded"),
        ("rest", "succeeded"),
    ]
    assert rollout["waves"][0]["soaked_s"] >= 0.8
    assert "rollout: wave first: soaking for 0.8s before the next wave" in result.stderr
    assert "rollout complete" in result.output
    assert {j["wave"] for j in report["jobs"]} == {"first", "half", "rest"}


def test_canaries_stay_first_inside_each_wave(run_cli: Any, denv: DeployEnv) -> None:
    waves_fleet(denv, soak="0s")
    plan = make_plan(run_cli, denv)
    denv.fakes.script([{"tool": "helm", "args": ["upgrade"], "sleep": 0.1}])
    result, _ = deploy(run_cli, denv, plan)
    assert result.exit_code == 0, result.stderr
    calls = {(_cluster_of(c), release_of(c)): c for c in denv.upgrades()}
    assert calls[("delta", "prod")]["start"] >= calls[("delta", "staging-a")]["end"]
    assert calls[("beta", "research")]["start"] >= calls[("beta", "staging")]["end"]


def test_a_failure_over_the_threshold_halts_the_rollout(run_cli: Any, denv: DeployEnv) -> None:
    waves_fleet(denv)
    plan = make_plan(run_cli, denv)
    summary = denv.out / "summary.md"
    os.environ["GITHUB_STEP_SUMMARY"] = str(summary)
    try:
        denv.fakes.script([cluster_rule("alpha", "prod1", exit=1, stderr="Error: boom")])
        result, report = deploy(run_cli, denv, plan)
    finally:
        del os.environ["GITHUB_STEP_SUMMARY"]
    assert result.exit_code == 1
    # later waves untouched: no helm call at all on their clusters
    assert {_cluster_of(c) for c in denv.upgrades()} == {"alpha"}
    jobs = by_job(report)
    for label, job in jobs.items():
        if WAVE_OF[label.split("/")[0]] != "first":
            assert job["status"] == "skipped", label
            assert job["message"] == "not started: halted after wave first", label
    assert jobs["alpha/prod2"]["status"] == "succeeded"
    stopped = "halted after wave first: 1 of 4 jobs failed (at most 0 tolerated)"
    assert report["rollout"]["stopped"] == stopped
    statuses = [w["status"] for w in report["rollout"]["waves"]]
    assert statuses == ["halted", "not started", "not started"]
    assert f"rollout stopped: {stopped}" in result.output
    assert "wave half: not started: halted after wave first" in result.output
    text = summary.read_text()
    assert "### Rollout in waves" in text
    assert "wave rest: not started: halted after wave first" in text
    # the state the next plan reads
    state = json.loads((denv.fleet / ".hubfleet" / "rollout.json").read_text())
    assert state["stopped"] == stopped
    again = json.loads(make_plan(run_cli, denv).read_text())
    assert f"the last rollout of this checkout stopped: {stopped}" in again["warnings"]


def test_a_failure_within_the_threshold_stays_in_its_cluster(run_cli: Any, denv: DeployEnv) -> None:
    """Wave `half` tolerates one failure: gamma's production hub fails, delta (same
    wave) is not touched by it, and the rollout goes on to `rest`."""
    waves_fleet(denv, soak="0s")
    plan = make_plan(run_cli, denv)
    denv.fakes.script(
        [
            cluster_rule("gamma", "prod", exit=1, stderr="Error: boom", sleep=5.0),
            {"tool": "helm", "args": ["upgrade"], "sleep": 0.1},
        ]
    )
    result, report = deploy(run_cli, denv, plan)
    assert result.exit_code == 1  # a job failed; the rollout still completed
    jobs = by_job(report)
    assert jobs["gamma/prod"]["status"] == "failed"
    assert all(jobs[f"delta/{h}"]["status"] == "succeeded" for h in ("staging-a", "prod"))
    assert jobs["beta/research"]["status"] == "succeeded"
    calls = {(_cluster_of(c), release_of(c)): c for c in denv.upgrades()}
    assert calls[("delta", "prod")]["start"] < calls[("gamma", "prod")]["end"]  # side by side
    assert report["rollout"]["stopped"] is None
    assert [w["failures"] for w in report["rollout"]["waves"]] == [0, 1, 0]
    assert report["rollout"]["waves"][1]["status"] == "passed with failures"
    assert "wave half: passed with failures (6 jobs, 1 failed, at most 1 tolerated)" in (
        result.output
    )


def test_held_hubs_are_not_planned_nor_deployed(run_cli: Any, denv: DeployEnv) -> None:
    hold(denv, "alpha", "prod2", "exam week until 2026-12-20")
    plan_path = make_plan(run_cli, denv, ("alpha",))
    plan = json.loads(plan_path.read_text())
    assert [j["hub_name"] for j in plan["prod_jobs"]] == ["prod1"]
    [held] = plan["held"]
    assert held["hub_name"] == "prod2" and held["kind"] == "prod"
    assert held["reasons"][0] == "held: exam week until 2026-12-20"
    markdown = run_cli(
        "--repo", denv.fleet, "plan", "--from-json", plan_path, "--output", "markdown"
    )
    assert "### Held back (hold: in cluster.yaml, not deployed): 1" in markdown.output
    # named on the command line, a held hub is skipped with its reason
    report_path = denv.out / "cli.json"
    result = run_cli(
        "--repo", denv.fleet, "deploy", "alpha", "--report", report_path,
        "--progress", "plain", "--no-health-check",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    jobs = by_job(json.loads(report_path.read_text()))
    assert jobs["alpha/prod2"]["status"] == "skipped"
    assert jobs["alpha/prod2"]["message"] == "held: exam week until 2026-12-20"
    assert "prod2" not in {release_of(c) for c in denv.upgrades()}
    assert jobs["alpha/prod1"]["status"] == "succeeded"


def test_a_fake_clock_sees_each_soak(run_cli: Any, denv: DeployEnv) -> None:
    """The soak is the deployer's `soak_wait` (a fake clock here): asked once per wave
    with a soak, with the wave's duration, and not after the last wave."""
    path = denv.fleet / "hubfleet.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["rollout"] = {
        "trigger": {"clusters_over": 0},
        "waves": [
            {"name": "one", "clusters": ["alpha"], "soak": "2h"},
            {"name": "two", "clusters": ["delta"], "soak": "30m"},
            {"name": "three", "clusters": ["beta", "gamma"], "soak": "1h"},
        ],
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    plan = make_plan(run_cli, denv)
    fleet = load_fleet(denv.fleet).fleet_or_raise()
    targets = from_plan(fleet, plan)
    asked: list[float] = []

    def fake_wait(cancel: threading.Event, seconds: float) -> bool:
        asked.append(seconds)
        return False

    redactor = Redactor()
    deployer = Deployer(
        fleet,
        targets.jobs,
        sops=Sops(redactor, cwd=fleet.root),
        redactor=redactor,
        options=DeployOptions(health_check=False),
        rollout=targets.rollout,
        soak_wait=fake_wait,
    )
    report = deployer.run()
    assert not report.failed
    assert asked == [7200.0, 1800.0]  # no soak after the last wave holding jobs
    assert report.rollout is not None
    assert [w["name"] for w in report.rollout["waves"]] == ["one", "two", "three"]


def test_sigint_during_a_soak_exits_130_and_says_where(denv: DeployEnv, run_cli: Any) -> None:
    waves_fleet(denv, soak="1h")
    plan = make_plan(run_cli, denv)
    env = {
        **os.environ,
        "TMPDIR": str(denv.tmp),
        "HOME": str(denv.home),
        "SOPS_AGE_KEY_FILE": str(AGE_KEY),
        "PATH": denv.fakes.path,
    }
    report_path = denv.out / "report.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "hubfleet", "--repo", str(denv.fleet), "deploy", "--plan",
         str(plan), "--report", str(report_path), "--progress", "plain", "--no-health-check"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert process.stderr is not None
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        lines.append(line)
        if "soaking for 3600s" in line or not line:
            break
    assert "soaking" in lines[-1], "".join(lines)
    began = time.monotonic()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert time.monotonic() - began < 10
    assert process.returncode == 130, err
    report = json.loads(report_path.read_text())
    assert report["interrupted"] is True
    assert report["rollout"]["stopped"].startswith("interrupted during the soak of wave first (")
    jobs = by_job(report)
    assert {jobs[label]["status"] for label in jobs if label.startswith("alpha/")} == {"succeeded"}
    later = [job for label, job in jobs.items() if not label.startswith("alpha/")]
    assert {job["status"] for job in later} == {"cancelled"}
    assert "rollout stopped: interrupted during the soak of wave first" in out
    assert {_cluster_of(c) for c in denv.upgrades()} == {"alpha"}


@pytest.mark.parametrize(
    ("wave", "error"),
    [
        ({"name": "w", "clusters": ["alpha"], "share": "10%"}, "needs exactly one of"),
        ({"name": "w", "share": "110%"}, "is not a share"),
        ({"name": "rest", "clusters": ["alpha"]}, "implicit last wave"),
        ({"name": "w", "clusters": ["alpha"], "soak": "2 hours"}, "is not a duration"),
    ],
)
def test_a_bad_wave_is_an_error_at_its_line(
    run_cli: Any, denv: DeployEnv, wave: dict[str, Any], error: str
) -> None:
    path = denv.fleet / "hubfleet.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["rollout"] = {"waves": [wave]}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = run_cli("--repo", denv.fleet, "validate")
    assert result.exit_code == 2
    assert "hubfleet.yaml:" in result.output and error in result.output
    assert "Traceback" not in result.output


def test_a_wave_naming_an_unknown_cluster_is_an_error_at_its_line(
    run_cli: Any, denv: DeployEnv
) -> None:
    path = denv.fleet / "hubfleet.yaml"
    text = path.read_text() + (
        "rollout:\n  trigger:\n    clusters_over: 0\n  waves:\n"
        "  - name: w\n    clusters:\n    - alpha\n    - alpah\n"
    )
    path.write_text(text)
    line = text.splitlines().index("    - alpah") + 1
    changed = denv.out / "changed.txt"
    changed.write_text("config/clusters/alpha/cluster.yaml\n")
    expected = f"hubfleet.yaml:{line}: rollout.waves[0] (w): no cluster named 'alpah'"
    result = run_cli("--repo", denv.fleet, "plan", "--changed-files", changed)
    assert result.exit_code == 2
    assert expected in result.stderr
    result = run_cli("--repo", denv.fleet, "validate")
    assert result.exit_code == 2 and expected in result.output
    assert "hint: name clusters of config/clusters/" in result.output


def test_a_dry_run_does_not_soak_nor_write_the_state(run_cli: Any, denv: DeployEnv) -> None:
    waves_fleet(denv, soak="1h")
    plan = make_plan(run_cli, denv)
    began = time.monotonic()
    result, report = deploy(run_cli, denv, plan, "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert time.monotonic() - began < 120
    assert [w["status"] for w in report["rollout"]["waves"]] == ["succeeded"] * 3
    assert report["rollout"]["waves"][0]["soaked_s"] < 1
    assert not (denv.fleet / ".hubfleet" / "rollout.json").exists()


def test_fail_fast_stops_the_rollout_before_the_next_wave(run_cli: Any, denv: DeployEnv) -> None:
    """--fail-fast: a failure tolerated by its wave still stops the rollout."""
    waves_fleet(denv, soak="0s", first_max=5)
    plan = make_plan(run_cli, denv)
    denv.fakes.script([cluster_rule("alpha", "prod1", exit=1, stderr="Error: boom")])
    result, report = deploy(run_cli, denv, plan, "--fail-fast")
    assert result.exit_code == 1
    assert report["rollout"]["stopped"] == "stopped by --fail-fast before wave half"
    assert {_cluster_of(c) for c in denv.upgrades()} == {"alpha"}
    later = [j for label, j in by_job(report).items() if not label.startswith("alpha/")]
    assert {j["status"] for j in later} == {"skipped"}
