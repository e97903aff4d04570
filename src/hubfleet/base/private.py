"""Private folders: the 0700 temporary folders that hold decrypted credentials.

`private_folder` makes one for a block (a provider's kubeconfig and keys, a
Terraform run's data dir) and removes it when the block exits, on every path
(success, exception, cancellation). `remove_all_private_folders` is a last resort
for a signal handler or `atexit`: it removes every folder still open in this
process. Each folder is registered with the watchdog (`hubfleet.base.watchdog`),
which removes it when hubfleet is killed outright; and its name records its owner,
so the first private folder any later run makes sweeps the folders whose owner is
gone (`hubfleet.base.sweep`), for a watchdog that was killed too.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from hubfleet.base import watchdog
from hubfleet.base.sweep import PREFIX, current_owner, sweep_stale

_open_lock = threading.Lock()
_open_folders: set[Path] = set()


def remove_all_private_folders() -> int:
    """Remove every private folder still open in this process (signal handler, atexit)."""
    with _open_lock:
        folders = list(_open_folders)
        _open_folders.clear()
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    return len(folders)


atexit.register(remove_all_private_folders)


def open_private_folders() -> list[Path]:
    """The private folders open now (tests, diagnostics)."""
    with _open_lock:
        return sorted(_open_folders)


_swept = False


def sweep_once() -> None:
    """Sweep the stale private folders of killed runs, once per process (before its
    first private folder; `hubfleet.base.sweep`)."""
    global _swept
    with _open_lock:
        if _swept:
            return
        _swept = True
    sweep_stale()


@contextlib.contextmanager
def private_folder(cluster: str) -> Iterator[Path]:
    """A fresh 0700 folder for one cluster's block, removed on exit whatever happens;
    its name records this process (pid, start time), so that a run that was killed
    leaves nothing a later run does not sweep."""
    sweep_once()
    watchdog.start()  # before the folder exists: registering it is then one write
    owner = current_owner().token()
    folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{_safe(cluster)}-", suffix=f".{owner}"))
    os.chmod(folder, 0o700)
    watchdog.watch_folder(folder)  # removed at once if this process is killed
    with _open_lock:
        _open_folders.add(folder)
    try:
        yield folder
    finally:
        with _open_lock:
            _open_folders.discard(folder)
        shutil.rmtree(folder, ignore_errors=True)
        watchdog.release_folder(folder)


def write_private(folder: Path, name: str, content: bytes = b"") -> Path:
    """Create `folder/name` with mode 0600 (never an existing file) holding `content`."""
    path = folder / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        view = memoryview(content)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    finally:
        os.close(fd)
    return path


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:40]
