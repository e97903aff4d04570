"""A failed helm's cause reaches the console, not only the report."""

from __future__ import annotations

from typing import Any

import pytest
from tests.deploy.conftest import DeployEnv, cluster_rule

CAUSE = 'Error: UPGRADE FAILED: cannot patch "hub" with kind Deployment: field is immutable'


@pytest.mark.parametrize("progress", ["plain", "live"])
def test_console_shows_why_helm_failed(run_cli: Any, denv: DeployEnv, progress: str) -> None:
    denv.fakes.script(
        [
            cluster_rule(
                "alpha",
                "staging",
                exit=1,
                stderr=f"coalesce.go:237: warning: skipped value for hub\n{CAUSE}\n",
            )
        ]
    )
    result = run_cli(
        "--repo", denv.fleet, "deploy", "--plan", denv.plan(["alpha"]),
        "--progress", progress, "--no-health-check",
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    failed = [line for line in result.output.splitlines() if "alpha/staging failed: " in line]
    assert failed == [f"alpha/staging failed: {CAUSE}"], result.output
