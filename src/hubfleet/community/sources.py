"""The inputs of the community decision: the changed files and their contents at base
and head, from a list of changed files (no base: every key of the file counts as
changed) or from git (`--base/--head`, read into memory)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hubfleet.base.errors import ConfigError, HubfleetError
from hubfleet.base.redact import Redactor
from hubfleet.base.yamlio import read_fleet_file
from hubfleet.community.decision import ChangedPath, Decision, PullRequest, Reader, decide
from hubfleet.config.fleet import Fleet
from hubfleet.plan.changes import Change, GitRepo


def worktree_reader(root: Path) -> Reader:
    """Files of the working tree, through the bounded reader (None: absent or refused)."""

    def read(path: str) -> bytes | None:
        if not (root / path).exists():
            return None
        try:
            return read_fleet_file(root, path)
        except ConfigError:
            return None

    return read


def _changed(changes: Sequence[Change]) -> list[ChangedPath]:
    return [ChangedPath(c.path, c.status, c.old_path) for c in changes]


def decide_from_files(
    fleet: Fleet, changes: Sequence[Change], pull: PullRequest | None
) -> Decision:
    """`--changed-files`: nothing to compare with, so every key a changed file sets is checked."""
    return decide(
        fleet,
        _changed(changes),
        read_base=lambda _path: None,
        read_head=worktree_reader(fleet.root),
        pull=pull,
    )


def decide_from_git(
    fleet: Fleet,
    *,
    base: str,
    head: str | None,
    redactor: Redactor,
    pull: PullRequest | None,
) -> Decision:
    """`--base/--head`: the changed files' parsed contents at both revisions compared."""
    repo = GitRepo(fleet.root, redactor)
    base_commit = repo.commit(base)
    head_commit = repo.commit(head) if head is not None else None
    if head_commit is not None and head_commit != repo.head_commit():
        raise HubfleetError(
            "the community decision reads the fleet as checked out: --head must be the "
            "checked-out commit",
            hint="check out the pull request's head (as the workflow does) or leave --head out",
        )
    changes = repo.diff(base_commit, head_commit)
    paths = [c.path for c in changes]
    at_base = repo.read(base_commit, paths)
    at_head = repo.read(head_commit, paths) if head_commit is not None else None
    read_head = (lambda p: at_head.get(p)) if at_head is not None else worktree_reader(fleet.root)
    return decide(
        fleet, _changed(changes), read_base=lambda p: at_base.get(p), read_head=read_head, pull=pull
    )
