"""Health-check results -> GitHub issues (`hubfleet ci incidents`, docs/health-check.md).

The scheduled health workflow runs `hubfleet check --all CLUSTER --output json` per
cluster, then this, once, over every cluster's results:

- a hub that failed (after its retry: a flaky check that passed the second time is
  `ok`) opens one issue labelled `hubfleet-health`, `cluster:<cluster>` and
  `hub:<hub>`, mentioning its owners, or updates the open one (its body: the latest
  failure and how many checks failed since; a comment when the failure changed);
- a hub that passed closes its open issue, saying how long it was down;
- a hub skipped (its check switched off) or cancelled, a cluster whose job left no
  results: nothing changes.

Every call to GitHub goes through `gh` (its token from GH_TOKEN). Text from fleet
files (hub and cluster names, messages) is escaped as inert Markdown; owners are
mentioned only when they are well-formed GitHub handles from the fleet's own
configuration (a hub's community owners, hubfleet.yaml's `notify.contacts`), and a
team only of the repository's own organization (GitHub could not notify another's).
Labels stay within GitHub's 50 characters: a longer one is shortened with a digest,
so two hubs never share one.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from hubfleet.base.errors import HubfleetError
from hubfleet.base.markdown import md_code, md_text
from hubfleet.ci import ghissues
from hubfleet.ci.ghissues import Marker, words
from hubfleet.ci.ghissues import validate_repository as validate_repository
from hubfleet.ci.ghissues import validate_run_url as validate_run_url
from hubfleet.config.fleet import Fleet, release_label
from hubfleet.deploy.fleetcheck import FleetCheck, HubCheck, parse_time

LABEL = "hubfleet-health"
MAX_LABEL = 50  # GitHub's limit on a label's name
MAX_TITLE = 256
# A user (`@login`) or a team (`@org/team`); the only text written as a mention.
_HANDLE = re.compile(r"@([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))(?:/([A-Za-z0-9][A-Za-z0-9_.-]{0,99}))?")
# The marker in an issue's body: which hub, since when, how many failing checks.
MARKER = Marker("health", r"\{[^<>]*\}")

Kind = Literal["open", "update", "close"]
GhRunner = ghissues.ArgvRunner  # the CLI's runner: the whole argv, stdin as bytes


def labels_of(cluster: str, hub: str) -> tuple[str, str, str]:
    """The issue's labels: `hubfleet-health`, `cluster:<c>`, `hub:<h>`, each a valid
    GitHub label (at most 50 characters, no comma, printable)."""
    return (LABEL, _label("cluster:", cluster), _label("hub:", f"{cluster}/{hub}", hub))


def _label(prefix: str, identity: str, shown: str | None = None) -> str:
    """`prefix` + `shown` (default `identity`), made safe; shortened with a digest of
    `identity` when too long or changed, so distinct identities keep distinct labels.

    The hub label carries only the hub's name when it fits: the cluster label beside
    it tells hubs of the same name apart, and the lookup matches both."""
    text = shown if shown is not None else identity
    safe = re.sub(r"[^A-Za-z0-9._/-]", "-", text)
    label = prefix + safe
    if safe == text and len(label) <= MAX_LABEL:
        return label
    digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:8]
    room = MAX_LABEL - len(prefix) - len(digest) - 1
    return f"{prefix}{safe[:room]}~{digest}"


def mention(handle: str, organization: str | None) -> str:
    """`handle` as a mention when it is a well-formed user, or a team of `organization`;
    anything else as inert text (no notification)."""
    match = _HANDLE.fullmatch(handle)
    if match is None:
        return md_text(handle)
    org, team = match.groups()
    if team is not None and (organization is None or org.lower() != organization.lower()):
        return md_code(handle)
    return handle


def hub_owners(fleet: Fleet) -> dict[tuple[str, str], tuple[str, ...]]:
    """(cluster, hub) -> who is told about it: its community's owners, then the
    contacts hubfleet.yaml's `notify.contacts` gives it (`cluster/hub` or its name)."""
    contacts = fleet.settings.notify.contacts
    owners: dict[tuple[str, str], tuple[str, ...]] = {}
    for hub in fleet.hubs():
        found = list(hub.community.owners) if hub.community is not None else []
        found += contacts.get(release_label(hub.cluster, hub.name), [])
        found += contacts.get(hub.name, [])
        owners[(hub.cluster, hub.name)] = tuple(dict.fromkeys(found))
    return owners


# ---------------------------------------------------------------- the open issues


