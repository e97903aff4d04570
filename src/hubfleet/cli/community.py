"""`hubfleet community`: who owns which hub and files, and what each may change."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hubfleet.cli.common import Output, echo, echo_json, load_fleet, options

if TYPE_CHECKING:
    from hubfleet.plan.plan import Plan


def command(
    ctx: typer.Context,
    output: Annotated[Output, typer.Option("--output", "-o", help="text or json")] = Output.text,
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


def with_community(
    ctx: typer.Context,
    plan: Plan,
    changed_files: str | None,
    base: str | None,
    head: str | None,
    event: Path | None,
    github_event: bool,
    reviews: Path | None,
) -> Plan:
    """`plan --event/--github-event`: the plan with its community-only decision."""
    import dataclasses

    from hubfleet.base.errors import HubfleetError
    from hubfleet.community.event import event_path, load_pull_request
    from hubfleet.community.sources import decide_from_files, decide_from_git
    from hubfleet.plan.changes import read_changed_files

    path = event_path(event, github_event)
    assert path is not None
    pull = load_pull_request(path, reviews)
    fleet = load_fleet(ctx)
    if base is not None:
        redactor = options(ctx).redactor
        decision = decide_from_git(fleet, base=base, head=head, redactor=redactor, pull=pull)
    else:
        assert changed_files is not None
        if changed_files == "-":
            raise HubfleetError(
                "--event needs the changed files from a file or from --base, not stdin",
                hint="pass --changed-files FILE or --base REF",
            )
        decision = decide_from_files(fleet, read_changed_files(changed_files), pull)
    return dataclasses.replace(plan, community=decision.to_json())
