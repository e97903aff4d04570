"""The scheduled status workflow's issues: one GitHub issue per drifted cluster, opened,
updated while it drifts, closed when it is back in sync (docs/ci.md, docs/status.md).

A cluster's drift is its live plan (`hubfleet plan --live --cluster NAME --output json`,
written by that cluster's job of the workflow): a job (never deployed, failed, pending,
changed by hand, behind git), a hub held after a rollback, or a cluster whose live
state could not be read. No plan file for a cluster of the matrix (its job failed before
writing one) is "unknown": its open issue says so and stays open, none is opened.

`decide` is a pure function of the drifts and the open issues; `apply_actions` runs the
`gh` calls (through the runner: explicit argv, redacted, the token passed alone). An
issue is found by a hidden marker in its body (`<!-- hubfleet-drift cluster=NAME -->`),
never by its title; every text from the fleet or the clusters is escaped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hubfleet.base.errors import HubfleetError
from hubfleet.base.markdown import md_text
from hubfleet.ci import ghissues
from hubfleet.ci.ghissues import Gh
from hubfleet.plan.live import LIVE, is_held
from hubfleet.plan.plan import Plan, read_plan
from hubfleet.plan.schema import JOB_LISTS

State = Literal["in-sync", "drifted", "unknown"]
Verb = Literal["create", "update", "close", "note"]
_MARKER = ghissues.Marker("drift", r"cluster=[A-Za-z0-9._-]+")
MARKER = "<!-- hubfleet-drift cluster={} -->"  # _MARKER's line, for a cluster's name
_SAFE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
MAX_LINES = 200  # of one issue's list (a body is at most 65,536 characters)


@dataclass(frozen=True)
class ClusterDrift:
    cluster: str
    state: State
    lines: tuple[str, ...] = ()  # markdown list items, escaped


@dataclass(frozen=True)
class OpenIssue:
    number: int
    cluster: str


@dataclass(frozen=True)
class Action:
    verb: Verb
    cluster: str
    number: int | None  # None: a new issue
    title: str = ""
    body: str = ""


def drift_of(cluster: str, plan: Plan) -> ClusterDrift:
    """A cluster's drift from its live plan."""
    lines: list[str] = []
    for key, _ in JOB_LISTS:
        for job in getattr(plan, key):
            if job.cluster == cluster:
                reasons = md_text("; ".join(r.removeprefix(LIVE) for r in job.reasons))
                hub = md_text(job.hub or "support")
                lines.append(f"- **{hub}** ({job.kind}): {reasons}")
    for job in plan.skipped:
        if job.cluster == cluster and is_held(job):
            why = job.choice_reason.removeprefix(LIVE)
            lines.append(f"- **{md_text(job.hub or 'support')}** (held): {md_text(why)}")
    live = plan.live
    for gone in live.unreachable if live is not None else ():
        if gone.cluster == cluster:
            lines.append(f"- live state not read: {md_text(gone.message)}")
    return ClusterDrift(cluster, "drifted" if lines else "in-sync", tuple(lines))


def read_drifts(plans: Path, clusters: Sequence[str]) -> list[ClusterDrift]:
    """Each cluster's drift from `<plans>/<cluster>.json` (unknown when absent or
    unreadable: the cluster's job did not get to write it)."""
    found = []
    for cluster in sorted(set(clusters)):
        path = plans / f"{cluster}.json"
        if not path.is_file():
            found.append(ClusterDrift(cluster, "unknown", ("- no live plan: its job failed",)))
            continue
        try:
            found.append(drift_of(cluster, read_plan(path)))
        except HubfleetError as exc:
            why = md_text(exc.message.splitlines()[0] if exc.message else "unreadable")
            found.append(ClusterDrift(cluster, "unknown", (f"- its live plan: {why}",)))
    return found


def title(cluster: str) -> str:
    return f"hubfleet drift: cluster {cluster} differs from git"


