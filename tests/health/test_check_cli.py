"""`hubfleet check CLUSTER HUB` on a local hub of the test fleet."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hubfleet.local import LocalHubSpec, cluster_state_dir, deploy_hub
from tests.local.hubs import cleaned, free_base_port

# Among the slowest files of the suite: scripts/test -m "not slow" leaves it out.
pytestmark = pytest.mark.slow


def test_check_command_on_a_local_hub(fleet_copy: Path, run_cli: Callable[..., Any]) -> None:
    state = cluster_state_dir(fleet_copy, "local")
    not_running = run_cli("--repo", fleet_copy, "check", "local", "staging")
    assert not_running.exit_code == 1 and "is not running" in not_running.stderr
    unknown = run_cli("--repo", fleet_copy, "check", "local", "stagin")
    assert unknown.exit_code == 2 and "staging" in unknown.stderr
    with cleaned(state):
        spec = LocalHubSpec(
            "local", "staging", {"cull": {"enabled": False}}, state, free_base_port()
        )
        deploy_hub(spec, timeout=60)
        result = run_cli("--repo", fleet_copy, "check", "local", "staging", "-o", "json")
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["ok"] is True and report["failed_step"] is None
        assert [s["name"] for s in report["steps"]][-1] == "delete_user"
