"""A plan file is checked against the fleet before anything is deployed (exit 2).

Kinds follow the fleet's own staging rule (a production hub listed under
staging_jobs would be deployed as a canary), and unknown clusters and hubs are
errors naming the plan file and the job.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.deploy.conftest import DeployEnv

JOB = {"reasons": ["test"], "choice_reason": "test"}


def _plan(denv: DeployEnv, **lists: list[dict[str, Any]]) -> Path:
    data = {"support_jobs": [], "staging_jobs": [], "prod_jobs": [], **lists}
    path = denv.out / "plan.json"
    path.write_text(json.dumps(data))
    return path


CASES = {
    "prod hub under staging_jobs": (
        {"staging_jobs": [{"cluster_name": "alpha", "provider": "gcp", "hub_name": "prod1", **JOB}]},
        "staging_jobs[0]: hub alpha/prod1 is a prod hub in this fleet, not a staging one",
    ),
    "staging hub under prod_jobs": (
        {"prod_jobs": [{"cluster_name": "delta", "provider": "kubeconfig", "hub_name": "staging-b", **JOB}]},
        "prod_jobs[0]: hub delta/staging-b is a staging hub in this fleet, not a prod one",
    ),
    "unknown cluster": (
        {"support_jobs": [{"cluster_name": "omega", "provider": "gcp", **JOB}]},
        "support_jobs[0]: ",
    ),
    "unknown hub": (
        {"prod_jobs": [{"cluster_name": "beta", "provider": "aws", "hub_name": "nope", **JOB}]},
        "prod_jobs[0]: cluster 'beta' has no hub 'nope'",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_plan_checked_against_the_fleet(run_cli: Any, denv: DeployEnv, case: str) -> None:
    lists, message = CASES[case]
    good = {"cluster_name": "gamma", "provider": "azure", "hub_name": "prod", **JOB}
    lists = {**lists, "prod_jobs": [good, *lists.get("prod_jobs", [])]}
    plan = _plan(denv, **lists)
    result = run_cli("--repo", denv.fleet, "deploy", "--plan", plan, "--dry-run")
    assert result.exit_code == 2, result.output
    assert f"{plan}:" in result.stderr
    assert message.replace("[0]", "[1]" if "prod_jobs" in message else "[0]") in result.stderr
    assert "Traceback" not in result.output
    for tool in denv.fakes.tools:
        assert denv.fakes.started(tool) == [], tool  # nothing deployed, not gamma either


def test_unknown_cluster_named(run_cli: Any, denv: DeployEnv) -> None:
    plan = _plan(denv, support_jobs=[{"cluster_name": "omega", "provider": "gcp", **JOB}])
    result = run_cli("--repo", denv.fleet, "deploy", "--plan", plan)
    assert result.exit_code == 2
    assert "omega" in result.stderr and f"{plan}:" in result.stderr


def test_matching_kinds_pass(run_cli: Any, denv: DeployEnv) -> None:
    plan = denv.plan(["alpha", "delta"])
    result = run_cli("--repo", denv.fleet, "deploy", "--plan", plan, "--dry-run")
    assert result.exit_code == 0, result.output
