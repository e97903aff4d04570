"""`hubfleet local status|stop` on a real local hub."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from hubfleet.local import LocalHubSpec, deploy_hub
from hubfleet.local.processes import processes_in
from tests.local.hubs import cleaned, free_base_port


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "fleet"
    (root / "config" / "clusters").mkdir(parents=True)
    (root / "hubfleet.yaml").write_text("{}\n")
    with cleaned(root / ".hubfleet" / "local"):
        yield root


def test_status_and_stop(repo: Path, run_cli: Callable[..., Any]) -> None:
    state = repo / ".hubfleet" / "local" / "demo"
    base = free_base_port()
    hub = deploy_hub(LocalHubSpec("demo", "staging", {"cull": {"enabled": False}}, state, base))
    result = run_cli("--repo", repo, "local", "status", "--output", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["hubs"]
    assert [(r["cluster"], r["hub"], r["pid"], r["healthy"]) for r in rows] == [
        ("demo", "staging", hub.pid, True)
    ]
    assert rows[0]["url"] == hub.url and rows[0]["log"] == str(hub.log_path)
    table = run_cli("--repo", repo, "local", "status")
    assert "staging" in table.stdout and hub.url in table.stdout

    wrong = run_cli("--repo", repo, "local", "stop", "demo", "stagin")
    assert wrong.exit_code == 2 and "did you mean 'staging'" in wrong.stderr
    wrong = run_cli("--repo", repo, "local", "stop", "nope")
    assert wrong.exit_code == 2 and "no local cluster 'nope'" in wrong.stderr

    stopped = run_cli("--repo", repo, "local", "stop", "demo", "staging")
    assert stopped.exit_code == 0 and "demo/staging: stopped" in stopped.stdout
    assert not psutil.pid_exists(hub.pid) and processes_in(state) == []
    again = run_cli("--repo", repo, "local", "stop", "--output", "json")
    assert json.loads(again.stdout)["stopped"][0]["was_running"] is False
    status = json.loads(run_cli("--repo", repo, "local", "status", "-o", "json").stdout)
    assert status["hubs"][0]["running"] is False and status["hubs"][0]["pid"] is None


def test_status_finds_a_cluster_state_dir_of_its_own(
    fleet_copy: Path, run_cli: Callable[..., Any]
) -> None:
    cluster_yaml = fleet_copy / "config" / "clusters" / "local" / "cluster.yaml"
    cluster_yaml.write_text(
        cluster_yaml.read_text().replace(
            "  base_port: 18100\n", "  base_port: 18100\n  state_dir: st\n"
        )
    )
    for root in (fleet_copy / "st" / "local", fleet_copy / ".hubfleet" / "local" / "other"):
        (root / "staging").mkdir(parents=True)
        (root / "staging" / "ports.json").write_text('{"port": 18100}')
    result = run_cli("--repo", fleet_copy, "local", "status", "-o", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["hubs"]
    assert [(r["cluster"], r["hub"], r["running"]) for r in rows] == [
        ("local", "staging", False),
        ("other", "staging", False),
    ]
    assert rows[0]["log"] == str(
        fleet_copy.resolve() / "st" / "local" / "staging" / "jupyterhub.log"
    )
