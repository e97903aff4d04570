"""`hubfleet check CLUSTER HUB`: the health check of a running hub."""

from __future__ import annotations

from typing import Annotated

import typer

from hubfleet.cli.common import Output, echo, echo_json, load_fleet, options, sops


def command(
    ctx: typer.Context,
    cluster: Annotated[str, typer.Argument(help="The hub's cluster.")],
    hub: Annotated[str, typer.Argument(help="The hub.")],
    attempts: Annotated[int, typer.Option(help="Attempts before failing.")] = 3,
    timeout: Annotated[float, typer.Option(help="Seconds per attempt.")] = 120.0,
    output: Annotated[Output, typer.Option("--output", "-o", help="text or json")] = Output.text,
) -> None:
    """Check a running hub: start a server for a check user, run a notebook, clean up.

    A Kubernetes hub is reached with its cluster's credentials: its token from the
    hub's Secret, the hub through a kubectl port-forward (docs/health-check.md).
    """
    from dataclasses import asdict

    from hubfleet.deploy.checks import check_fleet_hub

    fleet = load_fleet(ctx)
    target = fleet.cluster(cluster).hub(hub)
    url, result = check_fleet_hub(
        fleet,
        target,
        sops=sops(ctx, fleet.root),
        redactor=options(ctx).redactor,
        attempts=attempts,
        attempt_timeout=timeout,
    )
    if output is Output.json:
        echo_json(
            ctx,
            {
                "cluster": cluster,
                "hub": hub,
                "url": url,
                "ok": result.ok,
                "failed_step": result.failed_step,
                "attempts": result.attempts,
                "duration_s": round(result.duration_s, 3),
                "steps": [asdict(step) for step in result.steps],
            },
        )
    else:
        for step in result.steps:
            mark = "ok  " if step.ok else "FAIL"
            echo(ctx, f"{mark} {step.name:<13} {step.duration_s:6.2f}s  {step.message}")
        echo(ctx, f"{cluster}/{hub}: {result.message}")
    if not result.ok:
        raise typer.Exit(1)
