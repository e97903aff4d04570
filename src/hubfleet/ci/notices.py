"""Owners told (`hubfleet ci notice`, docs/ci.md "Notices"): before a merged change
deploys and after, one notice per change to the owners of every hub it deploys.

Opt-in (`notify: {owners: true}` in hubfleet.yaml). Who: each affected hub's
community owners and its `notify.contacts`. The channel:

- `github`: one Markdown comment (on the merged pull request, else on the commit)
  naming every affected hub and mentioning each owner once;
- `webhook`: one JSON document the deploy workflow POSTs to the URL in the secret
  HUBFLEET_NOTIFY_WEBHOOK_URL (hubfleet builds the payload; the URL never reaches
  hubfleet, nor the logs). Its `text` is plain text (chat services show it as is;
  `<`, `>` and `&` escaped as Slack's and Mattermost's incoming webhooks want), and
  `hubs` the same facts as data.

Hub and cluster names, statuses and owners come from fleet files and reports: in
Markdown they are escaped (`md_text`, `md_code`), owners mentioned only when they are
well-formed handles (a team only of the repository's organization).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from hubfleet.base.errors import HubfleetError
from hubfleet.base.markdown import md_code, md_text
from hubfleet.ci.incidents import hub_owners, mention
from hubfleet.config.fleet import Fleet, release_label
from hubfleet.deploy.model import read_report
from hubfleet.plan.plan import Plan

Stage = Literal["before", "after"]
MAX_HUBS_SHOWN = 200  # one comment stays readable (GitHub's limit is 65536 characters)


@dataclass(frozen=True)
class NoticeHub:
    cluster: str
    hub: str
    owners: tuple[str, ...]
    status: str | None = None  # after the deploy: the hub's job status


@dataclass(frozen=True)
class Notice:
    stage: Stage
    channel: Literal["github", "webhook"]
    commit: str
    hubs: tuple[NoticeHub, ...]

    def owners(self) -> tuple[str, ...]:
        return tuple(sorted({o for hub in self.hubs for o in hub.owners}, key=str.lower))


def build_notice(
    fleet: Fleet,
    plan: Plan,
    stage: Stage,
    *,
    commit: str,
    reports: Path | None = None,
) -> Notice | None:
    """The change's notice, or None: notices off, or no affected hub has an owner."""
    settings = fleet.settings.notify
    if not settings.owners:
        return None
    owners = hub_owners(fleet)
    statuses = _statuses(reports) if stage == "after" else {}
    hubs = []
    for job in sorted(
        [*plan.staging_jobs, *plan.prod_jobs], key=lambda j: (j.cluster, j.hub or "")
    ):
        if job.hub is None:
            continue
        told = owners.get((job.cluster, job.hub), ())
        if not told:
            continue
        status = (
            statuses.get((job.cluster, job.hub), "not deployed (no report)")
            if stage == "after"
            else None
        )
        hubs.append(NoticeHub(job.cluster, job.hub, told, status))
    if not hubs:
        return None
    return Notice(stage, settings.channel, commit, tuple(hubs))


def _statuses(reports: Path | None) -> dict[tuple[str, str], str]:
    """(cluster, hub) -> status, from the per-cluster deploy reports (`<cluster>.json`)."""
    found: dict[tuple[str, str], str] = {}
    if reports is None or not reports.is_dir():
        return found
    for path in sorted(reports.glob("*.json")):
        if path.name.endswith(".outcome.json"):
            continue
        try:
            report = read_report(path)
        except HubfleetError:
            continue  # an unreadable report: its hubs show as not deployed
        for record in report.records:
            if record.job.hub is not None:
                found[(record.job.cluster, record.job.hub)] = record.status
    return found


_HEADLINE = {
    "before": "A merged change is about to deploy these hubs:",
    "after": "The deploy of a merged change has finished for these hubs:",
}


def render_markdown(notice: Notice, *, organization: str | None, run_url: str | None) -> str:
    """The GitHub comment: the hubs (escaped), each owner mentioned once."""
    lines = [f"### hubfleet: {'deploy starting' if notice.stage == 'before' else 'deploy done'}"]
    lines += ["", f"{_HEADLINE[notice.stage]} (commit {md_code(notice.commit[:12])})", ""]
    for hub in notice.hubs[:MAX_HUBS_SHOWN]:
        status = f": {md_text(hub.status)}" if hub.status is not None else ""
        lines.append(f"- {md_code(release_label(hub.cluster, hub.hub))}{status}")
    if len(notice.hubs) > MAX_HUBS_SHOWN:
        lines.append(f"- and {len(notice.hubs) - MAX_HUBS_SHOWN} more")
    if run_url:
        lines += ["", f"Run: {run_url}"]
    told = [mention(owner, organization) for owner in notice.owners()]
    lines += ["", "Owners told: " + ", ".join(told)]
    return "\n".join(lines) + "\n"


def _chat(text: str) -> str:
    """Plain text for a chat webhook: `&`, `<`, `>` escaped (no link, no @channel)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_payload(
    notice: Notice, *, repository: str | None, run_url: str | None
) -> dict[str, Any]:
    """The webhook's JSON: `text` for chat services, the facts as data besides."""
    lines = [f"hubfleet: {_HEADLINE[notice.stage]} (commit {notice.commit[:12]})"]
    for hub in notice.hubs[:MAX_HUBS_SHOWN]:
        status = f": {hub.status}" if hub.status is not None else ""
        lines.append(
            f"- {release_label(hub.cluster, hub.hub)}{status} (owners: {', '.join(hub.owners)})"
        )
    if len(notice.hubs) > MAX_HUBS_SHOWN:
        lines.append(f"- and {len(notice.hubs) - MAX_HUBS_SHOWN} more")
    if run_url:
        lines.append(f"run: {run_url}")
    return {
        "text": _chat("\n".join(lines)),
        "stage": notice.stage,
        "repository": repository,
        "commit": notice.commit,
        "run_url": run_url,
        "hubs": [
            {"cluster": h.cluster, "hub": h.hub, "owners": list(h.owners), "status": h.status}
            for h in notice.hubs
        ],
    }


def write_notice(
    notice: Notice | None,
    out: Path,
    *,
    organization: str | None,
    repository: str | None,
    run_url: str | None,
) -> Mapping[str, str]:
    """Write `notice.md` (github) or `notice.json` (webhook) into `out`; the step
    outputs: `channel` (github, webhook or none) and `file`."""
    if notice is None:
        return {"channel": "none", "file": ""}
    out.mkdir(parents=True, exist_ok=True)
    if notice.channel == "github":
        path = out / "notice.md"
        path.write_text(render_markdown(notice, organization=organization, run_url=run_url))
    else:
        path = out / "notice.json"
        payload = render_payload(notice, repository=repository, run_url=run_url)
        path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    return {"channel": notice.channel, "file": str(path)}


def check_commit(commit: str) -> str:
    if not (7 <= len(commit) <= 64) or any(c not in "0123456789abcdef" for c in commit):
        raise HubfleetError(f"{commit!r} is not a commit hash")
    return commit


def stage_of(text: str) -> Stage:
    if text == "before":
        return "before"
    if text == "after":
        return "after"
    raise HubfleetError(f"--stage {text!r}: before or after")


def all_names(notice: Notice) -> Sequence[str]:
    return [f"{h.cluster}/{h.hub}" for h in notice.hubs]
