"""Processes of a local hub: is a recorded pid still ours, and stopping a hub's whole tree.

JupyterHub starts configurable-http-proxy, the single-user servers and managed
services (the idle culler) each in a new session (`start_new_session=True`), so
signalling the hub's process group is not enough. A hub's processes are found by
ancestry (descendants of the hub) and, for orphans of a hub that crashed, by
their working directory, which is always inside the hub's state folder (the hub
and the proxy run there, single-user servers in `<hub>/home/<user>`).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil

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
