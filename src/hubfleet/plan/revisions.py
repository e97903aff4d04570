"""Making a plan from two revisions (`--base REF [--head REF]`): git lists the changes
and the fleet's files are read at both revisions; `--rendered` renders at both."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

from hubfleet.base.redact import Redactor
from hubfleet.config.fleet import Fleet
from hubfleet.config.load import load_fleet
from hubfleet.plan.changes import Change, GitRepo
from hubfleet.plan.history import load_history
from hubfleet.plan.labels import Labels
from hubfleet.plan.plan import Plan, Planned
from hubfleet.plan.planner import RenderCheck, make_plan
from hubfleet.plan.rendered import make_render_check


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
    `cluster.yaml`/`hubfleet.yaml` files are compared at both revisions.

    Head defaults to the working tree; a `--head` other than the checked-out
    commit is read from git into a temporary folder and loaded from there. The plan
    records both commits, the changes and the labels (`Planned`).
    """
    repo = GitRepo(root, redactor)
    base_commit = repo.commit(base)
    head_commit = repo.commit(head) if head is not None else None
    use_worktree = head_commit is None or head_commit == repo.head_commit()
    with tempfile.TemporaryDirectory(prefix="hubfleet-plan-") as tmp:
        workdir = Path(tmp)
        if use_worktree:
            head_fleet = load_fleet(root).fleet_or_raise()
        else:
            assert head_commit is not None
            head_root = repo.extract_all(head_commit, workdir / "head")
            head_fleet = load_fleet(head_root).fleet_or_raise()
        changes = repo.diff(base_commit, None if use_worktree and head is None else head_commit)
        check = make_render_check(repo, base_commit, head_fleet, workdir) if rendered else None
        plan = plan_between(repo, head_fleet, changes, base_commit, labels, check)
    return replace(plan, planned=Planned(tuple(changes), labels.names, base_commit, head_commit))


def plan_between(
    repo: GitRepo,
    head_fleet: Fleet,
    changes: list[Change],
    base_commit: str,
    labels: Labels,
    render_check: RenderCheck | None = None,
) -> Plan:
    """The plan of `changes` from `base_commit` to `head_fleet`, with history: the one
    way both `hubfleet plan --base` and `deploy --plan`'s check make it."""
    history = load_history(repo, head_fleet, changes, base_commit)
    return make_plan(head_fleet, changes, labels=labels, history=history, render_check=render_check)
