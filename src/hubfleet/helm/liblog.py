"""The Helm library's own log lines: it logs through Go's default logger, straight to
file descriptor 2 (`2026/01/01 10:00:00 INFO found symbolic link in path ...`),
whatever `helm_python.enable_logging` says. `library_output()` holds fd 2 around
native calls and drops those lines unless `show_library_logs(True)` (`--debug`).

Apart from `hubfleet.helm.engine` so that the CLI sets this for every command
without loading the native engine.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

_LIBRARY_LOG_LINE = re.compile(
    rb"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d(?:\.\d+)? (?:DEBUG|INFO|WARN|ERROR) "
)
DEBUG_ENV = "HUBFLEET_DEBUG"


class _LibraryStderr:
    """File descriptor 2 while native calls run: captured into an unnamed temporary
    file, then the library's log lines dropped and everything else (what other
    threads wrote meanwhile) passed on. Nested and concurrent calls share one
    capture; it ends when the last of them does."""

    def __init__(self) -> None:
        self.show = bool(os.environ.get(DEBUG_ENV))
        self._lock = threading.Lock()
        self._depth = 0
        self._saved: int | None = None
        self._capture: Any = None

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        if self.show or not self._enter():
            yield
            return
        try:
            yield
        finally:
            self._exit()

    def _enter(self) -> bool:
        with self._lock:
            if self._depth == 0:
                try:
                    sys.stderr.flush()
                    # Closed by _exit, when the last holder leaves.
                    capture = tempfile.TemporaryFile(prefix="hubfleet-stderr-")  # noqa: SIM115
                except (OSError, ValueError):
                    return False
                try:
                    saved = os.dup(2)
                    os.dup2(capture.fileno(), 2)
                except OSError:
                    capture.close()
                    return False  # no usable fd 2: nothing to hold
                self._saved, self._capture = saved, capture
            self._depth += 1
            return True

    def _exit(self) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth > 0 or self._saved is None:
                return
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(self._saved, 2)
            os.close(self._saved)
            capture, self._saved, self._capture = self._capture, None, None
        capture.seek(0)
        kept = b"".join(
            line
            for line in capture.read().splitlines(keepends=True)
            if not _LIBRARY_LOG_LINE.match(line)
        )
        capture.close()
        if kept:
            with contextlib.suppress(OSError):
                os.write(2, kept)


_library_stderr = _LibraryStderr()


def show_library_logs(show: bool) -> None:
    """Let the Helm library's own log lines through to stderr (`--debug`), or not."""
    _library_stderr.show = show or bool(os.environ.get(DEBUG_ENV))


def library_output() -> contextlib.AbstractContextManager[None]:
    """Hold fd 2 around a native call: its log lines are dropped unless shown."""
    return _library_stderr.held()
