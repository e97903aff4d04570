"""Changed files and file contents from git (`--base/--head`).

`GitRepo` asks git itself, through `hubfleet.base.runner`: the changed paths with
renames detected (`git diff --name-status -M`), and file contents at a revision
(`git cat-file --batch`, into memory). Paths are relative to the fleet root,
which may be a subfolder of the git repository.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from hubfleet.base.errors import HubfleetError, ProgramError
from hubfleet.base.redact import Redactor
from hubfleet.base.runner import run, run_bytes
from hubfleet.plan.changes import Change

GIT_TIMEOUT = 120.0


class GitError(HubfleetError):
    """git could not answer (not a repository, unknown revision)."""


class GitRepo:
    """The git repository holding the fleet at `root` (possibly in a subfolder)."""

    def __init__(self, root: Path, redactor: Redactor) -> None:
        self.root = root
        self.redactor = redactor
        top = self._git(["rev-parse", "--show-toplevel", "--show-prefix"], what="find git")
        lines = top.splitlines()
        self.toplevel = Path(lines[0])
        self.prefix = lines[1].strip() if len(lines) > 1 else ""

    def _git(self, args: Sequence[str], *, what: str, cwd: Path | None = None) -> str:
        try:
            result = run(
                ["git", *args], redactor=self.redactor, cwd=cwd or self.root, timeout=GIT_TIMEOUT
            )
        except ProgramError as exc:
            raise GitError(
                f"git: cannot {what}: {exc.message}",
                hint="--base/--head need the fleet to be a git repository with those revisions "
                "(in CI: fetch them, e.g. actions/checkout with fetch-depth: 0); "
                "or pass --changed-files",
            ) from None
        return result.stdout

    def _git_bytes(self, args: Sequence[str], *, what: str, stdin: bytes | None = None) -> bytes:
        try:
            result = run_bytes(
                ["git", *args],
                redactor=self.redactor,
                cwd=self.toplevel,
                timeout=GIT_TIMEOUT,
                stdin=stdin,
            )
        except ProgramError as exc:
            raise GitError(f"git: cannot {what}: {exc.message}") from None
        return result.stdout

    def commit(self, ref: str) -> str:
        """The commit id `ref` names (GitError if unknown)."""
        out = self._git(
            ["rev-parse", "--verify", "--end-of-options", f"{ref}^{{commit}}"],
            what=f"resolve revision {ref!r}",
        )
        return out.strip()

    def head_commit(self) -> str | None:
        try:
            return self.commit("HEAD")
        except GitError:
            return None

    def diff(self, base: str, head: str | None) -> list[Change]:
        """Changed paths between `base` and `head` (None: the working tree, untracked
        files included), renames detected, relative to the fleet root."""
        revs = [base] if head is None else [base, head]
        out = self._git(
            ["diff", "--name-status", "-M", "-z", "--relative", "--no-ext-diff", *revs, "--"],
            what=f"compare {base!r} with {head or 'the working tree'!r}",
        )
        changes = _parse_name_status_z(out)
        if head is None:
            untracked = self._git(
                ["ls-files", "--others", "--exclude-standard", "-z"], what="list untracked files"
            )
            seen = {c.path for c in changes}
            changes += [Change(p, "A") for p in untracked.split("\0") if p and p not in seen]
        return sorted(changes)

    def read(self, ref: str, paths: Iterable[str]) -> dict[str, bytes | None]:
        """Contents of fleet-relative `paths` at `ref`, in memory (None: absent there)."""
        wanted = sorted(set(paths))
        if not wanted:
            return {}
        out = self._git_bytes(
            ["cat-file", "--batch"], what=f"read files at {ref!r}", stdin=self._objects(ref, wanted)
        )
        found: dict[str, bytes | None] = {}
        view = memoryview(out)
        position = 0
        for path in wanted:
            end = out.index(b"\n", position)
            header = bytes(view[position:end]).decode(errors="replace").split()
            position = end + 1
            if len(header) >= 3 and header[1] == "blob":
                size = int(header[2])
                found[path] = bytes(view[position : position + size])
                position += size + 1
            else:
                found[path] = None  # "missing" (or a tree)
        return found

    def extract(self, ref: str, paths: Iterable[str], dest: Path) -> Path:
        """Write `paths` (files or folders, fleet-relative) at `ref` under `dest`;
        returns the folder standing for the fleet root. Nothing here is decrypted:
        encrypted files stay encrypted."""
        wanted = sorted({p.rstrip("/") for p in paths if p})
        root = dest / self.prefix if self.prefix else dest
        root.mkdir(parents=True, exist_ok=True)
        if not wanted:
            return root
        existing = self._existing(ref, wanted)
        if not existing:
            return root
        data = self._git_bytes(
            ["archive", "--format=tar", ref, "--", *(self.prefix + p for p in existing)],
            what=f"read files at {ref!r}",
        )
        _untar(data, dest)
        return root

    def extract_all(self, ref: str, dest: Path) -> Path:
        """The whole fleet at `ref` under `dest`; returns the fleet root there."""
        tree = f"{ref}:{self.prefix}" if self.prefix else ref
        data = self._git_bytes(["archive", "--format=tar", tree], what=f"read {ref!r}")
        dest.mkdir(parents=True, exist_ok=True)
        _untar(data, dest)
        return dest

    def _objects(self, ref: str, paths: Iterable[str]) -> bytes:
        """`git cat-file --batch` input naming `paths` (fleet-relative) at `ref`."""
        return "".join(f"{ref}:{self.prefix}{p}\n" for p in paths).encode()

    def _existing(self, ref: str, paths: list[str]) -> list[str]:
        out = self._git_bytes(
            ["cat-file", "--batch-check"],
            what=f"list files at {ref!r}",
            stdin=self._objects(ref, paths),
        )
        lines = out.decode(errors="replace").splitlines()
        return [p for p, line in zip(paths, lines, strict=False) if not line.endswith("missing")]


def _untar(data: bytes, dest: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        archive.extractall(dest, filter="data")


def _parse_name_status_z(out: str) -> list[Change]:
    fields = out.split("\0")
    changes: list[Change] = []
    index = 0
    while index < len(fields):
        status = fields[index]
        if not status:
            index += 1
            continue
        letter = status[0]
        if letter in "RC":
            old, new = fields[index + 1], fields[index + 2]
            changes.append(Change(new, "R" if letter == "R" else "A", old))
            index += 3
        else:
            changes.append(Change(fields[index + 1], letter))
            index += 2
    return changes
