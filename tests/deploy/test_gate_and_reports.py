"""Canary gate with a health check, reports (JSON, JUnit, step summary), pending releases, input."""

from __future__ import annotations

import io
import json
import threading
import xml.etree.ElementTree as ET
from typing import Any

from tests.deploy.conftest import DeployEnv, by_job, cluster_rule, deployer, release_of
from tests.health.kube import set_health_check

from hubfleet.base.redact import Redactor
from hubfleet.deploy.model import JobRecord
from hubfleet.deploy.orchestrator import DeployOptions
from hubfleet.deploy.output import PlainLines
from hubfleet.health.gate import HealthRequest, HealthResult
from hubfleet.plan.job import Job


def test_health_check_failure_skips_production(denv: DeployEnv) -> None:
    seen: list[str] = []

    def check(request: HealthRequest) -> HealthResult:
        seen.append(f"{request.hub.cluster}/{request.hub.name}")
        assert request.credentials.kubeconfig.exists()  # inside the cluster's block
        ok = request.hub.cluster != "alpha"
        return HealthResult(ok, "" if ok else "hub API answered 503")

    report = deployer(denv, ["alpha", "beta"], health_checks={"gcp": check, "aws": check}).run()
    jobs = {r.job.label: r for r in report.records}
    # The canaries, then beta's production hub after its upgrade (alpha's was skipped).
    assert sorted(seen) == ["alpha/staging", "beta/research", "beta/staging"]
    assert jobs["alpha/staging"].status == "failed"
    assert "503" in jobs["alpha/staging"].message
    assert jobs["alpha/staging"].gate == "health-check"
    assert {jobs["alpha/prod1"].status, jobs["alpha/prod2"].status} == {"skipped"}
    assert jobs["beta/research"].status == "succeeded"
    assert report.exit_code == 1
    assert report.health_check == "aws: health check, gcp: health check"


def test_interrupt_during_health_check_cancels_production(denv: DeployEnv) -> None:
    cancel = threading.Event()

    def interrupted(request: HealthRequest) -> HealthResult:
        assert request.cancel is cancel
        assert request.credentials.env["PATH"] == denv.fakes.path  # what helm runs with
        cancel.set()  # Ctrl-C while the check runs: it answers a failure
        return HealthResult(False, "cancelled during the health check")

    options = DeployOptions(extra_env={"PATH": denv.fakes.path})
    report = deployer(
        denv, ["alpha"], health_checks={"gcp": interrupted}, cancel=cancel, options=options
    ).run()
    jobs = {r.job.label: r for r in report.records}
    assert report.interrupted and report.exit_code == 130
    # Its upgrade succeeded, but it never passed the gate: --retry-failed runs it again.
    assert jobs["alpha/staging"].status == "cancelled"
    assert jobs["alpha/staging"].message == "interrupted during its health check"
    assert {jobs["alpha/prod1"].status, jobs["alpha/prod2"].status} == {"cancelled"}


def test_canaries_are_checked_in_parallel_and_show_checking(denv: DeployEnv) -> None:
    seen: list[tuple[str, str]] = []
    inside: list[str] = []
    both_inside = threading.Event()

    def slow(request: HealthRequest) -> HealthResult:
        inside.append(request.hub.name)
        if len(inside) == 2:
            both_inside.set()
        # Sequential checks would wait here until the timeout and fail.
        return HealthResult(both_inside.wait(timeout=10), "healthy (test)")

    report = deployer(
        denv, ["delta"], health_checks={"kubeconfig": slow},
        observer=lambda r: seen.append((r.job.label, r.status)),
    ).run()  # fmt: skip
    assert report.exit_code == 0
    for hub in ("delta/staging-a", "delta/staging-b"):
        states = [status for label, status in seen if label == hub]
        assert states[-3:] == ["succeeded", "checking", "succeeded"]
    jobs = {r.job.label: r for r in report.records}
    assert jobs["delta/staging-a"].message.endswith("healthy (test)")
    assert jobs["delta/staging-a"].gate == "health-check"
    assert jobs["delta/prod"].status == "succeeded"


