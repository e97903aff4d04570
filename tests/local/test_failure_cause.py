"""A local hub that fails to start: the console says why (the exception), from this
run's lines of the hub's log only."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hubfleet.local import LocalDeployError, LocalHubSpec, deploy_hub
from tests.local.hubs import cleaned, free_base_port

# Among the slowest files of the suite: scripts/test -m "not slow" leaves it out.
pytestmark = pytest.mark.slow

CILOGON = "'cilogon' could not be imported"


def only_staging(repo: Path, extra_values: dict[str, Any]) -> Path:
    """The test fleet's local cluster with its staging hub only, on free ports."""
    folder = repo / "config/clusters/local"
    cluster = yaml.safe_load((folder / "cluster.yaml").read_text())
    cluster["local"]["base_port"] = free_base_port()
    cluster["hubs"] = [cluster["hubs"][0]]
    (folder / "cluster.yaml").write_text(yaml.safe_dump(cluster, sort_keys=False))
    staging = folder / "staging.values.yaml"
    staging.write_text(staging.read_text() + yaml.safe_dump(extra_values))
    return repo / ".hubfleet/local/local"


@pytest.mark.parametrize("progress", ["plain", "live"])
def test_console_shows_the_exception_of_a_hub_that_cannot_start(
    fleet_copy: Path, run_cli: Callable[..., Any], tmp_path: Path, progress: str
) -> None:
    authenticator = {"hub": {"config": {"JupyterHub": {"authenticator_class": "cilogon"}}}}
    state = only_staging(fleet_copy, authenticator)
    report = tmp_path / "report.json"
    with cleaned(state):
        result = run_cli(
            "--repo", fleet_copy, "deploy", "local", "--progress", progress, "--report", report
        )
    assert result.exit_code == 1, result.output
    assert CILOGON in result.output
    failed = [line for line in result.output.splitlines() if "local/staging failed: " in line]
    assert failed and CILOGON in failed[0] + result.output.split(failed[0], 1)[1][:500]
    [job] = json.loads(report.read_text())["jobs"]
    assert job["status"] == "failed" and CILOGON in job["message"].splitlines()[0]


def test_the_tail_is_this_runs_lines_only(tmp_path: Path) -> None:
    base = free_base_port()
    with cleaned(tmp_path / "c") as state:
        first = {"hub": {"extraConfig": {"boom": "raise RuntimeError('first run broke')"}}}
        with pytest.raises(LocalDeployError) as info:
            deploy_hub(LocalHubSpec("demo", "hub", first, state, base), timeout=60)
        assert "RuntimeError: first run broke" in str(info.value).splitlines()[0]
        second = {"hub": {"config": {"JupyterHub": {"authenticator_class": "cilogon"}}}}
        with pytest.raises(LocalDeployError) as info:
            deploy_hub(LocalHubSpec("demo", "hub", second, state, base), timeout=60)
        message = str(info.value)
        assert CILOGON in message.splitlines()[0]
        assert "first run broke" not in message  # an earlier run's lines are not this run's
        assert "first run broke" in (state / "hub/jupyterhub.log").read_text()  # still logged
