"""`hubfleet community`: who owns which hub and files, and what each may change."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from hubfleet.cli import spec
from hubfleet.cli.common import Output, echo, echo_json, load_fleet

if TYPE_CHECKING:
    from hubfleet.community.decision import Decision, PullRequest
    from hubfleet.config.fleet import Fleet
    from hubfleet.plan.changes import Change
    from hubfleet.plan.plan import Plan
    from hubfleet.plan.revisions import Revisions

Decide = Callable[["PullRequest | None"], "Decision"]


@dataclass(frozen=True)
class Events:
    """`plan --event FILE | --github-event [--reviews FILE]`."""

    event: Path | None
    github_event: bool
    reviews: Path | None


def command(
    ctx: spec.Context,
    output: Annotated[Output, spec.Option("--output", "-o", help="text or json")] = Output.text,
) -> None:
    """Who owns which hub and files, and what each community may change (docs/community.md)."""
    from hubfleet.community.model import summary

    data = summary(load_fleet(ctx))
    if output is Output.json:
        echo_json(ctx, data)
        return
    platform = ", ".join(data["platform_owners"]) or "(none: set community.platform_owners)"
    lines = [f"platform team: {platform}"]
    if not data["hubs"]:
        lines.append("no hub names a community")
    for hub in data["hubs"]:
        may = hub["may_change"]
        lines.append("")
        lines.append(f"{hub['cluster_name']}/{hub['hub_name']}: {', '.join(hub['owners'])}")
        lines += [f"  file:  {path}" for path in hub["files"]]
        lines += [f"  allow: {pattern}" for pattern in may["allow"]]
        for pattern, rule in may["constraints"].items():
            rules = ", ".join(f"{k}={v}" for k, v in rule.items())
            lines.append(f"  value: {pattern} ({rules})")
        lines.append(
            f"  never: {len(may['deny'])} deny entries (secrets, scheduling, network, code)"
        )
    echo(ctx, "\n".join(lines))


def with_community(plan: Plan, events: Events, decide: Decide) -> Plan:
    """`plan --event/--github-event`: the plan with its community-only decision, made by
    `decide` from what the plan was made from (the fleet and changes, loaded once)."""
    import dataclasses

    from hubfleet.community.event import event_path, load_pull_request

    path = event_path(events.event, events.github_event)
    assert path is not None
    pull = load_pull_request(path, events.reviews)
    return dataclasses.replace(plan, community=decide(pull))


def decide_on_files(
    fleet: Fleet, changes: Sequence[Change], changed_files: str
) -> Callable[[PullRequest | None], Decision]:
    """`--changed-files FILE --event`: decided on the plan's fleet and changes."""

    def decide(pull: PullRequest | None) -> Decision:
        from hubfleet.base.errors import HubfleetError
        from hubfleet.community.sources import decide_from_files

        if changed_files == "-":
            raise HubfleetError(
                "--event needs the changed files from a file or from --base, not stdin",
                hint="pass --changed-files FILE or --base REF",
            )
        return decide_from_files(fleet, changes, pull)

    return decide


def decide_on_revisions(revisions: Revisions) -> Callable[[PullRequest | None], Decision]:
    """`--base/--head --event`: decided on the plan's revisions (git asked once)."""

    def decide(pull: PullRequest | None) -> Decision:
        from hubfleet.community.sources import decide_from_revisions

        return decide_from_revisions(revisions, pull)

    return decide