def test_switched_off_canary_is_gated_on_its_upgrade(denv: DeployEnv) -> None:
    """`health_check.enabled: false`: the gate takes helm's result; no check runs."""
    set_health_check(denv.fleet, "delta", "staging-b", {"enabled": False})
    checked: list[str] = []

    def check(request: HealthRequest) -> HealthResult:
        checked.append(request.hub.name)
        return HealthResult(True, "healthy (test)")

    report = deployer(denv, ["delta"], health_checks={"kubeconfig": check}).run()
    jobs = {r.job.label: r for r in report.records}
    assert checked == ["staging-a", "prod"]  # the production hub after its upgrade
    off = jobs["delta/staging-b"]
    assert off.status == "succeeded" and off.gate == "helm"
    assert off.message.startswith("health check switched off (config/clusters/delta/")
    assert off.message.endswith("; gated on helm's result")
    assert jobs["delta/staging-a"].gate == "health-check"
    assert jobs["delta/prod"].status == "succeeded"


def test_no_health_check_is_reported(denv: DeployEnv) -> None:
    def never(request: HealthRequest) -> HealthResult:
        raise AssertionError("must not run")

    options = DeployOptions(health_check=False)
    report = deployer(denv, ["alpha"], health_checks={"gcp": never}, options=options).run()
    assert report.exit_code == 0
    assert report.health_check == "none: --no-health-check"
    assert {r.gate for r in report.records if r.job.kind == "staging"} == {
        "none: --no-health-check"
    }


def test_dry_run_gates_nothing(denv: DeployEnv) -> None:
    report = deployer(denv, ["delta"], options=DeployOptions(dry_run=True)).run()
    assert report.exit_code == 0 and report.dry_run
    assert report.health_check == "none: dry run"
    assert {r.gate for r in report.records if r.job.kind == "staging"} == {"none: dry run"}
    assert all(r.command and "--dry-run" in r.command for r in report.records)


def test_helm_result_gate_without_a_health_check(denv: DeployEnv) -> None:
    report = deployer(denv, ["delta"]).run()
    assert report.health_check == "kubeconfig: helm result"
    assert {r.gate for r in report.records if r.job.kind == "staging"} == {"helm"}


def test_junit_and_step_summary(run_cli: Any, denv: DeployEnv, monkeypatch: Any) -> None:
    summary = denv.out / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    denv.fakes.script([cluster_rule("beta", "staging", exit=1, stderr="Error: <bad> & worse")])
    junit = denv.out / "junit.xml"
    result = run_cli(
        "--repo", denv.fleet, "deploy", "--plan", denv.plan(["alpha", "beta"]),
        "--junit", junit, "--progress", "plain", "--no-health-check",
    )  # fmt: skip
    assert result.exit_code == 1
    root = ET.parse(junit).getroot()
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert sorted(suites) == ["alpha", "beta"]
    assert suites["alpha"].get("failures") == "0"
    assert suites["beta"].get("failures") == "1" and suites["beta"].get("skipped") == "1"
    failure = suites["beta"].find("testcase[@name='staging: staging']/failure")
    assert failure is not None and "<bad> & worse" in (failure.text or "")
    text = summary.read_text()
    assert text.startswith("earlier step\n## hubfleet deploy failed")
    assert "| beta | research | prod | ⏭️ skipped |" in text


