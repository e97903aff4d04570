"""Files written since a moment, under some folders: where tests look for a leaked secret.

A shared machine's /tmp holds a million files (other runs' pytest folders, benchmark
fleets): a Python walk of it, a stat or two per file, took minutes under load. `find`
lists the same files (regular files, symlinks not followed, modified at or after the
moment) in C; overlapping folders are walked once.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path


def distinct_roots(roots: Iterable[Path]) -> list[Path]:
    """The existing folders of `roots`, resolved, without one inside another."""
    resolved = sorted({r.resolve() for r in roots if r.exists()}, key=lambda p: len(p.parts))
    kept: list[Path] = []
    for root in resolved:
        if not any(root.is_relative_to(k) for k in kept):
            kept.append(root)
    return kept


def files_written_since(
    roots: Iterable[Path], since: float, *, skip_dirs: Iterable[str] = (), max_size: int
) -> list[Path]:
    """Regular files of `roots` (their trees, symlinks not followed, folders named in
    `skip_dirs` left out) modified at or after `since` (time.time()), of at most
    `max_size` bytes."""
    folders = distinct_roots(roots)
    if not folders:
        return []
    with tempfile.TemporaryDirectory(prefix="written-since-") as scratch:
        # `-newer REF`: modified strictly after REF, so REF is a nanosecond before `since`
        reference = Path(scratch) / "reference"
        reference.touch()
        stamp = int(since * 1e9) - 1
        os.utime(reference, ns=(stamp, stamp))
        prune: list[str] = []
        for name in skip_dirs:
            prune += [*(["-o"] if prune else []), "-name", name]
        argv = ["find", "-P", *map(str, folders)]
        if prune:
            argv += ["(", "-type", "d", "(", *prune, ")", ")", "-prune", "-o"]
        argv += ["-type", "f", "-newer", str(reference), "-size", f"-{max_size + 1}c", "-print0"]
        # Other processes add and remove files meanwhile: find's complaints about them
        # (exit 1) are no finding; its listing is.
        done = subprocess.run(argv, capture_output=True, check=False)
    complaints = [
        line
        for line in done.stderr.decode(errors="replace").splitlines()
        if not line.endswith(("No such file or directory", "Permission denied"))
    ]
    if done.returncode not in (0, 1) or complaints:
        raise AssertionError(f"find failed (exit {done.returncode}): {complaints}")
    return [Path(os.fsdecode(p)) for p in done.stdout.split(b"\0") if p]


def files_holding(paths: Iterable[Path], needle: bytes) -> list[Path]:
    """The files of `paths` that contain `needle` (a file gone meanwhile holds nothing)."""
    found = []
    for path in paths:
        try:
            if needle in path.read_bytes():
                found.append(path)
        except OSError:
            continue
    return found
