"""The bounded file reader of jsonnet evaluation (shared by the evaluating child and
the parent, which finds a file's imports statically): only regular files inside the
repository, opened confined to it (`hubfleet.base.confined`: no link leaving it,
never under `.git/`, checked as opened), each at most `max_file_bytes`, at most
`max_imports` of them.

Standard library only (and `hubfleet.base.confined`, itself standard library only):
the evaluating child imports it and must start fast.
"""

from __future__ import annotations

import os
from pathlib import Path

from hubfleet.base.confined import Confinement, Root

OUTSIDE = "jsonnet reads only files in the repository"


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
        self.confined = Root(self.root)
        self.max_file_bytes = max_file_bytes
        self.max_imports = max_imports
        self.count = 0
        # Every file read: repository-relative path -> text (to find an import's line).
        self.texts: dict[str, str] = {}

    def relative(self, full: str) -> str:
        try:
            return Path(full).relative_to(self.root).as_posix()
        except ValueError:
            return full

    def read(self, full: Path) -> bytes | None:
        """The file's bytes; None when absent. `Refused` outside the repository (or
        reached through a link leaving it), not a regular file, or too large."""
        relative = self.relative(os.path.normpath(full))
        if relative == os.path.normpath(full):
            raise Refused(relative, OUTSIDE)
        self.count += 1
        if self.count > self.max_imports:
            raise Refused(relative, f"jsonnet imports more than {self.max_imports} files")
        try:
            content = self.confined.read_file(relative, limit=self.max_file_bytes)
        except Confinement as exc:
            if exc.kind == "missing":
                return None
            if exc.kind == "large":
                size = exc.message.split(" is ", 1)[-1].split(" bytes", 1)[0]
                if not size.isdigit():
                    size = f"over {self.max_file_bytes}"
                raise Refused(relative, f"jsonnet input too large ({size} bytes)") from None
            raise Refused(relative, f"{OUTSIDE}: {exc.message}") from None
        self.texts[relative] = content.decode("utf-8", errors="replace")
        return content

    def find(self, folder: str, name: str, search: tuple[Path, ...]) -> Path | None:
        """Where an import of `name` from a file in `folder` is: beside it, else on the path."""
        for base in (Path(folder), *search):
            candidate = Path(os.path.normpath(base / name))
            if os.path.lexists(candidate):
                return candidate
        return None
