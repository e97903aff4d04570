"""Making a plan from the command's inputs: a list of changed files (two revisions:
`hubfleet.plan.revisions`, kept apart so that `--changed-files` loads no chart code)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from hubfleet.base.errors import HubfleetError
from hubfleet.config.fleet import Fleet
from hubfleet.plan.changes import Change
from hubfleet.plan.labels import Labels
from hubfleet.plan.plan import Plan, Planned, make_plan


def plan_from_files(fleet: Fleet, changes: Sequence[Change], *, labels: Labels) -> Plan:
    """`--changed-files`: no history, so a changed cluster.yaml selects its whole cluster.
    The plan records the changes and labels it was made from (`Planned`)."""
    plan = make_plan(fleet, changes, labels=labels)
    return replace(plan, planned=Planned(tuple(changes), labels.names))


def require_one_input(
    changed_files: str | None, base: str | None, head: str | None, *, rendered: bool = False
) -> None:
    if changed_files is not None and base is not None:
        raise HubfleetError(
            "give either --changed-files or --base, not both",
            hint="--base compares two revisions itself; --changed-files takes a list",
        )
    if changed_files is None and base is None:
        raise HubfleetError(
            "nothing to plan from",
            hint="pass --changed-files FILE (or - for stdin) or --base REF [--head REF]",
        )
    if head is not None and base is None:
        raise HubfleetError("--head needs --base", hint="e.g. --base origin/main --head HEAD")
    if rendered and base is None:
        raise HubfleetError(
            "--rendered needs --base", hint="rendering at base reads the base revision from git"
        )
