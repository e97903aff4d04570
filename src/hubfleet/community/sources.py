"""The inputs of the community decision: the changed files and their contents at base
and head, from a list of changed files (no base: every key of the file counts as
changed) or from git (`--base/--head`: the plan's `Revisions`, read once)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hubfleet.base.errors import ConfigError, HubfleetError
from hubfleet.base.yamlio import read_fleet_file
from hubfleet.community.decision import ChangedPath, Decision, PullRequest, Reader, decide
from hubfleet.config.fleet import Fleet
from hubfleet.plan.changes import Change

if TYPE_CHECKING:
    from hubfleet.plan.revisions import Revisions


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


def decide_from_revisions(revisions: Revisions, pull: PullRequest | None) -> Decision:
    """`--base/--head`: the changed files' parsed contents at both revisions compared,
    from the revisions the plan was made from (git is not asked again, the fleet not
    loaded again); head is the fleet as checked out."""
    if not revisions.checked_out:
        raise HubfleetError(
            "the community decision reads the fleet as checked out: --head must be the "
            "checked-out commit",
            hint="check out the pull request's head (as the workflow does) or leave --head out",
        )
    fleet, changes, at_base = revisions.head_fleet, revisions.changes, revisions.base_files
    read_head = worktree_reader(fleet.root)
    if revisions.head is not None:
        at_head = revisions.repo.read(revisions.head, [c.path for c in changes])
        read_head = at_head.get
    return decide(fleet, _changed(changes), read_base=at_base.get, read_head=read_head, pull=pull)
