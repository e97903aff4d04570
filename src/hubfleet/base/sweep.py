"""Private folders left by a hubfleet that was killed (SIGKILL, OOM, power): swept.

A private folder is removed when its block exits and, on a signal, at exit; a
process killed outright removes nothing, and its folder keeps a decrypted
kubeconfig or cloud key in TMPDIR. So each folder's name says which process owns
it, and the first private folder a process makes sweeps the stale ones first
(`sweep_stale`).

The name: `hubfleet-creds-<cluster>-XXXXXXXX.<owner>` (the owner last, so that
the name still reads `hubfleet-creds-<cluster>-<random>` up to its first dot),
`<owner>` being
`<pid>.<start>.<boot>.<pidns>.<host>`: the owner's pid, its start time (clock
ticks after boot, /proc/PID/stat field 22), the first 8 hex digits of the boot
id, the inode of its pid namespace and 8 hex digits of the SHA-256 of the host
name. A pid reused by another process has another start time; a folder of a
previous boot of this host is stale whatever its pid. A folder is swept only
when all of this holds:

- it is in TMPDIR, matches the prefix and the owner pattern exactly;
- it is a folder (lstat: a link is never followed nor removed), of this user,
  mode 0700 (what `private_folder` makes);
- its owner is gone: this host in another boot, or (same boot and pid namespace)
  no process with that pid and start time. A folder of another host (a TMPDIR on
  a shared file system) or of another pid namespace of this boot (a container
  sharing TMPDIR) is left alone: its owner cannot be seen from here.

Removal uses `shutil.rmtree` on a descriptor of TMPDIR (it never follows a link
inside, and refuses a top that was swapped for a link). Without /proc (macOS) the
start time is 0 and a folder is stale only when no process has its pid.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

PREFIX = "hubfleet-creds-"
_OWNER = re.compile(r"-[A-Za-z0-9_]+\.(\d+)\.(\d+)\.([0-9a-f]{8})\.(\d+)\.([0-9a-f]{8})\Z")
_PRIVATE_MODE = 0o700


@dataclass(frozen=True)
class Owner:
    """Who made a private folder: enough to tell whether it still runs."""

    pid: int
    start: int  # clock ticks after boot; 0 where unknown
    boot: str  # 8 hex digits of the boot id; "00000000" where unknown
    pidns: int  # inode of the pid namespace; 0 where unknown
    host: str  # 8 hex digits of the SHA-256 of the host name

    def token(self) -> str:
        return f"{self.pid}.{self.start}.{self.boot}.{self.pidns}.{self.host}"


def start_time(pid: int) -> int | None:
    """The process's start time (ticks after boot), 0 without /proc, None when gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read().decode("ascii", errors="replace")
    except FileNotFoundError:
        return None if os.path.isdir("/proc/self") else _start_without_proc(pid)
    except OSError:
        return None
    fields = text.rsplit(")", 1)[-1].split()
    # After the comm field: state is field 3, starttime field 22.
    if len(fields) < 20 or fields[0] == "Z":  # a zombie has ended
        return None
    return int(fields[19])


def _start_without_proc(pid: int) -> int | None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return 0
    return 0


@functools.cache
def _boot() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            return handle.read().strip().replace("-", "")[:8].lower() or "0" * 8
    except OSError:
        return "0" * 8


@functools.cache
def _host() -> str:
    return hashlib.sha256(os.uname().nodename.encode()).hexdigest()[:8]


def _pidns() -> int:
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0


def current_owner() -> Owner:
    """This process, as a private folder's name records it."""
    pid = os.getpid()
    return Owner(pid, start_time(pid) or 0, _boot(), _pidns(), _host())


def owner_of(name: str) -> Owner | None:
    """The owner a folder name records, or None when the name is not ours."""
    if not name.startswith(PREFIX):
        return None
    found = _OWNER.search(name)
    if found is None:
        return None
    pid, start, boot, pidns, host = found.groups()
    return Owner(int(pid), int(start), boot, int(pidns), host)


def is_gone(owner: Owner, here: Owner | None = None) -> bool:
    """Whether the folder's owner has ended (False when it cannot be told)."""
    here = here or current_owner()
    if owner.host != here.host:
        return False
    if owner.boot != here.boot:
        return owner.boot != "0" * 8 and here.boot != "0" * 8
    if owner.pidns != here.pidns:
        return False
    if owner.pid == here.pid:
        return owner.start != here.start
    started = start_time(owner.pid)
    if started is None:
        return True
    return owner.start != 0 and started != owner.start


def sweep_stale(folder: Path | None = None) -> list[str]:
    """Remove this user's private folders in `folder` (default TMPDIR) whose owner is
    gone (module docstring); returns the names removed. Never raises for a folder
    it cannot judge or remove: it is left."""
    where = Path(folder or tempfile.gettempdir())
    here = current_owner()
    removed: list[str] = []
    try:
        dir_fd = os.open(where, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return removed
    try:
        for name in os.listdir(dir_fd):
            owner = owner_of(name)
            if owner is None or not _private(dir_fd, name) or not is_gone(owner, here):
                continue
            with contextlib.suppress(OSError):
                shutil.rmtree(name, dir_fd=dir_fd)
                removed.append(name)
    finally:
        os.close(dir_fd)
    return removed


def _private(dir_fd: int, name: str) -> bool:
    """A real folder (not a link) of this user with mode 0700."""
    try:
        info = os.lstat(name, dir_fd=dir_fd)
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.getuid()
        and stat.S_IMODE(info.st_mode) == _PRIVATE_MODE
    )
