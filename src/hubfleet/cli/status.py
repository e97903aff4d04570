"""`hubfleet status`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

from hubfleet.cli import spec
from hubfleet.cli.common import echo, echo_json, options, repo_root, sops


class StatusOutput(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


def command(
    ctx: spec.Context,
    clusters: Annotated[
        list[str] | None, spec.Argument(help="Clusters to read (default: all).")
    ] = None,
    output: Annotated[
        StatusOutput, spec.Option("--output", "-o", help="table, json or markdown")
    ] = StatusOutput.table,
    html: Annotated[
        Path | None, spec.Option("--html", help="Also write the fleet as one HTML page.")
    ] = None,
    parallelism: Annotated[int, spec.Option("--parallelism", min=1, help="Clusters at once.")] = 4,
) -> None:
    """What runs in each cluster against git: the commit each release runs, in sync or
    behind, failed, changed by hand, rolled back, missing; orphans (docs/status.md).

    Exit 0: every cluster read; 1: a cluster could not be read (its rows say why, the
    others are shown); 3: a cluster's configuration is broken (listed); 2: bad input."""
    from hubfleet.base.atomic import write_atomic
    from hubfleet.config.load import load_isolated
    from hubfleet.live.page import html_page
    from hubfleet.live.status import fleet_status, markdown, scrubbed

    root = repo_root(ctx)
    loaded = load_isolated(root, parse_values=False)
    fleet = loaded.fleet
    names = list(clusters or [])
    broken = {c.name for c in loaded.broken}
    for name in names:
        if name not in broken:
            fleet.cluster(name)  # an unknown cluster: exit 2, with the names it could be
    found = fleet_status(
        fleet,
        sops=sops(ctx, root),
        redactor=options(ctx).redactor,
        names=[n for n in names if n not in broken] if names else None,
        broken=[c for c in loaded.broken if not names or c.name in names],
        parallelism=parallelism,
    )
    # Scrubbed before any encoding (HTML, Markdown), then the output once more.
    status = scrubbed(found, options(ctx).redactor.scrub)
    if html is not None:
        page = options(ctx).redactor.scrub(html_page(status))
        write_atomic(html, page.encode("utf-8"))
    if output is StatusOutput.json:
        echo_json(ctx, status.to_json())
    elif output is StatusOutput.markdown:
        echo(ctx, markdown(status))
    else:
        _table(ctx, status)
    if status.exit_code:
        raise spec.Exit(status.exit_code)


def _table(ctx: spec.Context, status: object) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from hubfleet.live.status import COLUMNS, FleetStatus, cells

    assert isinstance(status, FleetStatus)
    counts = ", ".join(f"{n} {s}" for s, n in status.counts.items() if n) or "no releases"
    table = Table(title=f"git at {status.head[:12]}: {counts}")
    for column in COLUMNS:
        table.add_column(column)
    for report in status.clusters:
        for row in report.rows:
            # Text, not markup: a description from a cluster cannot style the table.
            table.add_row(*(Text(options(ctx).redactor.scrub(c)) for c in cells(row)))
        if report.broken:
            problems = options(ctx).redactor.scrub("; ".join(report.broken))
            table.add_row(Text(report.cluster), "", "", "broken", *[""] * 6, Text(problems))
    console = Console()
    if not console.is_terminal:
        console = Console(width=240)
    console.print(table)
