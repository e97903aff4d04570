"""Making a plan from two revisions (`--base REF [--head REF]`): git lists the changes
and the fleet's files are read at both revisions; `--rendered` renders at both.

What git says is asked once, into one `Revisions` (the commits, the changes, the
changed YAML files at base, the fleet at head), which the planner and, with
`plan --event`, the community decision (`hubfleet.community.sources`) both read.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from hubfleet.base.redact import Redactor
from hubfleet.config.fleet import BrokenCluster, Fleet
from hubfleet.config.load import load_isolated
from hubfleet.plan.changes import Change
from hubfleet.plan.git import GitRepo
from hubfleet.plan.history import load_history
from hubfleet.plan.labels import Labels
from hubfleet.plan.plan import Plan, Planned, with_broken
from hubfleet.plan.planner import SETTINGS_FILE, RenderCheck, make_plan
from hubfleet.plan.rendered import RenderRun, make_render_check


@dataclass(frozen=True)
class Revisions:
    """Two revisions of the fleet, as git gives them, read once per command."""

    repo: GitRepo
    base: str  # the base commit
    head: str | None  # the head commit (--head), None for the working tree
    checked_out: bool  # the fleet at head is the working tree (no --head, or the checkout)
    changes: tuple[Change, ...]
    # The changed YAML files (by path and old path) at base; None: absent there.
    base_files: Mapping[str, bytes | None]
    head_fleet: Fleet  # the clusters whose configuration loads (docs/isolation.md)
    workdir: Path  # a temporary folder, for the lifetime of the revisions
    broken: tuple[BrokenCluster, ...] = ()  # the clusters whose configuration does not


@contextmanager
def read_revisions(
    root: Path, *, base: str, head: str | None, redactor: Redactor
) -> Iterator[Revisions]:
    """The revisions `base` and `head` (default: the working tree) of the fleet at
    `root`. A `--head` other than the checked-out commit is read from git into a
    temporary folder (removed on leaving) and loaded from there."""
    repo = GitRepo(root, redactor)
    base_commit = repo.commit(base)
    head_commit = repo.commit(head) if head is not None else None
    checked_out = head_commit is None or head_commit == repo.head_commit()
    with tempfile.TemporaryDirectory(prefix="hubfleet-plan-") as tmp:
        workdir = Path(tmp)
        changes = tuple(repo.diff(base_commit, head_commit))
        touched = {path for change in changes for path in change.paths()}
        if checked_out:
            loaded = load_isolated(root, only=touched)
        else:
            assert head_commit is not None
            loaded = load_isolated(repo.extract_all(head_commit, workdir / "head"), only=touched)
        head_fleet = loaded.fleet
        base_files = repo.read(base_commit, _yaml_paths(changes, head_fleet))
        yield Revisions(
            repo,
            base_commit,
            head_commit,
            checked_out,
            changes,
            base_files,
            head_fleet,
            workdir,
            loaded.broken,
        )


def _yaml_paths(changes: Sequence[Change], fleet: Fleet) -> list[str]:
    """The paths (and old paths) of the changed files compared key by key: YAML files
    and the settings file."""
    settings_file = fleet.settings_file or SETTINGS_FILE
    return [
        path
        for change in changes
        for path in change.paths()
        if path.endswith((".yaml", ".yml")) or path == settings_file
    ]


def plan_from_revisions(
    revisions: Revisions, labels: Labels, *, rendered: bool = False, run: RenderRun | None = None
) -> Plan:
    """The plan between two revisions: `cluster.yaml`/`hubfleet.yaml` files compared at
    both. The plan records both commits, the changes and the labels (`Planned`).
    `rendered`: hubs reached by values and chart changes are rendered at both
    (`hubfleet.plan.rendered`); `run` keeps those renders and each hub's change."""
    fleet, changes = revisions.head_fleet, revisions.changes
    check: RenderCheck | None = None
    if rendered or run is not None:
        check = make_render_check(revisions.repo, revisions.base, fleet, revisions.workdir, run=run)
    history = load_history(fleet, changes, revisions.base_files)
    plan = make_plan(fleet, changes, labels=labels, history=history, render_check=check)
    planned = Planned(changes, labels.names, revisions.base, revisions.head)
    return with_broken(replace(plan, planned=planned), revisions.broken)


def plan_from_git(
    root: Path,
    *,
    base: str,
    head: str | None,
    labels: Labels,
    redactor: Redactor,
    rendered: bool = False,
) -> Plan:
    """`--base REF [--head REF]`: git lists the changes (renames detected) and the
    `cluster.yaml`/`hubfleet.yaml` files are compared at both revisions."""
    with read_revisions(root, base=base, head=head, redactor=redactor) as revisions:
        return plan_from_revisions(revisions, labels, rendered=rendered)


def plan_between(
    repo: GitRepo,
    head_fleet: Fleet,
    changes: list[Change],
    base_commit: str,
    labels: Labels,
) -> Plan:
    """The plan of `changes` from `base_commit` to `head_fleet`, with history, as
    `hubfleet plan --base` makes it (`deploy --plan`'s check)."""
    base_files = repo.read(base_commit, _yaml_paths(changes, head_fleet))
    history = load_history(head_fleet, changes, base_files)
    return make_plan(head_fleet, changes, labels=labels, history=history)
