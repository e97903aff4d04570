"""Failure isolation: a failure on cluster A skips exactly the right jobs of A; B succeeds."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.deploy.conftest import DeployEnv, by_job, cluster_rule, release_of

ALPHA = ["alpha/support", "alpha/staging", "alpha/prod1", "alpha/prod2"]
BETA = ["beta/support", "beta/staging", "beta/research"]


def _deploy(run_cli: Any, denv: DeployEnv, *extra: str) -> tuple[int, dict[str, Any]]:
    """Deploy alpha and beta; canaries gated on helm (the health check has its own tests)."""
    report = denv.out / "report.json"
    result = run_cli(
        "--repo", denv.fleet, "deploy", "--plan", denv.plan(["alpha", "beta"]),
        "--report", report, "--progress", "plain", "--no-health-check", *extra,
    )  # fmt: skip
    return result.exit_code, json.loads(report.read_text())


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        pytest.param(
            cluster_rule("alpha", "support", exit=1, stderr="Error: support broke"),
            {"alpha/support": "failed", "alpha/staging": "skipped",
             "alpha/prod1": "skipped", "alpha/prod2": "skipped"},
            id="support",
        ),
        pytest.param(
            cluster_rule("alpha", "staging", exit=1, stderr="Error: canary broke"),
            {"alpha/support": "succeeded", "alpha/staging": "failed",
             "alpha/prod1": "skipped", "alpha/prod2": "skipped"},
            id="canary",
        ),
        pytest.param(
            cluster_rule("alpha", "prod1", exit=1, stderr="Error: prod1 broke"),
            {"alpha/support": "succeeded", "alpha/staging": "succeeded",
             "alpha/prod1": "failed", "alpha/prod2": "succeeded"},
            id="prod",
        ),
    ],
)  # fmt: skip
def test_failure_on_alpha_leaves_beta_alone(
    run_cli: Any, denv: DeployEnv, rule: dict[str, Any], expected: dict[str, str]
) -> None:
    denv.fakes.script([rule])
    code, report = _deploy(run_cli, denv)
    jobs = by_job(report)
    assert code == 1
    assert {label: jobs[label]["status"] for label in ALPHA} == expected
    assert all(jobs[label]["status"] == "succeeded" for label in BETA)
    failed = [j for j in report["jobs"] if j["status"] == "failed"]
    assert len(failed) == 1 and "broke" in failed[0]["message"]
    assert "broke" in failed[0]["output_tail"]
    for job in report["jobs"]:
        if job["status"] == "skipped":
            assert "failed" in job["message"] and "alpha" in job["message"]
    # Nothing of alpha ran after its failure.
    ran = {release_of(c) for c in denv.upgrades() if "hubfleet-creds-alpha-" in " ".join(c["argv"])}
    assert ran == {label.split("/")[1] for label in ALPHA if expected[label] != "skipped"}


def test_credentials_failure_on_alpha(run_cli: Any, denv: DeployEnv) -> None:
    denv.fakes.script([{"tool": "gcloud", "exit": 1, "stderr": "ERROR: permission denied"}])
    code, report = _deploy(run_cli, denv)
    jobs = by_job(report)
    assert code == 1
    assert all(jobs[label]["status"] == "skipped" for label in ALPHA)
    assert all("credentials for cluster alpha failed" in jobs[label]["message"] for label in ALPHA)
    assert all(jobs[label]["status"] == "succeeded" for label in BETA)
    [failure] = report["cluster_failures"]
    assert failure["cluster_name"] == "alpha" and "permission denied" in failure["message"]
    assert not any("hubfleet-creds-alpha-" in " ".join(c["argv"]) for c in denv.upgrades())
    assert list(denv.tmp.iterdir()) == []


def test_fail_fast_starts_nothing_new(run_cli: Any, denv: DeployEnv) -> None:
    denv.fakes.script([cluster_rule("alpha", "support", exit=1, stderr="Error: boom")])
    code, report = _deploy(run_cli, denv, "--fail-fast", "--cluster-concurrency", "1")
    jobs = by_job(report)
    assert code == 1
    assert jobs["alpha/support"]["status"] == "failed"
    # cluster-concurrency 1: beta starts after alpha, so none of it runs.
    assert all(jobs[label]["status"] == "skipped" for label in BETA)
    assert all("--fail-fast" in jobs[label]["message"] for label in BETA)


def test_retry_failed_reruns_exactly_the_failures(run_cli: Any, denv: DeployEnv) -> None:
    denv.fakes.script([cluster_rule("alpha", "staging", exit=1, stderr="Error: flaky")])
    code, _ = _deploy(run_cli, denv)
    assert code == 1
    denv.fakes.script([])
    denv.fakes.reset()
    retry_report = denv.out / "retry.json"
    result = run_cli(
        "--repo", denv.fleet, "deploy", "--retry-failed", denv.out / "report.json",
        "--report", retry_report, "--progress", "plain", "--no-health-check",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    jobs = by_job(json.loads(retry_report.read_text()))
    rerun = {"alpha/staging", "alpha/prod1", "alpha/prod2"}
    assert {label for label, j in jobs.items() if j["status"] == "succeeded"} == rerun
    assert {label for label, j in jobs.items() if j["status"] == "unchanged"} == (
        set(ALPHA) | set(BETA)
    ) - rerun
    assert sorted(release_of(c) for c in denv.upgrades()) == ["prod1", "prod2", "staging"]


def test_release_listing_failure_on_alpha(run_cli: Any, denv: DeployEnv) -> None:
    """Each cluster lists its releases once; when alpha's API refuses, only alpha stops."""
    denv.fakes.script(
        [{"tool": "helm", "args": ["list"], "contains": "hubfleet-creds-alpha-", "exit": 1,
          "stderr": "Error: Kubernetes cluster unreachable"}]
    )  # fmt: skip
    code, report = _deploy(run_cli, denv)
    jobs = by_job(report)
    assert code == 1
    assert all(jobs[label]["status"] == "skipped" for label in ALPHA)
    assert all("helm list for cluster alpha failed" in jobs[label]["message"] for label in ALPHA)
    assert all(jobs[label]["status"] == "succeeded" for label in BETA)
    [failure] = report["cluster_failures"]
    assert "cluster unreachable" in failure["message"]
    assert not any("hubfleet-creds-alpha-" in " ".join(c["argv"]) for c in denv.upgrades())
    lists = [c for c in denv.fakes.calls("helm") if c["argv"][0] == "list"]
    assert len(lists) == 2  # one per cluster, however many releases