@dataclass(frozen=True)
class OpenIssue:
    number: int
    title: str
    labels: frozenset[str]
    created_at: datetime
    body: str

    def marker(self) -> Mapping[str, Any]:
        found = MARKER.read(self.body)
        if found is None:
            return {}
        try:
            data = json.loads(found)
        except ValueError:
            return {}
        return data if isinstance(data, Mapping) else {}


def parse_issues(text: str) -> list[OpenIssue]:
    """`gh issue list --json number,title,labels,createdAt,body` as read."""
    return [_open_issue(issue) for issue in ghissues.parse_issues(text)]


def _open_issue(issue: ghissues.Issue) -> OpenIssue:
    created = parse_time(issue.created_at, "gh issue list")
    return OpenIssue(issue.number, issue.title, issue.labels, created, issue.body)


# ---------------------------------------------------------------- what to do


@dataclass(frozen=True)
class Action:
    kind: Kind
    cluster: str
    hub: str
    labels: tuple[str, ...]
    number: int | None = None  # the issue (update, close)
    title: str = ""
    body: str = ""  # the issue's new body (open, update)
    comment: str = ""  # a comment (update when the failure changed; close)


def plan_incidents(
    check: FleetCheck,
    issues: Sequence[OpenIssue],
    owners: Mapping[tuple[str, str], Sequence[str]],
    *,
    organization: str | None,
    run_url: str | None = None,
) -> list[Action]:
    """What the results change: one action per hub whose issue opens, updates or closes."""
    actions = []
    for hub in check.hubs:
        labels = labels_of(hub.cluster, hub.hub)
        issue = _find(issues, labels)
        if hub.status == "failed":
            told = owners.get((hub.cluster, hub.hub), ())
            actions.append(_failing(check, hub, labels, issue, told, organization, run_url))
        elif hub.status == "ok" and issue is not None:
            actions.append(_healthy(check, hub, labels, issue))
    return actions


def _find(issues: Sequence[OpenIssue], labels: Iterable[str]) -> OpenIssue | None:
    """The hub's open issue (the oldest, if several were opened by hand)."""
    return ghissues.find_by_labels(issues, labels)


def _digest(hub: HubCheck) -> str:
    text = f"{hub.failed_step}\n{hub.message}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _failing(
    check: FleetCheck,
    hub: HubCheck,
    labels: tuple[str, ...],
    issue: OpenIssue | None,
    owners: Sequence[str],
    organization: str | None,
    run_url: str | None,
) -> Action:
    marker = issue.marker() if issue is not None else {}
    since = _since(issue) if issue is not None else check.checked_at
    count = marker.get("failures")
    failures = (count if isinstance(count, int) and count > 0 else 1) + (issue is not None)
    digest = _digest(hub)
    state = {
        "cluster": hub.cluster,
        "hub": hub.hub,
        "since": since,
        "failures": failures,
        "last": check.checked_at,
        "digest": digest,
    }
    body = _body(hub, state, owners, organization, run_url)
    title = f"Health check failing: {release_label(hub.cluster, hub.hub)}"[:MAX_TITLE]
    if issue is None:
        return Action("open", hub.cluster, hub.hub, labels, title=title, body=body)
    comment = ""
    if marker.get("digest") != digest:
        comment = (
            f"The check of {md_code(release_label(hub.cluster, hub.hub))} at "
            f"{md_text(check.checked_at)} "
            f"fails differently now: {_failure(hub)}"
        )
    return Action("update", hub.cluster, hub.hub, labels, issue.number, title, body, comment)


def _failure(hub: HubCheck) -> str:
    step = f"step {md_code(hub.failed_step)}: " if hub.failed_step else ""
    return step + md_text(hub.message or "failed")


def _body(
    hub: HubCheck,
    state: Mapping[str, Any],
    owners: Sequence[str],
    organization: str | None,
    run_url: str | None,
) -> str:
    label = md_code(release_label(hub.cluster, hub.hub))
    lines = [
        f"The scheduled health check of hub {label} fails "
        f"(checked {hub.tries} times in a row, {state['failures']} failing checks "
        f"since {md_text(state['since'])}).",
        "",
        f"- last failing check: {md_text(state['last'])}",
        f"- failure: {_failure(hub)}",
    ]
    if run_url:
        lines.append(f"- run: {run_url}")
    told = [mention(o, organization) for o in owners]
    nobody = "none listed (hubfleet.yaml `notify.contacts` or the hub's `community.owners`)"
    lines += ["", "Owners: " + (", ".join(told) if told else nobody)]
    lines += [
        "",
        "This issue closes by itself when the hub passes its check again "
        "(`hubfleet check --all` in the hubfleet health workflow).",
        "",
        # The marker holds only checked names and times: no `-->` can end it early.
        MARKER.text(json.dumps(dict(state), sort_keys=True)),
    ]
    return "\n".join(lines) + "\n"


