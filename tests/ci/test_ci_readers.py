"""`ci matrix` and `ci summary` read the plan and the reports with their one reader
each (`read_plan`, `read_report`): the same checks and errors as `deploy`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubfleet.base.errors import HubfleetError
from hubfleet.base.markdown import md_text
from hubfleet.ci.workflows import build_matrix, summarize
from hubfleet.deploy.model import JobRecord, Report
from hubfleet.plan.job import Job
from hubfleet.plan.plan import Plan

MATRIX = {"include": [{"cluster": "alpha", "provider": "gcp"}]}


def test_matrix_of_a_broken_plan_names_its_line(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    plan = tmp_path / "plan.json"
    plan.write_text(
        '{"support_jobs": [],\n "staging_jobs": [],\n'
        ' "prod_jobs": [{"cluster_name": "alpha", "provider": "gcp"}]}\n'
    )
    result = run_cli("ci", "matrix", "--plan", plan)
    assert result.exit_code == 2, result.output
    assert f"{plan}:3: prod_jobs[0]: a prod job needs a hub_name" in result.stderr


def test_matrix_needs_each_job_s_provider() -> None:
    """deploy takes a job without a provider (the fleet has it); the matrix cannot."""
    plan = Plan(support_jobs=(Job("alpha", None, "support", ""),))
    with pytest.raises(HubfleetError, match=r"support_jobs\[0\] has no provider"):
        build_matrix(plan)


def _reports(tmp_path: Path, text: str) -> Path:
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "alpha.json").write_text(text)
    return reports


def test_summary_of_a_report_read_by_the_deploy_s_reader(tmp_path: Path) -> None:
    report = Report(
        records=(
            JobRecord(Job("alpha", "prod1", "prod", "gcp", ("a", "b")), status="failed"),
            JobRecord(Job("alpha", None, "support", "gcp"), status="succeeded"),
        )
    )
    reports = _reports(tmp_path, json.dumps(report.to_json()))
    result = summarize("success", MATRIX, reports)
    assert not result.ok
    assert "| alpha | gcp | **failed** | 1 | 0 | 1 | 0 | 0 |" in result.markdown
    assert "- **alpha** prod1 (prod): failed: a; b" in result.markdown


def test_summary_of_a_broken_report_says_where(tmp_path: Path) -> None:
    job = {"cluster_name": "alpha", "hub_name": "prod1", "kind": "prod"}
    reports = _reports(tmp_path, '{"jobs": [\n' + json.dumps({**job, "status": "great"}) + "]}")
    result = summarize("success", MATRIX, reports)
    assert not result.ok
    message = f"unreadable report: {reports / 'alpha.json'}:2: jobs[0]: unknown status 'great'"
    assert f"- **alpha**: {md_text(message)}" in result.markdown
