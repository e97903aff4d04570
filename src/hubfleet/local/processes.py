"""Processes of a local hub: starting JupyterHub, waiting until it answers, is a recorded
pid still ours, and stopping a hub's whole tree.

JupyterHub starts configurable-http-proxy, the single-user servers and managed
services (the idle culler) each in a new session (`start_new_session=True`), so
signalling the hub's process group is not enough. A hub's processes are found by
ancestry (descendants of the hub) and, for orphans of a hub that crashed, by
their working directory, which is always inside the hub's state folder (the hub
and the proxy run there, single-user servers in `<hub>/home/<user>`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

import hubfleet
from hubfleet.base.causes import cause_lines
from hubfleet.base.errors import DeployError
from hubfleet.base.redact import Redactor
from hubfleet.local import hubconfig

TAIL_LINES = 8  # of this run's log, quoted when a hub fails to start

# Tolerance when comparing a process's start time with the recorded one.
CREATE_TIME_SLACK_S = 1.0


def is_our_process(pid: int | None, create_time: float | None) -> bool:
    """True when `pid` is alive, was started at `create_time` and is a JupyterHub."""
    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        if create_time is not None and abs(proc.create_time() - create_time) > CREATE_TIME_SLACK_S:
            return False
        return any("jupyterhub" in part for part in proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def create_time_of(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def _inside(path: str, folder: Path) -> bool:
    try:
        return Path(path).resolve().is_relative_to(folder)
    except OSError:
        return False


def processes_in(folder: Path) -> list[psutil.Process]:
    """This user's processes whose working directory is inside `folder`."""
    folder = folder.resolve()
    me = os.getuid()
    found = []
    for proc in psutil.process_iter(["pid", "uids"]):
        try:
            if proc.pid == os.getpid() or proc.info["uids"] is None:
                continue
            if proc.info["uids"].real != me:
                continue
            if _inside(proc.cwd(), folder):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def proxy_from_pid_file(pid_file: Path) -> psutil.Process | None:
    """The configurable-http-proxy of this user that `pid_file` names, if it still runs."""
    try:
        pid = int(pid_file.read_text(encoding="utf-8").strip())
        proc = psutil.Process(pid)
        if proc.uids().real != os.getuid() or proc.status() == psutil.STATUS_ZOMBIE:
            return None
        if any("configurable-http-proxy" in part for part in proc.cmdline()):
            return proc
    except (OSError, ValueError, psutil.Error):
        pass
    return None


def hub_processes(folder: Path, proxy_pid_file: Path | None = None) -> list[psutil.Process]:
    """The processes working inside a hub's `folder`, and the proxy its pid file names."""
    found = {proc.pid: proc for proc in processes_in(folder)}
    proxy = proxy_from_pid_file(proxy_pid_file) if proxy_pid_file is not None else None
    if proxy is not None:
        found.setdefault(proxy.pid, proxy)
    return [found[pid] for pid in sorted(found)]


@dataclass(frozen=True)
class Leftover:
    """A process of a hub still running after the hub itself ended."""

    pid: int
    name: str
    ports: tuple[int, ...]  # TCP ports it listens on

    def describe(self, public_port: int | None = None) -> str:
        held = ", ".join(
            f"{port} (the hub's port)" if port == public_port else str(port) for port in self.ports
        )
        return f"{self.name} (pid {self.pid})" + (f" holding port {held}" if held else "")


def _name(proc: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error):
        if any("configurable-http-proxy" in part for part in proc.cmdline()):
            return "configurable-http-proxy"
        return str(proc.name())
    return "?"


def _listening(proc: psutil.Process) -> tuple[int, ...]:
    with contextlib.suppress(psutil.Error):
        ports = {
            conn.laddr.port
            for conn in proc.net_connections(kind="tcp")
            if conn.status == psutil.CONN_LISTEN and conn.laddr
        }
        return tuple(sorted(ports))
    return ()


