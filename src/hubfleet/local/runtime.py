"""The local provider's runtime: each hub is a JupyterHub process on 127.0.0.1.

State folder of a cluster (`LocalHubSpec.state_dir`, default
`<repo>/.hubfleet/local/<cluster>`, mode 0700)::

    .lock                        cluster lock (port allocation)
    <hub>/                       0700, the hub's working directory
        hub.json                 pid, process start time, ports, URL, config hash (no values)
        ports.json               the hub's stable ports
        hubfleet-service-token   0600, token of the health-check service (hub-local credential)
        jupyterhub.sqlite        JupyterHub's database (users survive upgrades)
        jupyterhub_cookie_secret JupyterHub's cookie secret
        jupyterhub.log           the hub's log (JupyterHub, proxy, servers)
        home/<user>/             single-user homes

The values (secrets included) never touch the disk: they reach JupyterHub through a
pipe read by the generic `jupyterhub_config.py` shipped in this package.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import hubfleet
from hubfleet.base.causes import cause_lines
from hubfleet.base.errors import DeployError, HubfleetError, did_you_mean
from hubfleet.base.redact import Redactor
from hubfleet.health.check import DEFAULT_USER, base_url_of
from hubfleet.helm.values import at_key
from hubfleet.local import hubconfig, processes

DEFAULT_BASE_PORT = 18000
# The user the health check runs as by default: the hub grants its service scopes on it.
DEFAULT_CHECK_USER = DEFAULT_USER
LOG_NAME = "jupyterhub.log"
STATE_NAME = "hub.json"
PORTS_NAME = "ports.json"
TOKEN_NAME = "hubfleet-service-token"
STOP_GRACE_S = 10.0
TAIL_LINES = 8  # of this run's log, quoted when a hub fails to start
_HUB_NAME_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


@dataclass(frozen=True)
class LocalHubSpec:
    """One hub of a local cluster, as the orchestrator builds it from the fleet.

    `values` are the hub's merged helm values (secrets included, in memory only);
    `values_key` selects the z2jh values inside them when the hub's chart wraps the
    JupyterHub chart (e.g. "jupyterhub" for a basehub-style chart). `chart_values`
    are `values` coalesced over the chart's default values, as an install on
    Kubernetes gets them (None: the chart was not available, the hub runs on
    `values` alone); the hub is configured from them, while the ignored
    (Kubernetes-only) keys are those of `values`, the keys the hub's files set.
    """

    cluster: str
    hub: str
    values: Mapping[str, Any] = field(repr=False, hash=False)
    state_dir: Path
    base_port: int = DEFAULT_BASE_PORT
    values_key: str | None = None
    chart_values: Mapping[str, Any] | None = field(default=None, repr=False, hash=False)


@dataclass(frozen=True)
class LocalDeployResult:
    cluster: str
    hub: str
    status: Literal["succeeded", "unchanged"]
    url: str
    pid: int
    port: int
    log_path: Path
    ignored_keys: tuple[str, ...]
    message: str
    duration_s: float


@dataclass(frozen=True)
class LocalHubStatus:
    cluster: str
    hub: str
    url: str
    pid: int | None
    running: bool
    uptime_s: float | None
    healthy: bool
    log_path: Path
    # singleuser.defaultUrl of the running configuration (None: the server's own default)
    default_url: str | None = None
    # Processes of the hub left running although the hub is not (an orphaned proxy
    # holding the hub's port, a single-user server): what `local stop` stops.
    leftovers: tuple[processes.Leftover, ...] = ()
    # Another program listening on the stopped hub's port (" by NAME (pid N)"), if any.
    port_taken_by: str | None = None
    port: int | None = None

    @property
    def note(self) -> str:
        """One line on what a stopped hub left behind ("" when nothing)."""
        parts = [f"orphaned {left.describe(self.port)}" for left in self.leftovers]
        if self.port_taken_by:
            parts.append(f"port {self.port} is taken{self.port_taken_by}")
        return "; ".join(parts)


@dataclass(frozen=True)
class LocalStopResult:
    cluster: str
    hub: str
    was_running: bool
    processes_stopped: int


@dataclass(frozen=True)
class Ports:
    port: int
    hub_port: int
    proxy_api_port: int


class LocalDeployError(DeployError):
    """A local hub failed to start or to answer; `log_path` is its log."""

    def __init__(self, message: str, *, log_path: Path, hint: str | None = None) -> None:
        super().__init__(message, hint=hint or f"see the hub's log: {log_path}")
        self.log_path = log_path


DEFAULT_STATE_ROOT = Path(".hubfleet") / "local"


def cluster_state_dir(repo_root: Path, cluster: str, state_root: str | None = None) -> Path:
    """A local cluster's state folder: `<repo>/<state_root or .hubfleet/local>/<cluster>`."""
    return (repo_root / (state_root or DEFAULT_STATE_ROOT) / cluster).resolve()