def body(drift: ClusterDrift, run_url: str) -> str:
    lines = list(drift.lines[:MAX_LINES])
    if len(drift.lines) > MAX_LINES:
        lines.append(f"- … and {len(drift.lines) - MAX_LINES} more")
    where = f" ([run]({run_url}))" if ghissues.is_run_url(run_url) else ""
    head = (
        f"The live state of cluster `{drift.cluster}` differs from git{where}:"
        if drift.state == "drifted"
        else f"The live state of cluster `{drift.cluster}` could not be checked{where}:"
    )
    return "\n".join(
        [
            MARKER.format(drift.cluster),
            head,
            "",
            *lines,
            "",
            "Updated by the scheduled status workflow; closed when the cluster is back in "
            "sync. `hubfleet plan --live --cluster NAME` shows the same; `hubfleet deploy "
            "--plan` of it (or `drift.repair: true` in hubfleet.yaml) deploys git's state.",
        ]
    )


def decide(
    drifts: Sequence[ClusterDrift], issues: Sequence[OpenIssue], run_url: str = ""
) -> list[Action]:
    """What to do: open an issue for a drifted cluster without one, update the one it
    has, close the issue of a cluster back in sync; note an unknown cluster's issue."""
    open_by_cluster: dict[str, OpenIssue] = {}
    for known in sorted(issues, key=lambda i: i.number):
        open_by_cluster.setdefault(known.cluster, known)
    actions = []
    for drift in drifts:
        issue = open_by_cluster.get(drift.cluster)
        if drift.state == "drifted":
            verb: Verb = "update" if issue else "create"
            number = issue.number if issue else None
            actions.append(
                Action(verb, drift.cluster, number, title(drift.cluster), body(drift, run_url))
            )
        elif issue is None:
            continue
        elif drift.state == "in-sync":
            actions.append(
                Action("close", drift.cluster, issue.number, body="Back in sync with git.")
            )
        else:
            actions.append(Action("note", drift.cluster, issue.number, body=body(drift, run_url)))
    return actions


def parse_issues(text: str) -> list[OpenIssue]:
    """`gh issue list --json number,body` as open drift issues (by their marker)."""
    return _drift_issues(ghissues.parse_issues(text))


def _drift_issues(issues: Sequence[ghissues.Issue]) -> list[OpenIssue]:
    found = []
    for issue in issues:
        marker = _MARKER.read(issue.body)
        if marker is not None:
            found.append(OpenIssue(issue.number, marker.removeprefix("cluster=")))
    return found


def list_issues(gh: Gh, repository: str, label: str) -> list[OpenIssue]:
    return _drift_issues(ghissues.list_open(gh, repository, label))


def apply_actions(gh: Gh, repository: str, label: str, actions: Sequence[Action]) -> list[str]:
    """Run `actions` with `gh` (the words after `gh`, text); one line per action, for
    the log."""
    for action in actions:
        if not _SAFE_NAME.match(action.cluster):
            raise HubfleetError(f"not a cluster name: {action.cluster!r}")
    if any(a.verb == "create" for a in actions):
        about = "a cluster whose live state differs from git (hubfleet)"
        ghissues.ensure_label(gh, repository, label, about)
    done = []
    for action in actions:
        if action.verb == "create":
            ghissues.open_issue(gh, repository, action.title, action.body, [label])
            done.append(f"{action.cluster}: drift issue opened")
            continue
        number = _number(action)
        if action.verb == "update":
            ghissues.edit_issue(gh, repository, number, action.body, action.title)
            done.append(f"{action.cluster}: drift issue #{number} updated")
        elif action.verb == "close":
            ghissues.close_issue(gh, repository, number, comment=action.body)
            done.append(f"{action.cluster}: drift issue #{number} closed (back in sync)")
        else:
            ghissues.comment_issue(gh, repository, number, action.body)
            done.append(f"{action.cluster}: drift issue #{number}: state unknown, noted")
    return done


def _number(action: Action) -> int:
    if action.number is None:
        raise HubfleetError(f"no drift issue to {action.verb} for {action.cluster}")
    return action.number


def summary(drifts: Sequence[ClusterDrift]) -> str:
    """The workflow's summary: one row per cluster."""
    lines = ["## hubfleet drift", "", "| cluster | state | differences |", "|---|---|---|"]
    for drift in drifts:
        lines.append(f"| {md_text(drift.cluster)} | {drift.state} | {len(drift.lines)} |")
    return "\n".join(lines) + "\n"