def leftovers(folder: Path, *, proxy_pid_file: Path | None = None) -> tuple[Leftover, ...]:
    """What still runs of a hub that is not running (`hub_processes`)."""
    return tuple(
        Leftover(proc.pid, _name(proc), _listening(proc))
        for proc in hub_processes(folder, proxy_pid_file)
    )


def _listener(port: int) -> psutil.Process | None:
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == "LISTEN" and conn.pid:
                return psutil.Process(conn.pid)
    except (psutil.Error, OSError):
        pass
    return None


def _alive(procs: Iterable[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except psutil.Error:
            continue
    return alive


def _signal(procs: Iterable[psutil.Process], sig: int) -> None:
    for proc in procs:
        try:
            proc.send_signal(sig)
        except psutil.Error:
            continue


def terminate_hub(
    pid: int | None,
    create_time: float | None,
    folder: Path,
    *,
    grace: float,
    proxy_pid_file: Path | None = None,
) -> int:
    """Stop a hub and every process of its tree; return how many processes were stopped.

    SIGTERM to the hub first, so that JupyterHub stops its servers, services and
    proxy cleanly; after `grace` seconds everything left (descendants recorded
    before the signal, any process working inside `folder`, and the proxy named
    by `proxy_pid_file`) gets SIGKILL.
    """
    targets: dict[int, psutil.Process] = {}
    hub: psutil.Process | None = None
    if pid and is_our_process(pid, create_time):
        try:
            hub = psutil.Process(pid)
            targets[hub.pid] = hub
            for child in hub.children(recursive=True):
                targets[child.pid] = child
        except psutil.Error:
            hub = None
    for proc in hub_processes(folder, proxy_pid_file):
        targets.setdefault(proc.pid, proc)
    if not targets:
        return 0
    if hub is not None:
        _signal([hub], signal.SIGTERM)
        with contextlib.suppress(psutil.Error):  # TimeoutExpired included
            hub.wait(timeout=grace)
    rest = _alive(targets.values())
    _signal(rest, signal.SIGTERM)
    _, rest = psutil.wait_procs(rest, timeout=min(grace, 3.0))
    if rest:
        _signal(rest, signal.SIGKILL)
        psutil.wait_procs(rest, timeout=5.0)
    # Reap our own direct child (the hub), if this process started it.
    if pid:
        with contextlib.suppress(OSError):  # ChildProcessError: not our child
            os.waitpid(pid, os.WNOHANG)
    return len(targets)


def who_listens(port: int) -> str:
    """ " by NAME (pid N)" for the process listening on `port`, when it can be known."""
    holder = _listener(port)
    return f" by {_name(holder)} (pid {holder.pid})" if holder is not None else ""


# ----------------------------------------------------------------------------- start, wait


class LocalDeployError(DeployError):
    """A local hub failed to start or to answer; `log_path` is its log."""

    def __init__(self, message: str, *, log_path: Path, hint: str | None = None) -> None:
        super().__init__(message, hint=hint or f"see the hub's log: {log_path}")
        self.log_path = log_path


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


def start_hub(
    hub_dir: Path, log_path: Path, payload: hubconfig.HubPayload, digest: str
) -> tuple[subprocess.Popen[bytes], int]:
    """The JupyterHub process, and where its run starts in the (appended) log; the
    payload reaches its configuration through a pipe, never a file."""
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
    data = hubconfig.encode_payload(payload)

    def feed() -> None:
        try:
            with os.fdopen(write_fd, "wb") as pipe:
                pipe.write(data)
        except BrokenPipeError:
            pass

    threading.Thread(target=feed, name="hubfleet-local-config", daemon=True).start()
    return proc, offset


def wait_ready(
    proc: subprocess.Popen[bytes],
    url: str,
    deadline: float,
    what: str,
    log: tuple[Path, int],
    redactor: Redactor | None,
) -> None:
    """Until the hub's API answers; a `LocalDeployError` whose first line says why when
    `what` (the JupyterHub of a hub, in words) exits or does not answer in time (from this
    run's lines of the log, `log`: (path, offset where this run starts))."""
    log_path, offset = log
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


def reap(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
