"""The local provider's runtime with real JupyterHub and configurable-http-proxy processes."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import socket
import stat
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from hubfleet.base.redact import Redactor
from hubfleet.local import (
    LocalDeployError,
    LocalDeployResult,
    LocalHubSpec,
    deploy_hub,
    hub_status,
    local_check_token,
    stop_hubs,
)
from hubfleet.local.processes import processes_in
from tests.local.hubs import (
    ADMIN_TOKEN,
    DEMO_PASSWORD,
    cleaned,
    free_base_port,
    kill_everything,
    rich_values,
)

# One local cluster for the module, its tests in order: on one pytest-xdist worker. Among the slowest files.
pytestmark = [pytest.mark.xdist_group("local-cluster"), pytest.mark.slow]

TIMEOUT = 60.0


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def get(url: str, token: str | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"token {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, None


def post(url: str, token: str) -> int:
    req = urllib.request.Request(url, data=b"", method="POST")
    req.add_header("Authorization", f"token {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return err.code


class Cluster:
    def __init__(self, state_dir: Path, base_port: int) -> None:
        self.state_dir = state_dir
        self.base_port = base_port
        self.results: dict[str, LocalDeployResult] = {}

    def spec(self, hub: str, values: dict[str, Any]) -> LocalHubSpec:
        return LocalHubSpec("demo", hub, values, self.state_dir, self.base_port)

    def deploy(self, hub: str, values: dict[str, Any]) -> LocalDeployResult:
        result = deploy_hub(self.spec(hub, values), timeout=TIMEOUT)
        self.results[hub] = result
        return result


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One local cluster, two hubs, shared by the tests of this module (in order)."""
    state_dir = tmp_path_factory.mktemp("local") / "demo"
    with cleaned(state_dir):
        cluster = Cluster(state_dir, free_base_port())
        cluster.deploy("staging", rich_values())
        cluster.deploy(
            "prod", {"singleuser": {"defaultUrl": "/api/status"}, "cull": {"enabled": False}}
        )
        yield cluster


def test_two_hubs_start_and_answer(cluster: Cluster) -> None:
    staging, prod = cluster.results["staging"], cluster.results["prod"]
    assert (staging.status, prod.status) == ("succeeded", "succeeded")
    assert staging.port == cluster.base_port and prod.port == cluster.base_port + 1
    assert staging.url == f"http://127.0.0.1:{cluster.base_port}/"
    for result in (staging, prod):
        status, body = get(result.url + "hub/api/")
        assert status == 200 and "version" in body
        assert result.log_path == cluster.state_dir / result.hub / "jupyterhub.log"
    assert "proxy" in staging.ignored_keys and "singleuser.image" in staging.ignored_keys
    assert prod.ignored_keys == ()
    log = staging.log_path.read_text()
    assert log.index("extra-config-order: first Demo Hub") < log.index(
        "extra-config-order: second Demo Hub"
    )


def test_everything_binds_to_localhost(cluster: Cluster) -> None:
    pid = cluster.results["staging"].pid
    tree = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    addresses = {
        conn.laddr.ip
        for proc in tree
        for conn in proc.net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN
    }
    assert addresses == {"127.0.0.1"}


def test_hub_config_sets_the_demo_password(cluster: Cluster) -> None:
    url = cluster.results["staging"].url

    def login(password: str) -> int:
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
        page = opener.open(url + "hub/login", timeout=10).read().decode()
        match = re.search(r'name="_xsrf" value="([^"]+)"', page)
        assert match, "no _xsrf field on the login page"
        form = {"username": "alice", "password": password, "_xsrf": match.group(1)}
        try:
            return int(opener.open(url + "hub/login", urllib.parse.urlencode(form).encode()).status)
        except urllib.error.HTTPError as err:
            return err.code

    assert login(DEMO_PASSWORD) == 302
    assert login("wrong-password") != 302


def test_services_roles_and_culler(cluster: Cluster) -> None:
    url = cluster.results["staging"].url
    status, users = get(url + "hub/api/users", ADMIN_TOKEN)
    assert status == 200 and isinstance(users, list)
    children = psutil.Process(cluster.results["staging"].pid).children(recursive=True)
    commands = [" ".join(p.cmdline()) for p in children]
    assert any("jupyterhub_idle_culler" in c and "--timeout=1800" in c for c in commands)
    assert any("configurable-http-proxy" in c for c in commands)
    prod_children = psutil.Process(cluster.results["prod"].pid).children(recursive=True)
    assert not any("jupyterhub_idle_culler" in " ".join(p.cmdline()) for p in prod_children)


