"""Files written whole or not at all: a temporary file in the same folder, then a rename.

A write that fails (out of disk space, quota, a read-only folder) removes its
temporary file and raises `WriteError` naming the file: never a partial file,
never a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import tempfile
from pathlib import Path

from hubfleet.base.errors import HubfleetError

_REASONS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.ENOENT: "no such folder",
    errno.EEXIST: "a file stands where its folder should be",
    errno.ENOTDIR: "a file stands where its folder should be",
}


class WriteError(HubfleetError):
    """A file could not be written (exit 1); nothing of it was left behind."""

    exit_code = 1


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write `data` to `path` atomically (see the module docstring)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _error(path, exc) from None
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except OSError as exc:
        raise _error(path, exc) from None
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise _error(path, exc) from None


def check_writable(path: Path) -> None:
    """Fail now, not after a long run, when `path`'s folder cannot take a new file
    (the folder is made when missing; `path` itself is not touched)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise _error(path, exc) from None


def _error(path: Path, exc: OSError) -> WriteError:
    reason = _REASONS.get(exc.errno or 0) or exc.strerror or str(exc)
    hint = "free some space and run again" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else None
    return WriteError(f"cannot write {path}: {reason}", hint=hint)
