"""The report JSON's one reader (`read_report`, used by `--retry-failed` and `ci
summary`): a written report reads back equal; a broken one is an error at its line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.deploy.conftest import DeployEnv

from hubfleet.deploy.model import ClusterFailure, JobRecord, Report, read_report
from hubfleet.plan.job import InputError, Job


def _report() -> Report:
    return Report(
        records=(
            JobRecord(
                Job("alpha", None, "support", "gcp", ("a changed",)),
                status="succeeded",
                started="2025-01-01T00:00:00.000Z",
                duration_s=1.25,
                helm_revision=3,
                command="helm upgrade ...",
            ),
            JobRecord(
                Job("alpha", "staging", "staging", "gcp", ("canary",)),
                status="failed",
                message="health check failed",
                gate="health",
                rolled_back=2,
                output_tail="last lines",
            ),
            JobRecord(Job("alpha", "prod1", "prod", "gcp"), status="skipped"),
        ),
        cluster_failures=(ClusterFailure("beta", "no credentials"),),
        dry_run=True,
        helm_version="v3.17.3",
        health_check="rest",
        options={"max_parallel": 4},
    )


def test_a_written_report_reads_back_equal(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(_report().to_json(), indent=2))
    read = read_report(path)
    assert read == _report()
    assert read.to_json() == _report().to_json()


def _job(**entry: Any) -> dict[str, Any]:
    return {
        "cluster_name": "alpha",
        "hub_name": "prod1",
        "kind": "prod",
        "status": "failed",
        **entry,
    }


CASES: dict[str, tuple[Any, str]] = {
    "not a report": ({"support_jobs": []}, "not a deploy report: no jobs list"),
    "an unknown kind": ({"jobs": [_job(), _job(kind="canary")]}, "jobs[1]: unknown kind 'canary'"),
    "no kind": ({"jobs": [_job(), _job(kind=None)]}, "jobs[1]: unknown kind None"),
    "an unknown status": ({"jobs": [_job(), _job(status="great")]}, "jobs[1]: unknown status 'great'"),
    "a hub job without its hub": ({"jobs": [_job(), _job(hub_name=None)]}, "jobs[1]: a prod job needs a hub_name"),
    "a bad duration": ({"jobs": [_job(), _job(duration_s="long")]}, "jobs[1].duration_s: unexpected value 'long'"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_broken_report_is_an_error_at_its_line(tmp_path: Path, case: str) -> None:
    data, message = CASES[case]
    path = tmp_path / "report.json"
    # one job a line: jobs[1] is on line 3
    jobs = ",\n".join(json.dumps(job) for job in data.get("jobs", []))
    path.write_text('{"jobs": [\n' + jobs + "\n]}" if "jobs" in data else json.dumps(data))
    with pytest.raises(InputError) as raised:
        read_report(path)
    assert raised.value.exit_code == 2
    assert message in raised.value.message
    assert raised.value.path == str(path)
    if "jobs" in data:
        assert raised.value.line == 3


def test_retry_failed_names_the_line_of_a_job_not_in_the_fleet(
    run_cli: Any, denv: DeployEnv
) -> None:
    report = denv.out / "report.json"
    jobs = [_job(status="succeeded"), _job(hub_name="gone")]
    report.write_text('{"jobs": [\n' + ",\n".join(json.dumps(j) for j in jobs) + "\n]}\n")
    result = run_cli("--repo", denv.fleet, "deploy", "--retry-failed", report, "--dry-run")
    assert result.exit_code == 2, result.output
    assert f"{report}:3: jobs[1]: cluster 'alpha' has no hub 'gone'" in result.stderr
    assert denv.upgrades() == []


def test_a_plan_job_not_in_the_fleet_is_named_with_its_line(run_cli: Any, denv: DeployEnv) -> None:
    plan = denv.out / "plan.json"
    job = {"cluster_name": "beta", "provider": "aws", "reasons": ["x"]}
    plan.write_text(
        '{"support_jobs": [], "staging_jobs": [],\n"prod_jobs": [\n'
        + json.dumps({**job, "hub_name": "research"})
        + ",\n"
        + json.dumps({**job, "hub_name": "nope"})
        + "\n]}\n"
    )
    result = run_cli("--repo", denv.fleet, "deploy", "--plan", plan, "--dry-run")
    assert result.exit_code == 2, result.output
    assert f"{plan}:4: prod_jobs[1]: cluster 'beta' has no hub 'nope'" in result.stderr
    assert denv.upgrades() == []
