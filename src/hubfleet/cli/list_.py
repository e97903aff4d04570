"""`hubfleet list`."""

from __future__ import annotations

from typing import Annotated

from hubfleet.cli import spec
from hubfleet.cli.common import Output, echo_json, load_fleet


def command(
    ctx: spec.Context,
    output: Annotated[Output, spec.Option("--output", "-o", help="text or json")] = Output.text,
) -> None:
    """List clusters and their hubs (staging hubs are the canaries)."""
    fleet = load_fleet(ctx)
    data = {
        "clusters": [
            {
                "name": cluster.name,
                "provider": cluster.provider,
                "hubs": [
                    {
                        "name": hub.name,
                        "domain": hub.domain,
                        "helm_chart": hub.helm_chart,
                        "staging": hub.staging,
                    }
                    for hub in cluster.hubs
                ],
            }
            for cluster in fleet.clusters
        ]
    }
    if output is Output.json:
        echo_json(ctx, data)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(fleet.clusters)} clusters, {sum(1 for _ in fleet.hubs())} hubs")
    for column in ("cluster", "provider", "hub", "domain", "chart", "kind"):
        table.add_column(column)
    for cluster in fleet.clusters:
        if not cluster.hubs:
            table.add_row(cluster.name, cluster.provider, "-", "", "", "")
        for index, hub in enumerate(cluster.hubs):
            table.add_row(
                cluster.name if index == 0 else "",
                cluster.provider if index == 0 else "",
                hub.name,
                hub.domain,
                hub.helm_chart,
                "staging" if hub.staging else "production",
            )
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    console.print(table)