def _since(issue: OpenIssue) -> str:
    """When the hub started failing: the marker's time (checked: an issue's body can be
    edited by hand), else when the issue was opened."""
    text = issue.marker().get("since")
    try:
        return _iso(parse_time(text)) if isinstance(text, str) and text else _iso(issue.created_at)
    except HubfleetError:
        return _iso(issue.created_at)


def _healthy(check: FleetCheck, hub: HubCheck, labels: tuple[str, ...], issue: OpenIssue) -> Action:
    since = parse_time(_since(issue))
    now = parse_time(check.checked_at)
    flaky = " (it passed when checked again: a flaky check)" if hub.flaky else ""
    comment = (
        f"The health check of {md_code(release_label(hub.cluster, hub.hub))} passes again at "
        f"{md_text(check.checked_at)}{flaky}: down for {format_duration(now - since)} "
        f"(since {md_text(_iso(since))})."
    )
    return Action("close", hub.cluster, hub.hub, labels, issue.number, comment=comment)


def _iso(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def format_duration(delta: Any) -> str:
    """A time span as `2d 3h 4m` (at least `0m`; a negative one as `0m`)."""
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days}d"] if days else []
    parts += [f"{hours}h"] if hours or days else []
    parts.append(f"{minutes}m")
    return " ".join(parts)


# ---------------------------------------------------------------- through gh


def list_issues(gh: GhRunner, repository: str) -> list[OpenIssue]:
    """The open health issues (`gh`: the CLI's runner, the whole argv with bytes)."""
    return [_open_issue(issue) for issue in ghissues.list_open(words(gh), repository, LABEL)]


def apply_actions(gh: GhRunner, repository: str, actions: Sequence[Action]) -> list[str]:
    """Carry the actions out through `gh`; one line per action done."""
    run = words(gh)
    done = []
    made: set[str] = set()
    for action in actions:
        if action.kind == "open":
            for label in (label for label in action.labels if label not in made):
                ghissues.ensure_label(run, repository, label, "hubfleet health check")
                made.add(label)
            ghissues.open_issue(run, repository, action.title, action.body, action.labels)
            done.append(f"opened   {action.cluster}/{action.hub}")
            continue
        number = _number(action)
        if action.kind == "update":
            ghissues.edit_issue(run, repository, number, action.body)
            if action.comment:
                ghissues.comment_issue(run, repository, number, action.comment)
            done.append(f"updated  {action.cluster}/{action.hub} (#{number})")
        else:
            ghissues.comment_issue(run, repository, number, action.comment)
            ghissues.close_issue(run, repository, number, reason="completed")
            done.append(f"closed   {action.cluster}/{action.hub} (#{number})")
    return done


def _number(action: Action) -> int:
    if action.number is None:
        raise HubfleetError(f"no issue to {action.kind} for {action.cluster}/{action.hub}")
    return action.number


def merge_results(checks: Sequence[FleetCheck]) -> FleetCheck:
    """Several clusters' results (one file per cluster job) as one."""
    if not checks:
        raise HubfleetError("no health-check results", hint="give --results FILE or a folder")
    checked_at = max(c.checked_at for c in checks)
    clusters = tuple(sorted({name for c in checks for name in c.clusters}))
    hubs = tuple(sorted((h for c in checks for h in c.hubs), key=lambda h: (h.cluster, h.hub)))
    broken = tuple(sorted({name for c in checks for name in c.broken}))
    return FleetCheck(checked_at, clusters, hubs, broken)


def known_hubs(check: FleetCheck, fleet: Fleet) -> FleetCheck:
    """The results of hubs of this fleet only: a results file naming a hub the fleet
    does not have is refused (it was not written by this fleet's check)."""
    names = {(h.cluster, h.name) for h in fleet.hubs()}
    for hub in check.hubs:
        if (hub.cluster, hub.hub) not in names:
            raise HubfleetError(
                f"the health results name hub {release_label(hub.cluster, hub.hub)}, "
                "which the fleet has not",
                hint="run `hubfleet ci incidents` in the checkout the check ran in",
            )
    return check