def test_pending_release_reported_with_fix(run_cli: Any, denv: DeployEnv) -> None:
    pending = [
        {"name": "prod", "namespace": "prod", "revision": "4", "status": "pending-upgrade"},
        # Same name, another namespace: not gamma's support release.
        {"name": "support", "namespace": "elsewhere", "revision": "2", "status": "pending-install"},
    ]
    denv.fakes.script([{"tool": "helm", "args": ["list", "--all-namespaces"],
                        "stdout": json.dumps(pending)}])  # fmt: skip
    report_path = denv.out / "r.json"
    result = run_cli(
        "--repo", denv.fleet, "deploy", "gamma", "--report", report_path, "--progress", "plain"
    )
    assert result.exit_code == 1
    job = by_job(json.loads(report_path.read_text()))["gamma/prod"]
    assert job["status"] == "failed"
    assert "pending-upgrade" in job["message"] and "--recover" in job["message"]
    assert not any(release_of(c) == "prod" for c in denv.upgrades())
    assert by_job(json.loads(report_path.read_text()))["gamma/support"]["status"] == "succeeded"
    # One `helm list` for the whole cluster, not one per release.
    [listing] = [c for c in denv.fakes.calls("helm") if c["argv"][0] == "list"]
    assert "--filter=^(prod|support)$" in listing["argv"]

    denv.fakes.reset()
    result = run_cli(
        "--repo", denv.fleet, "deploy", "gamma", "--recover", "--report", report_path,
        "--progress", "plain", "--no-health-check",  # no hub answers here after the upgrade
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    verbs = [
        [c["argv"][0], release_of(c)]
        for c in denv.fakes.calls("helm")
        if "--" in c["argv"] and release_of(c) == "prod"
    ]
    assert verbs.index(["rollback", "prod"]) < verbs.index(["upgrade", "prod"])
    job = by_job(json.loads(report_path.read_text()))["gamma/prod"]
    assert "recovered from pending-upgrade" in job["message"]


def test_bad_inputs_exit_2(run_cli: Any, denv: DeployEnv) -> None:
    bad_plan = denv.out / "bad.json"
    bad_plan.write_text(json.dumps({"support_jobs": [], "staging_jobs": [],
                                    "prod_jobs": [{"cluster_name": "alpah", "hub_name": "x"}]}))  # fmt: skip
    cases: list[tuple[tuple[Any, ...], str]] = [
        (("deploy",), "name what to deploy"),
        (("deploy", "alpha", "--plan", bad_plan), "exactly one"),
        (("deploy", "--plan", bad_plan), "did you mean 'alpha'"),
        (("deploy", "alpha", "nohub"), "no hub 'nohub'"),
        (("deploy", "--plan", denv.out / "missing.json"), "cannot read the plan"),
        (("deploy", "alpha", "--helm-timeout", "soon"), "invalid helm timeout"),
        (("deploy", "alpha", "--cluster", "alpha"), "--cluster goes with --plan"),
    ]
    for args, message in cases:
        result = run_cli("--repo", denv.fleet, *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
    assert denv.upgrades() == []


def test_plan_cluster_filter(run_cli: Any, denv: DeployEnv) -> None:
    result = run_cli(
        "--repo", denv.fleet, "deploy", "--plan", denv.plan(["alpha", "beta", "delta"]),
        "--cluster", "beta", "--output", "json", "--no-health-check",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {j["cluster_name"] for j in report["jobs"]} == {"beta"}
    assert len(report["jobs"]) == 3


def test_helm_missing_is_a_clear_error(run_cli: Any, denv: DeployEnv) -> None:
    (denv.fakes.bin_dir / "helm").unlink()
    empty = denv.out / "emptybin"
    empty.mkdir()
    import os

    os.environ["PATH"] = f"{denv.fakes.bin_dir}{os.pathsep}{empty}"
    result = run_cli("--repo", denv.fleet, "deploy", "delta")
    assert result.exit_code == 1
    assert "helm is not installed" in result.output
    assert threading.active_count() >= 1


def test_plain_lines_with_a_blank_message() -> None:
    """A whitespace-only message once raised IndexError inside the observer (and the deploy)."""
    stream = io.StringIO()
    lines = PlainLines(Redactor(), stream)
    job = Job("alpha", "prod1", "prod", "gcp")
    lines(JobRecord(job, status="failed", message="\n", duration_s=1.0))
    lines(JobRecord(job, status="succeeded", message="  first\nsecond"))
    first, second = stream.getvalue().splitlines()
    assert first.endswith("prod      failed (1.0s)")
    assert second.endswith("prod      succeeded: first")


def test_plain_lines_of_a_checked_canary() -> None:
    stream = io.StringIO()
    lines = PlainLines(Redactor(), stream)
    job = Job("alpha", "staging", "staging", "gcp")
    upgraded = JobRecord(job, status="succeeded", message="upgraded", duration_s=2.5)
    lines(upgraded)
    lines(upgraded.with_(status="checking", message="health check running"))
    lines(upgraded.with_(message="upgraded; healthy (4.0s, attempt 1)"))
    _upgraded, checking, final = stream.getvalue().splitlines()
    assert checking.endswith("staging   checking: health check running")  # not helm's 2.5s
    assert final.endswith("staging   succeeded (2.5s): upgraded; healthy (4.0s, attempt 1)")