# ----------------------------------------------------------------------------- helpers


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` (0600) atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _check_hub_name(name: str, what: str) -> None:
    if not name or name.startswith(".") or not set(name) <= _HUB_NAME_OK:
        raise HubfleetError(
            f"invalid {what} name {name!r} for the local provider",
            hint="use letters, digits, '-', '_' and '.'",
        )


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port(avoid: set[int]) -> int:
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in avoid:
            return port
    raise HubfleetError("no free port on 127.0.0.1")


def hub_url(port: int, base_url: str = "/") -> str:
    return f"http://127.0.0.1:{port}{base_url}"


def api_answers(url: str, timeout: float = 2.0) -> bool:
    """True when `GET <url>hub/api/` answers with JupyterHub's version."""
    try:
        with urllib.request.urlopen(url + "hub/api/", timeout=timeout) as response:
            data = json.loads(response.read().decode("utf-8"))
            return isinstance(data, dict) and "version" in data
    except (OSError, ValueError, urllib.error.URLError):
        return False


def find_proxy_command(search_from: Sequence[Path] = ()) -> list[str]:
    """configurable-http-proxy: `$HUBFLEET_CHP`, the project's `node_modules`, or PATH."""
    explicit = os.environ.get("HUBFLEET_CHP")
    if explicit:
        return [explicit]
    starts = [*search_from, Path(hubfleet.__file__).resolve().parent, Path.cwd()]
    for start in starts:
        for folder in (start, *start.parents):
            candidate = folder / "node_modules" / ".bin" / "configurable-http-proxy"
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return [str(candidate)]
    found = shutil.which("configurable-http-proxy")
    if found:
        return [found]
    raise DeployError(
        "configurable-http-proxy is not installed",
        hint="run `npm ci --no-audit --no-fund` in the hubfleet repository "
        "or `npm install -g configurable-http-proxy`",
    )


def _this_run(log_path: Path, offset: int) -> str:
    """What the hub's log got since `offset` (where this run's banner starts)."""
    try:
        with log_path.open("rb") as log:
            log.seek(offset)
            return log.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _failure_text(log_path: Path, offset: int, redactor: Redactor | None) -> tuple[str, str]:
    """(why, tail) of this run's log: the lines that say why it failed, joined on one
    line ("" when none does), and its last lines, indented; both redacted."""
    text = _this_run(log_path, offset)
    why = "; ".join(line[:300] for line in cause_lines(text))
    tail = [line for line in text.splitlines() if line.strip()][-TAIL_LINES:]
    out = "\n".join("    " + line[:300] for line in tail)
    if redactor is not None:
        return redactor.scrub(why), redactor.scrub(out)
    return why, out


def values_for_hub(spec: LocalHubSpec) -> dict[str, Any]:
    """The JupyterHub chart values the hub runs with (inside `values_key` for wrapper
    charts): over the chart's defaults when the spec has them."""
    values = at_key(
        spec.values if spec.chart_values is None else spec.chart_values, spec.values_key
    )
    plain: dict[str, Any] = json.loads(json.dumps(values, default=str))
    return plain


def default_url_of(values: Mapping[str, Any]) -> str | None:
    """`singleuser.defaultUrl` of z2jh values (None when unset)."""
    singleuser = values.get("singleuser")
    url = singleuser.get("defaultUrl") if isinstance(singleuser, Mapping) else None
    return str(url) if url else None


def config_hash(values: Mapping[str, Any], ports: Ports, check_user: str) -> str:
    """What decides "unchanged": the values, hubfleet's version, the public port, the check user."""
    doc = {
        "values": values,
        "hubfleet": hubfleet.__version__,
        "port": ports.port,
        "check_user": check_user,
    }
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# ----------------------------------------------------------------------------- state


def _hub_dirs(state_dir: Path) -> list[Path]:
    if not state_dir.is_dir():
        return []
    return sorted(p for p in state_dir.iterdir() if p.is_dir() and (p / PORTS_NAME).is_file())


def _recorded_ports(state_dir: Path) -> dict[str, dict[str, Any]]:
    """hub -> its recorded ports.json (call with the cluster lock held)."""
    return {d.name: _read_json(d / PORTS_NAME) for d in _hub_dirs(state_dir)}


def _used_ports(recorded: Mapping[str, Mapping[str, Any]]) -> set[int]:
    return {int(p) for r in recorded.values() for p in r.values() if isinstance(p, int)}


def _write_ports(state_dir: Path, hub: str, ports: Ports) -> None:
    _write_private(state_dir / hub / PORTS_NAME, json.dumps(ports.__dict__, indent=2) + "\n")


def _allocate_ports(state_dir: Path, hub: str, base_port: int) -> Ports:
    """The hub's recorded ports, or new ones: public base_port + n, internal ones from the OS."""
    with _locked(state_dir / ".lock"):
        recorded = _recorded_ports(state_dir)
        mine = recorded.get(hub)
        keys = ("port", "hub_port", "proxy_api_port")
        if mine and all(isinstance(mine.get(k), int) for k in keys):
            return Ports(mine["port"], mine["hub_port"], mine["proxy_api_port"])
        used = _used_ports(recorded)
        n = 0
        while base_port + n in used:
            n += 1
        port = base_port + n
        hub_port = _free_port(used | {port})
        proxy_api_port = _free_port(used | {port, hub_port})
        ports = Ports(port, hub_port, proxy_api_port)
        _private_dir(state_dir / hub)
        _write_ports(state_dir, hub, ports)
        return ports


def _refresh_internal_ports(state_dir: Path, hub: str, ports: Ports) -> Ports:
    """Internal ports taken by another program are replaced (and recorded) silently."""
    if port_is_free(ports.hub_port) and port_is_free(ports.proxy_api_port):
        return ports
    with _locked(state_dir / ".lock"):
        used = _used_ports(_recorded_ports(state_dir))
        hub_port = ports.hub_port if port_is_free(ports.hub_port) else _free_port(used)
        used.add(hub_port)
        api_port = ports.proxy_api_port if port_is_free(ports.proxy_api_port) else _free_port(used)
        fresh = Ports(ports.port, hub_port, api_port)
        _write_ports(state_dir, hub, fresh)
        return fresh


def _service_token(hub_dir: Path) -> str:
    path = hub_dir / TOKEN_NAME
    try:
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token
    except FileNotFoundError:
        pass
    token = secrets.token_hex(32)
    _write_private(path, token + "\n")
    return token


def local_check_token(state_dir: Path, hub: str) -> str:
    """The health-check service token of a local hub (kept 0600 in its state folder)."""
    path = state_dir / hub / TOKEN_NAME
    try:
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        token = ""
    if not token:
        raise HubfleetError(
            f"hub {hub!r} has no health-check token in {state_dir}",
            hint="deploy the hub first",
        )
    return token


def _running_state(hub_dir: Path) -> tuple[dict[str, Any], bool]:
    """The hub's recorded state, and whether its recorded process is alive and ours."""
    state = _read_json(hub_dir / STATE_NAME)
    pid = state.get("pid")
    alive = processes.is_our_process(
        pid if isinstance(pid, int) else None, _float_or_none(state.get("create_time"))
    )
    return state, alive


def _float_or_none(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _write_state(hub_dir: Path, state: Mapping[str, Any]) -> None:
    _write_private(hub_dir / STATE_NAME, json.dumps(state, indent=2, sort_keys=True) + "\n")


def _clear_pid(hub_dir: Path, state: Mapping[str, Any]) -> None:
    if state:
        drop = ("pid", "create_time", "config_hash")
        _write_state(hub_dir, {k: v for k, v in state.items() if k not in drop})


def _stop_recorded(hub_dir: Path, state: Mapping[str, Any], alive: bool) -> int:
    """Stop the recorded hub (signalled only when `alive`: it is ours) and every process
    working in its folder, then forget its pid; return how many processes were stopped."""
    count = processes.terminate_hub(
        state.get("pid") if alive else None,
        _float_or_none(state.get("create_time")),
        hub_dir,
        grace=STOP_GRACE_S,
        proxy_pid_file=hub_dir / hubconfig.PROXY_PID_NAME,
    )
    _clear_pid(hub_dir, state)
    return count


# ----------------------------------------------------------------------------- deploy


def deploy_hub(
    spec: LocalHubSpec,
    *,
    timeout: float = 120.0,
    redactor: Redactor | None = None,
    check_user: str = DEFAULT_CHECK_USER,
) -> LocalDeployResult:
    """Start (or restart, or leave running) one local hub; wait until its API answers.

    Unchanged configuration and a live process: status "unchanged", nothing touched.
    Otherwise the hub is stopped (its whole process tree) and started again with the
    same database and cookie secret, so users survive. Raises `LocalDeployError`
    (a `DeployError`) when JupyterHub exits or does not answer within `timeout`.
    """
    started = time.monotonic()
    _check_hub_name(spec.cluster, "cluster")
    _check_hub_name(spec.hub, "hub")
    state_dir = _private_dir(Path(spec.state_dir).resolve())
    hub_dir = _private_dir(state_dir / spec.hub)
    log_path = hub_dir / LOG_NAME
    values = values_for_hub(spec)
    ignored = hubconfig.ignored_keys(at_key(spec.values, spec.values_key))
    base_url = base_url_of(values)

    with _locked(hub_dir / ".lock"):
        ports = _allocate_ports(state_dir, spec.hub, spec.base_port)
        token = _service_token(hub_dir)
        if redactor is not None:
            redactor.add(token)
        url = hub_url(ports.port, base_url)
        digest = config_hash(values, ports, check_user)
        state, alive = _running_state(hub_dir)

        if alive and state.get("config_hash") == digest and api_answers(url, timeout=5.0):
            return LocalDeployResult(
                cluster=spec.cluster,
                hub=spec.hub,
                status="unchanged",
                url=url,
                pid=int(state["pid"]),
                port=ports.port,
                log_path=log_path,
                ignored_keys=ignored,
                message="configuration unchanged; hub left running",
                duration_s=time.monotonic() - started,
            )

        restarted = alive
        _stop_recorded(hub_dir, state, alive)

        if not port_is_free(ports.port):
            raise LocalDeployError(
                f"port {ports.port} of hub {spec.hub!r} (cluster {spec.cluster!r}) "
                f"is taken{processes.who_listens(ports.port)}",
                log_path=log_path,
                hint=f"stop what listens on 127.0.0.1:{ports.port}, or change the cluster's "
                f"local base port (the hub's ports are recorded in {hub_dir / PORTS_NAME})",
            )
        ports = _refresh_internal_ports(state_dir, spec.hub, ports)

        payload = {
            "values": values,
            "runtime": {
                "cluster": spec.cluster,
                "hub": spec.hub,
                "hub_dir": str(hub_dir),
                "port": ports.port,
                "hub_port": ports.hub_port,
                "proxy_api_port": ports.proxy_api_port,
                "proxy_command": find_proxy_command([state_dir]),
                "service_token": token,
                "check_user": check_user,
            },
        }
        proc, log_offset = _start(hub_dir, log_path, payload, digest)
        create_time = processes.create_time_of(proc.pid)
        record = {
            "cluster": spec.cluster,
            "hub": spec.hub,
            "pid": proc.pid,
            "create_time": create_time,
            "url": url,
            "port": ports.port,
            "hub_port": ports.hub_port,
            "proxy_api_port": ports.proxy_api_port,
            "started_at": time.time(),
            "hubfleet_version": hubfleet.__version__,
            "log": str(log_path),
            "default_url": default_url_of(values),
        }
        _write_state(hub_dir, record)

        try:
            _wait_ready(proc, url, started + timeout, spec, (log_path, log_offset), redactor)
        except BaseException:
            processes.terminate_hub(proc.pid, create_time, hub_dir, grace=3.0)
            _reap(proc)
            _clear_pid(hub_dir, record)
            raise

        # Recorded only once the hub answers: a failed start is retried next time.
        record["config_hash"] = digest
        _write_state(hub_dir, record)
        what = "restarted with the new configuration" if restarted else "started"
        return LocalDeployResult(
            cluster=spec.cluster,
            hub=spec.hub,
            status="succeeded",
            url=url,
            pid=proc.pid,
            port=ports.port,
            log_path=log_path,
            ignored_keys=ignored,
            message=f"hub {what}",
            duration_s=time.monotonic() - started,
        )


def _hub_env(proxy_dir: Path | None) -> dict[str, str]:
    """A small environment: no cloud credentials or kubeconfig reach the hub or its users."""
    keep = ("HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ", "USER", "LOGNAME", "VIRTUAL_ENV")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    path = [str(Path(sys.executable).parent)]
    if proxy_dir is not None:
        path.append(str(proxy_dir))
    path.append(os.environ.get("PATH", os.defpath))
    env["PATH"] = os.pathsep.join(path)
    package_root = str(Path(hubfleet.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p
    )
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _start(
    hub_dir: Path, log_path: Path, payload: dict[str, Any], digest: str
) -> tuple[subprocess.Popen[bytes], int]:
    """The JupyterHub process, and where its run starts in the (appended) log."""
    config_file = Path(hubconfig.__file__).with_name("jupyterhub_config.py")
    proxy_cmd = payload["runtime"]["proxy_command"]
    env = _hub_env(Path(proxy_cmd[0]).parent if proxy_cmd else None)
    read_fd, write_fd = os.pipe()
    env[hubconfig.CONFIG_FD_ENV] = str(read_fd)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.chmod(log_path, 0o600)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    banner = f"\n=== hubfleet {stamp}: starting JupyterHub (config {digest[:12]})\n"
    offset = os.lseek(log_fd, 0, os.SEEK_END)
    os.write(log_fd, banner.encode())
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(config_file)],
            cwd=hub_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_fd,
            stderr=subprocess.STDOUT,
            pass_fds=(read_fd,),
            start_new_session=True,
            umask=0o077,
        )
    finally:
        os.close(read_fd)
        os.close(log_fd)
    data = json.dumps(payload).encode("utf-8")

    def feed() -> None:
        try:
            with os.fdopen(write_fd, "wb") as pipe:
                pipe.write(data)
        except BrokenPipeError:
            pass

    threading.Thread(target=feed, name="hubfleet-local-config", daemon=True).start()
    return proc, offset


def _wait_ready(
    proc: subprocess.Popen[bytes],
    url: str,
    deadline: float,
    spec: LocalHubSpec,
    log: tuple[Path, int],
    redactor: Redactor | None,
) -> None:
    """Until the hub's API answers; a `LocalDeployError` whose first line says why when
    it exits or does not answer in time (from this run's lines of the log, `log`:
    (path, offset where this run starts))."""
    log_path, offset = log
    what = f"JupyterHub of hub {spec.hub!r} (cluster {spec.cluster!r})"
    while True:
        code = proc.poll()
        timed_out = code is None and time.monotonic() > deadline
        if code is not None or timed_out:
            why, tail = _failure_text(log_path, offset, redactor)
            failure = (
                f"did not answer at {url}hub/api/ in time"
                if timed_out
                else f"exited with code {code} while starting"
            )
            raise LocalDeployError(
                f"{what} {failure}{': ' + why if why else ''}\n"
                f"  this run's last lines of {log_path}:\n{tail}",
                log_path=log_path,
            )
        if api_answers(url, timeout=2.0):
            return
        time.sleep(0.25)


def _reap(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


# ----------------------------------------------------------------------------- stop, status


def stop_hubs(state_dir: Path, hubs: Sequence[str] | None = None) -> list[LocalStopResult]:
    """Stop hubs of one local cluster (all when `hubs` is None); no process is left behind."""
    state_dir = Path(state_dir).resolve()
    known = [d.name for d in _hub_dirs(state_dir)]
    names = list(hubs) if hubs is not None else known
    for name in names:
        if name not in known:
            raise HubfleetError(
                f"no local hub {name!r} in {state_dir}",
                hint=did_you_mean(name, known) or "deployed hubs: " + (", ".join(known) or "none"),
            )
    results = []
    for name in names:
        hub_dir = state_dir / name
        with _locked(hub_dir / ".lock"):
            state, alive = _running_state(hub_dir)
            count = _stop_recorded(hub_dir, state, alive)
            with contextlib.suppress(FileNotFoundError):
                (hub_dir / hubconfig.PROXY_PID_NAME).unlink()
        results.append(
            LocalStopResult(
                cluster=str(state.get("cluster") or state_dir.name),
                hub=name,
                was_running=alive,
                processes_stopped=count,
            )
        )
    return results


def hub_status(
    state_dir: Path, hubs: Sequence[str] | None = None, *, probe_timeout: float = 2.0
) -> list[LocalHubStatus]:
    """Every hub ever deployed in this cluster's state folder (or only those of `hubs`
    among them), running or not; each running one's API is probed."""
    state_dir = Path(state_dir).resolve()
    out = []
    for hub_dir in _hub_dirs(state_dir):
        if hubs is not None and hub_dir.name not in hubs:
            continue
        state, alive = _running_state(hub_dir)
        ports = _read_json(hub_dir / PORTS_NAME)
        url = str(state.get("url") or hub_url(int(ports.get("port", 0))))
        create_time = _float_or_none(state.get("create_time"))
        default_url = state.get("default_url")
        port = ports.get("port") if isinstance(ports.get("port"), int) else None
        left = () if alive else _leftovers(hub_dir)
        holder = None
        if not alive and port is not None and not any(port in x.ports for x in left):
            holder = processes.who_listens(port) or None
        out.append(
            LocalHubStatus(
                cluster=str(state.get("cluster") or state_dir.name),
                hub=hub_dir.name,
                url=url,
                pid=int(state["pid"]) if alive else None,
                running=alive,
                uptime_s=round(time.time() - create_time, 1) if alive and create_time else None,
                healthy=alive and api_answers(url, timeout=probe_timeout),
                log_path=hub_dir / LOG_NAME,
                default_url=str(default_url) if isinstance(default_url, str) else None,
                leftovers=left,
                port_taken_by=holder,
                port=port,
            )
        )
    return out


def _leftovers(hub_dir: Path) -> tuple[processes.Leftover, ...]:
    """The processes of a hub that is not running (its proxy, servers, services)."""
    return processes.leftovers(hub_dir, proxy_pid_file=hub_dir / hubconfig.PROXY_PID_NAME)
