"""What a jsonnet values file may read, found without evaluating it (the plan's
dependency graph uses it; evaluating is `hubfleet.helm.jsonnet`, which re-exports
these names). Apart so that a plan imports neither the runner nor the evaluator pool.
"""

from __future__ import annotations

import re
from pathlib import Path

from hubfleet.base.confined import Confinement
from hubfleet.helm.jsonnet_reader import Reader

MAX_FILE_BYTES = 1024 * 1024
MAX_IMPORTS = 1000

_IMPORT = re.compile(
    r"""\b(import|importstr|importbin)\s*(?:'((?:[^'\\\n]|\\.)*)'|"((?:[^"\\\n]|\\.)*)")"""
)


def is_jsonnet(path: str) -> bool:
    return path.endswith(".jsonnet")


def new_reader(root: Path) -> Reader:
    return Reader(root, max_file_bytes=MAX_FILE_BYTES, max_imports=MAX_IMPORTS)


def jsonnet_dependencies(root: Path, path: str) -> list[str]:
    """The repository-relative files `path` may read: itself, what it imports
    (found statically, transitively), and the targets of links among them."""
    reader = new_reader(root)
    top = reader.root / path
    search = (top.parent,)
    seen: dict[str, None] = {}
    pending: list[tuple[Path, bool]] = [(top, True)]
    while pending and len(seen) < MAX_IMPORTS:
        full, follow = pending.pop()
        relative = reader.relative(str(full))
        if relative in seen or relative == str(full):
            continue  # outside the repository: never read, no dependency
        seen[relative] = None
        if full.is_symlink():
            target = reader.relative(str(full.resolve()))
            if not target.startswith("/"):
                seen.setdefault(target, None)
        real = full.resolve()
        if not follow or not real.is_relative_to(reader.real_root) or not real.is_file():
            continue  # never read outside the repository
        try:
            content = reader.confined.read_file(relative, limit=MAX_FILE_BYTES)
        except (Confinement, OSError):
            continue  # refused: the evaluation says why
        text = content.decode("utf-8", errors="replace")
        for match in _IMPORT.finditer(text):
            name = match.group(2) if match.group(2) is not None else match.group(3)
            found = reader.find(str(full.parent), name, search)
            if found is not None:
                pending.append((found, match.group(1) == "import"))
    return list(seen)
