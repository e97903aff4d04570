"""Children and private folders die with hubfleet, however hubfleet dies (SIGKILL too).

Every program the runner starts runs in its own process group (its own session),
so that a signal to hubfleet's terminal does not reach it and hubfleet can stop
it with all its children. When hubfleet ends normally or by a signal it can
handle, it stops them itself (`hubfleet.base.runner.terminate_all`) and removes
its private folders (`atexit`). When it is killed outright (SIGKILL, the OOM
killer), nothing of hubfleet runs any more: this module's watchdog does it.

The watchdog is one small process per hubfleet process, started with the first
private folder (`python -I -S watchdog.py`, standard library only): a command
that makes none (render, validate: only short sops calls) pays nothing for it.
Until then the process groups of the programs running are only noted here; the
watchdog is told every one still running when it starts.
Its stdin is a pipe whose only writer is hubfleet (the write end is
close-on-exec: no program inherits it). hubfleet tells it, one line each:

    +PGID    a program's process group to stop if hubfleet dies
    -PGID    that program has ended
    dHEX     a private folder (its path, hex) to remove if hubfleet dies
    kHEX     that folder was removed

When hubfleet ends, however it ends, the kernel closes the pipe and the watchdog
reads EOF at once: it sends SIGTERM to every process group still listed, waits up
to `GRACE_S` seconds, sends SIGKILL, then removes every folder still listed (the
decrypted kubeconfig, cloud keys), and exits. It runs in its own session, so a
Ctrl-C or a dropped terminal does not stop it before hubfleet.

Why not a parent-death signal (`prctl(PR_SET_PDEATHSIG, SIGKILL)`): it must be set
in the child between fork and exec, which Python offers only through
`preexec_fn` (unsafe in a process with threads, and a deploy runs its clusters in
threads) or through an exec'd trampoline (a Python start per program: about 17 ms
of CPU each, measured, on every helm, kubectl and cloud CLI call); it fires when
the *thread* that started the child ends, not the process (prctl(2)), so a
worker thread's exit would kill a program another thread still waits for; it
reaches the direct child only, not the credential plugins helm and kubectl start
in the same process group; and it is Linux only. The watchdog costs one process
per run, reaches whole process groups, works wherever pipes do, and also removes
the private folders at once rather than at the next run (which still sweeps
them: `hubfleet.base.sweep`, for a watchdog that was killed too).

Base room: standard library only (it runs as a script with `-I -S`).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

GRACE_S = 2.0
_POLL_S = 0.02


# --- hubfleet's side -------------------------------------------------------------


class _Link:
    """The pipe to this process's watchdog (started on first use)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.fd: int | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.pid = 0  # the process that started it (a forked child must start its own)
        self.failed = False
        self.groups: set[int] = set()  # live process groups (told at start)


_link = _Link()


def _start() -> int | None:
    """The write end of the pipe to the watchdog, starting it if needed (lock held)."""
    if _link.fd is not None and _link.pid == os.getpid():
        return _link.fd
    if _link.failed:
        return None
    read_end, write_end = os.pipe()  # both close-on-exec: no program inherits them
    try:
        process = subprocess.Popen(
            [sys.executable, "-I", "-S", os.path.abspath(__file__), str(GRACE_S)],
            stdin=read_end,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={},
            close_fds=True,
            start_new_session=True,
        )
    except OSError:
        os.close(write_end)
        _link.failed = True  # no watchdog: the next run's sweep remains
        return None
    finally:
        os.close(read_end)
    _link.fd, _link.process, _link.pid = write_end, process, os.getpid()
    for pgid in sorted(_link.groups):  # running before the watchdog was
        _write(f"+{pgid}")
    return write_end


def _running() -> bool:
    return _link.fd is not None and _link.pid == os.getpid()


def _write(line: str) -> None:
    """One line to the watchdog (lock held, watchdog started)."""
    fd = _link.fd
    if fd is None:
        return
    try:
        os.write(fd, line.encode("ascii") + b"\n")  # one write, < PIPE_BUF: atomic
    except OSError:  # the watchdog is gone: nothing to tell any more
        os.close(fd)
        _link.fd, _link.failed = None, True


def watch_group(pgid: int) -> None:
    """Stop process group `pgid` if hubfleet dies before `release_group(pgid)`."""
    with _link.lock:
        _link.groups.add(pgid)
        if _running():
            _write(f"+{pgid}")


def release_group(pgid: int) -> None:
    with _link.lock:
        _link.groups.discard(pgid)
        if _running():
            _write(f"-{pgid}")


def start() -> bool:
    """Start the watchdog now if it is not running (whether one runs): before making a
    folder, so that registering it is one write."""
    with _link.lock:
        return _start() is not None


def watch_folder(path: str | os.PathLike[str]) -> None:
    """Remove folder `path` if hubfleet dies before `release_folder(path)` (starts the
    watchdog: a private folder holds credentials)."""
    with _link.lock:
        if _start() is not None:
            _write("d" + os.fsencode(path).hex())


def release_folder(path: str | os.PathLike[str]) -> None:
    with _link.lock:
        if _running():
            _write("k" + os.fsencode(path).hex())


def watchdog_pid() -> int | None:
    """The watchdog's pid, None when none runs (tests, diagnostics)."""
    with _link.lock:
        process = _link.process
    return process.pid if process is not None and process.poll() is None else None


@atexit.register
def _close() -> None:
    """At a normal exit: close the pipe (the watchdog acts on what is still listed,
    usually nothing) and reap it."""
    with _link.lock:
        fd, process = _link.fd, _link.process
        _link.fd = None
    if fd is None or process is None or _link.pid != os.getpid():
        return
    os.close(fd)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=GRACE_S + 1.0)


# --- the watchdog ----------------------------------------------------------------


def _apply(line: bytes, groups: set[int], folders: set[bytes]) -> None:
    kind, value = line[:1], line[1:]
    try:
        if kind == b"+":
            groups.add(int(value))
        elif kind == b"-":
            groups.discard(int(value))
        elif kind == b"d":
            folders.add(bytes.fromhex(value.decode("ascii")))
        elif kind == b"k":
            folders.discard(bytes.fromhex(value.decode("ascii")))
    except ValueError:
        pass


def _signal(groups: set[int], sig: int) -> set[int]:
    """Send `sig` to each group; the groups that still exist."""
    alive = set()
    for pgid in groups:
        with contextlib.suppress(OSError):
            os.killpg(pgid, sig)
            alive.add(pgid)
    return alive


def _stop(groups: set[int], grace: float) -> None:
    alive = _signal(groups, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while alive and time.monotonic() < deadline:
        time.sleep(_POLL_S)
        alive = _signal(alive, 0)
    _signal(alive, signal.SIGKILL)


def main(argv: list[str]) -> None:
    grace = float(argv[1]) if len(argv) > 1 else GRACE_S
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_IGN)
    groups: set[int] = set()
    folders: set[bytes] = set()
    pending = b""
    while True:
        try:
            data = os.read(0, 65536)
        except InterruptedError:
            continue
        except OSError:
            break
        if not data:  # hubfleet has ended, however it ended
            break
        pending += data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            _apply(line, groups, folders)
    _stop(groups, grace)
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv)
