"""The bounded file reader of jsonnet evaluation (shared by the evaluating child and
the parent, which finds a file's imports statically): only regular files inside the
repository, each at most `max_file_bytes`, at most `max_imports` of them.

Standard library only: the evaluating child imports it and must start fast.
"""

from __future__ import annotations

import os
from pathlib import Path


class Refused(Exception):
    """A file the reader does not read (outside the repository, too large, too many)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


class Reader:
    """Reads files for the evaluator: regular files inside `root`, size-bounded."""

    def __init__(self, root: Path, *, max_file_bytes: int, max_imports: int) -> None:
        self.root = Path(os.path.abspath(root))
        self.real_root = self.root.resolve()
        self.max_file_bytes = max_file_bytes
        self.max_imports = max_imports
        self.count = 0

    def relative(self, full: str) -> str:
        try:
            return Path(full).relative_to(self.root).as_posix()
        except ValueError:
            return full

    def read(self, full: Path) -> bytes | None:
        """The file's bytes; None when absent. `Refused` outside the repository."""
        if not full.exists():
            return None
        real = full.resolve()
        if not real.is_relative_to(self.real_root) or not real.is_file():
            raise Refused(self.relative(str(full)), "jsonnet reads only files in the repository")
        size = real.stat().st_size
        self.count += 1
        if size > self.max_file_bytes or self.count > self.max_imports:
            raise Refused(self.relative(str(full)), f"jsonnet input too large ({size} bytes)")
        return real.read_bytes()

    def find(self, folder: str, name: str, search: tuple[Path, ...]) -> Path | None:
        """Where an import of `name` from a file in `folder` is: beside it, else on the path."""
        for base in (Path(folder), *search):
            candidate = Path(os.path.normpath(base / name))
            if candidate.exists():
                return candidate
        return None
