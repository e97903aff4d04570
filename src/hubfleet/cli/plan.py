"""`hubfleet plan`."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hubfleet.cli.common import echo, options, repo_root

if TYPE_CHECKING:
    from hubfleet.cli.community import Events
    from hubfleet.plan.plan import Plan


# `hubfleet plan` wrote the plan of every cluster that loads, and some cluster's
# configuration is broken (docs/isolation.md).
BROKEN_EXIT = 3


class PlanOutput(StrEnum):
    table = "table"
    json = "json"
    github = "github"
    markdown = "markdown"


def command(
    ctx: typer.Context,
    changed_files: Annotated[
        str | None,
        typer.Option(
            "--changed-files",
            metavar="FILE|-",
            help="Changed paths (repository-relative), one per line or comma-separated; "
            "git --name-status lines keep their status. '-' reads stdin.",
        ),
    ] = None,
    base: Annotated[
        str | None,
        typer.Option("--base", metavar="REF", help="Compare this revision with --head (git)."),
    ] = None,
    head: Annotated[
        str | None,
        typer.Option("--head", metavar="REF", help="Default: the working tree."),
    ] = None,
    labels: Annotated[
        str | None,
        typer.Option(
            "--labels",
            metavar="JSON-LIST",
            help="Pull-request labels: deployer:skip-deploy, deployer:skip-deploy-hubs, "
            "deployer:deploy-hubs, deployer:deploy-support.",
        ),
    ] = None,
    output: Annotated[
        PlanOutput | None,
        typer.Option(
            "--output",
            "-o",
            help="table (default on a terminal), json (default otherwise), github "
            "(appends to $GITHUB_OUTPUT and $GITHUB_STEP_SUMMARY), markdown (PR comment).",
        ),
    ] = None,
    rendered: Annotated[
        bool,
        typer.Option(
            "--rendered",
            help="With --base: render hubs selected only by a chart change at both "
            "revisions and skip those whose manifests are identical (except fields the "
            "chart randomises at both, found by rendering again and named).",
        ),
    ] = False,
    from_json: Annotated[
        Path | None,
        typer.Option(
            "--from-json",
            metavar="FILE",
            help="Render a saved plan (checked against `hubfleet schema plan`).",
        ),
    ] = None,
    event: Annotated[
        Path | None,
        typer.Option(
            "--event",
            metavar="FILE",
            help="A GitHub event payload: add the community-only decision (docs/community.md).",
        ),
    ] = None,
    github_event: Annotated[
        bool,
        typer.Option("--github-event", help="--event $GITHUB_EVENT_PATH (in GitHub Actions)."),
    ] = False,
    reviews: Annotated[
        Path | None,
        typer.Option(
            "--reviews",
            metavar="FILE",
            help="With --event: the pull request's reviews (GitHub API JSON list).",
        ),
    ] = None,
) -> None:
    """Which support releases, staging hubs and production hubs to upgrade, and why.

    Answers from the dependency graph of every release: its values files (encrypted
    ones too), its chart (every file of a local chart folder, or its pin in
    hubfleet.yaml), chart_override, domain_override_file, its cluster's
    provider/credentials block and deployer credentials, and the
    redeploy_all_when_changed globs. With --base, cluster.yaml and hubfleet.yaml are
    compared key by key: one edited hub entry selects that hub; a provider or
    credentials block the whole cluster; a hub moved to decommissioned: its uninstall
    job; a removed hub is listed, never uninstalled (a warning shows the entry that
    would remove it: docs/decommission.md); a chart pin the hubs using it;
    hubfleet_version everything; free information, kubernetes_version and deploy
    settings nothing. Every cluster getting a production job gets its staging hubs as
    canaries.

    A cluster whose configuration is broken gets no jobs; the plan lists it (`broken`)
    with its errors and every other cluster is planned (docs/isolation.md). Exit codes:
    0 planned; 3 planned, and some cluster is broken; 2 bad input, or a problem every
    cluster depends on (hubfleet.yaml, a shared chart): nothing planned.
    """
    from hubfleet.plan.render import github_outputs, to_json_text, to_markdown, to_table

    if output is None:
        output = PlanOutput.table if sys.stdout.isatty() else PlanOutput.json
    events = None
    if event is not None or github_event:
        from hubfleet.cli.community import Events

        events = Events(event, github_event, reviews)
    plan = (
        _saved_plan(from_json)
        if from_json is not None
        else _make(ctx, changed_files, base, head, labels, rendered, events)
    )
    if output is PlanOutput.json:
        echo(ctx, to_json_text(plan))
    elif output is PlanOutput.markdown:
        echo(ctx, to_markdown(plan, options(ctx).redactor.scrub))
    elif output is PlanOutput.table:
        width = 120 if not sys.stdout.isatty() else os.get_terminal_size().columns
        echo(ctx, to_table(plan, width=width, color=sys.stdout.isatty()))
    else:
        scrub = options(ctx).redactor.scrub
        lines = scrub(github_outputs(plan))
        target = os.environ.get("GITHUB_OUTPUT")
        if target:
            with open(target, "a", encoding="utf-8") as handle:
                handle.write(lines)
        else:
            echo(ctx, lines)
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            with open(summary, "a", encoding="utf-8") as handle:
                handle.write(scrub(to_markdown(plan, scrub)))
    if plan.broken and from_json is None:
        # docs/isolation.md: the plan of every other cluster is written; a broken one
        # is said on stderr and by the exit code (3), so no script takes it for clean.
        if output is not PlanOutput.table:  # the table says it already
            for cluster in plan.broken:
                echo(ctx, f"cluster {cluster.name}: configuration broken, not planned:", err=True)
                echo(ctx, "\n".join(f"  {p.render()}" for p in cluster.problems), err=True)
        raise typer.Exit(BROKEN_EXIT)


def _make(
    ctx: typer.Context,
    changed_files: str | None,
    base: str | None,
    head: str | None,
    labels_text: str | None,
    rendered: bool,
    events: Events | None,
) -> Plan:
    """The plan (and, with `events`, its community decision) from one reading of the
    fleet and, with --base, one set of questions to git (`Revisions`)."""
    from hubfleet.cli.community import decide_on_files, decide_on_revisions, with_community
    from hubfleet.plan.changes import read_changed_files
    from hubfleet.plan.labels import parse_labels
    from hubfleet.plan.planner import plan_from_files

    _require_one_input(changed_files, base, head, rendered=rendered)
    labels = parse_labels(labels_text)
    if base is not None:
        # only here: it loads the charts
        from hubfleet.plan.revisions import plan_from_revisions, read_revisions

        redactor = options(ctx).redactor
        with read_revisions(repo_root(ctx), base=base, head=head, redactor=redactor) as revisions:
            plan = plan_from_revisions(revisions, labels, rendered=rendered)
            if events is None:
                return plan
            return with_community(plan, events, decide_on_revisions(revisions))
    assert changed_files is not None
    from hubfleet.config.load import load_isolated
    from hubfleet.plan.plan import with_broken

    stdin_text = sys.stdin.read() if changed_files == "-" else None
    changes = read_changed_files(changed_files, stdin_text=stdin_text)
    touched = {path for change in changes for path in change.paths()}
    loaded = load_isolated(repo_root(ctx), only=touched)
    fleet = loaded.fleet
    plan = with_broken(plan_from_files(fleet, changes, labels=labels), loaded.broken)
    if events is None:
        return plan
    return with_community(plan, events, decide_on_files(fleet, changes, changed_files))


def _require_one_input(
    changed_files: str | None, base: str | None, head: str | None, *, rendered: bool
) -> None:
    from hubfleet.base.errors import HubfleetError

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


def _saved_plan(path: Path) -> Plan:
    from hubfleet.plan.plan import read_plan

    return read_plan(path, schema=True)
