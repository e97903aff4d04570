"""A plan file checked against the fleet it claims to plan (`deploy --plan`).

A plan file is handed from the plan job to the deploy jobs; a job added to it by
hand (or by anything that can replace the artifact) must not deploy. The plan
records what it was made from (`Planned`); here the plan is made again from that
record and the fleet being deployed, and each job the file lists must be one the
fleet gives (fewer is fine: a retry of a subset).

- From git (`planned.base`, `planned.head`): the checkout must be the head commit,
  the base commit must be in the clone, and the recorded changes must be git's
  changes between them; the plan is made again with history, as `plan --base`
  made it.
- From a list (`--changed-files`): the plan is made again from the recorded list
  (without history a changed `cluster.yaml` selects its whole cluster, as then).

`--rendered` only drops jobs and the community decision only filters them, so
neither is needed to check a file.
"""

from __future__ import annotations

from collections.abc import Iterable

from hubfleet.base.errors import HubfleetError
from hubfleet.base.redact import Redactor
from hubfleet.config.fleet import Fleet
from hubfleet.plan.changes import Change
from hubfleet.plan.git import GitRepo
from hubfleet.plan.job import JsonFile
from hubfleet.plan.labels import Labels
from hubfleet.plan.plan import Plan, Planned
from hubfleet.plan.planner import make_plan
from hubfleet.plan.revisions import plan_between
from hubfleet.plan.schema import JOB_LISTS

REGENERATE = "make the plan again with `hubfleet plan --base BASE --head HEAD --output json`"


def replan(fleet: Fleet, planned: Planned, file: JsonFile, redactor: Redactor) -> Plan:
    """The plan the `fleet` gives for what `planned` records (errors at the file's line)."""
    labels = Labels(planned.labels)
    if planned.base is None:
        return make_plan(fleet, planned.changes, labels=labels)
    try:
        repo = GitRepo(fleet.root, redactor)
        head = _head(repo, planned, file)
        base = _commit(repo, planned.base, file)
        changes = repo.diff(base, head)
    except HubfleetError as exc:
        if exc.path == file.path:
            raise
        raise file.error(
            f"cannot compare the plan's commits: {exc.message}",
            "planned",
            hint="deploy --plan makes the plan again from git: fetch the history "
            "(actions/checkout with fetch-depth: 0)",
        ) from None
    if _touched(changes) != _touched(planned.changes):
        raise file.error(
            "planned.changes are not git's changes between planned.base and planned.head",
            "planned",
            "changes",
            hint=REGENERATE,
        )
    return plan_between(repo, fleet, changes, base, labels)


def _head(repo: GitRepo, planned: Planned, file: JsonFile) -> str | None:
    if planned.head is None:
        return None
    checked_out = repo.head_commit()
    if checked_out != planned.head:
        raise file.error(
            f"the plan was made at commit {planned.head}, this checkout is "
            f"{checked_out or 'not a commit'}",
            "planned",
            "head",
            hint="deploy the commit the plan was made at, or " + REGENERATE,
        )
    return planned.head


def _commit(repo: GitRepo, commit: str, file: JsonFile) -> str:
    found = repo.commit(commit)
    if found != commit:
        raise file.error(f"planned.base {commit} is not a commit", "planned", "base")
    return found


def _touched(changes: Iterable[Change]) -> set[str]:
    return {path for change in changes for path in change.paths()}


def deployable(plan: Plan) -> dict[tuple[str, str | None], str]:
    """(cluster, hub) -> kind of every job the plan deploys."""
    return {(job.cluster, job.hub): job.kind for key, _ in JOB_LISTS for job in getattr(plan, key)}
