"""`hubfleet local status|stop` on a real local hub."""

from __future__ import annotations

import json
import os
import signal
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from hubfleet.local import LocalHubSpec, deploy_hub
from hubfleet.local.processes import processes_in
from hubfleet.local.runtime import port_is_free
from tests.helpers import empty_fleet
from tests.local.hubs import cleaned, free_base_port

# Among the slowest files of the suite: scripts/test -m "not slow" leaves it out.
pytestmark = pytest.mark.slow


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    root = empty_fleet(tmp_path)
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


def test_status_names_the_orphaned_proxy_of_a_killed_hub_and_stop_ends_it(
    repo: Path, run_cli: Callable[..., Any]
) -> None:
    state = repo / ".hubfleet" / "local" / "demo"
    hub = deploy_hub(
        LocalHubSpec("demo", "staging", {"cull": {"enabled": False}}, state, free_base_port())
    )
    proxy = next(
        p
        for p in psutil.Process(hub.pid).children(recursive=True)
        if "configurable-http-proxy" in " ".join(p.cmdline())
    )
    os.kill(hub.pid, signal.SIGKILL)  # the hub dies; its proxy (own session) lives on
    os.waitpid(hub.pid, 0)
    assert proxy.is_running() and not port_is_free(hub.port)

    result = run_cli("--repo", repo, "local", "status", "--output", "json")
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)["hubs"]
    assert row["running"] is False and row["pid"] is None
    assert {"pid": proxy.pid, "name": "configurable-http-proxy"}.items() <= row["leftovers"][
        0
    ].items()
    assert hub.port in row["leftovers"][0]["ports"]
    table = run_cli("--repo", repo, "local", "status")
    assert "stopped (orphans left)" in table.stdout
    assert (
        f"demo/staging: stopped, but orphaned configurable-http-proxy (pid {proxy.pid}) holding "
        f"port {hub.port} (the hub's port)"
    ) in table.stdout
    assert "`hubfleet local stop demo staging` stops it" in table.stdout

    stopped = run_cli("--repo", repo, "local", "stop", "demo")
    assert stopped.exit_code == 0, stopped.output
    assert "demo/staging: not running; cleaned" in stopped.stdout
    assert not proxy.is_running() and port_is_free(hub.port)
    assert processes_in(state) == []
    after = json.loads(run_cli("--repo", repo, "local", "status", "-o", "json").stdout)
    assert after["hubs"][0]["leftovers"] == [] and after["hubs"][0]["note"] == ""


def test_status_names_another_program_on_a_stopped_hubs_port(
    repo: Path, run_cli: Callable[..., Any]
) -> None:
    state = repo / ".hubfleet" / "local" / "demo"
    (state / "staging").mkdir(parents=True)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        (state / "staging" / "ports.json").write_text(json.dumps({"port": port}))
        result = run_cli("--repo", repo, "local", "status")
    assert f"demo/staging: stopped, but port {port} is taken by " in result.stdout
    assert f"(pid {os.getpid()})" in result.stdout