def test_state_is_private_and_holds_no_secret(cluster: Cluster) -> None:
    hub_dir = cluster.state_dir / "staging"
    assert stat.S_IMODE(cluster.state_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(hub_dir.stat().st_mode) == 0o700
    for name in ("jupyterhub.sqlite", "jupyterhub_cookie_secret", "jupyterhub.log", "hub.json"):
        assert stat.S_IMODE((hub_dir / name).stat().st_mode) == 0o600, name
    token = local_check_token(cluster.state_dir, "staging")
    assert stat.S_IMODE((hub_dir / "hubfleet-service-token").stat().st_mode) == 0o600
    for path in cluster.state_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert ADMIN_TOKEN.encode() not in data, path
            assert DEMO_PASSWORD.encode() not in data, path
            if path.name != "hubfleet-service-token":
                assert token.encode() not in data, path
    # nor in the hub's command line or environment
    proc = psutil.Process(cluster.results["staging"].pid)
    assert DEMO_PASSWORD not in " ".join(proc.cmdline())
    assert not any(DEMO_PASSWORD in v for v in proc.environ().values())


def test_redeploy_unchanged_is_a_noop(cluster: Cluster) -> None:
    before = cluster.results["staging"]
    redactor = Redactor()
    again = deploy_hub(cluster.spec("staging", rich_values()), timeout=TIMEOUT, redactor=redactor)
    assert again.status == "unchanged"
    assert again.pid == before.pid and again.url == before.url
    assert again.ignored_keys == before.ignored_keys
    assert redactor.scrub(local_check_token(cluster.state_dir, "staging")) == "[REDACTED]"


def test_changed_config_restarts_only_that_hub_and_keeps_users(cluster: Cluster) -> None:
    staging, prod = cluster.results["staging"], cluster.results["prod"]
    assert post(staging.url + "hub/api/users/alice", ADMIN_TOKEN) in (201, 409)
    upgraded = cluster.deploy("staging", rich_values(title="New Title"))
    assert upgraded.status == "succeeded"
    assert upgraded.pid != staging.pid and not psutil.pid_exists(staging.pid)
    assert upgraded.port == staging.port
    status, alice = get(upgraded.url + "hub/api/users/alice", ADMIN_TOKEN)
    assert status == 200 and alice["name"] == "alice"
    assert "extra-config-order: first New Title" in upgraded.log_path.read_text()
    assert {s.hub: s.pid for s in hub_status(cluster.state_dir)}["prod"] == prod.pid


def test_status_then_stop_leaves_no_process(cluster: Cluster) -> None:
    rows = {s.hub: s for s in hub_status(cluster.state_dir)}
    assert set(rows) == {"staging", "prod"}
    assert all(s.running and s.healthy and s.uptime_s is not None for s in rows.values())
    assert [s.hub for s in hub_status(cluster.state_dir, ["prod"])] == ["prod"]
    pids = [s.pid for s in rows.values()]
    tree = [p.pid for pid in pids for p in psutil.Process(pid).children(recursive=True)]
    stopped = stop_hubs(cluster.state_dir, ["prod"])
    assert [(r.hub, r.was_running) for r in stopped] == [("prod", True)]
    assert {s.hub: s.running for s in hub_status(cluster.state_dir)} == {
        "prod": False,
        "staging": True,
    }
    stop_hubs(cluster.state_dir)
    assert not any(psutil.pid_exists(pid) for pid in [*pids, *tree])
    assert processes_in(cluster.state_dir) == []
    assert not any(s.running for s in hub_status(cluster.state_dir))


# ---------------------------------------------------------------- failures


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    with cleaned(tmp_path / "c") as folder:
        yield folder


def test_hub_that_cannot_start_raises_deploy_error_naming_the_log(state_dir: Path) -> None:
    values = {"hub": {"extraConfig": {"broken": "raise RuntimeError('broken on purpose')"}}}
    spec = LocalHubSpec("demo", "broken", values, state_dir, free_base_port())
    with pytest.raises(LocalDeployError) as info:
        deploy_hub(spec, timeout=TIMEOUT)
    log = state_dir / "broken" / "jupyterhub.log"
    assert str(log) in str(info.value) and "broken on purpose" in str(info.value)
    assert info.value.log_path == log and info.value.exit_code == 1
    assert processes_in(state_dir) == []
    assert hub_status(state_dir)[0].running is False


def test_stale_pid_file_is_cleaned(state_dir: Path) -> None:
    spec = LocalHubSpec("demo", "hub", {"cull": {"enabled": False}}, state_dir, free_base_port())
    first = deploy_hub(spec, timeout=TIMEOUT)
    kill_everything(state_dir)  # the hub dies behind hubfleet's back
    record_path = state_dir / "hub" / "hub.json"
    record = json.loads(record_path.read_text())
    record["config_hash"] = "x"
    # a live process that is not ours now holds the recorded pid
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as other:
        try:
            record["pid"] = other.pid
            record_path.write_text(json.dumps(record))
            status = hub_status(state_dir)[0]
            assert not status.running and status.pid is None
            again = deploy_hub(spec, timeout=TIMEOUT)
            assert again.status == "succeeded" and again.port == first.port
            assert other.poll() is None  # not ours: never signalled
        finally:
            other.kill()


def test_port_taken_by_another_program(state_dir: Path) -> None:
    base = free_base_port()
    with socket.socket() as sock:
        # As the hub would: a connection of an earlier test may leave the port in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", base))
        sock.listen()
        spec = LocalHubSpec("demo", "hub", {}, state_dir, base)
        with pytest.raises(LocalDeployError, match=f"port {base} of hub 'hub'.* is taken"):
            deploy_hub(spec, timeout=TIMEOUT)
    assert processes_in(state_dir) == []


def test_unknown_hub_in_stop(state_dir: Path) -> None:
    from hubfleet.base.errors import HubfleetError

    with pytest.raises(HubfleetError, match="no local hub 'nope'"):
        stop_hubs(state_dir, ["nope"])


def test_env_of_hub_has_no_cloud_credentials(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hubfleet.local.processes import _hub_env

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t")
    monkeypatch.setenv("KUBECONFIG", "/somewhere")
    env = _hub_env(None)
    assert "AWS_SECRET_ACCESS_KEY" not in env and "KUBECONFIG" not in env
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
