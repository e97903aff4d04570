"""`hubfleet charts pull [--from DIR]`: fill the chart cache for the whole fleet."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from hubfleet.cli import spec
from hubfleet.cli.common import Output, echo, echo_json, load_fleet

app = spec.Group(
    help="The chart cache: the remote charts and dependencies the fleet's releases use.",
    no_args_is_help=True,
)


@app.command()
def pull(
    ctx: spec.Context,
    from_dir: Annotated[
        Path | None,
        spec.Option(
            "--from",
            help="Take the missing archives from this folder of packaged charts "
            "(<name>-<version>.tgz) instead of pulling (offline CI).",
        ),
    ] = None,
    output: Annotated[Output, spec.Option("--output", "-o", help="text or json")] = Output.text,
) -> None:
    """Fill the chart cache for the whole fleet: every remote chart and every remote
    dependency of a local chart (through its file:// ones), pulled through the embedded
    Helm engine, or with --from DIR placed from a folder of archives, each checked
    (its Chart.yaml names its file's chart and version; no member leaves its folder).
    Exits 2 when anything is still missing or an archive was refused."""
    from hubfleet.helm.cache_fill import describe, fill_cache

    fleet = load_fleet(ctx)
    result = fill_cache(fleet, from_dir=from_dir)
    if output is Output.json:
        echo_json(
            ctx,
            {
                "charts": result.charts,
                "placed": [
                    {"name": p.name, "version": p.version, "archive": str(p.archive),
                     "source": p.source}
                    for p in result.placed
                ],
                "missing": [
                    {"name": m.name, "version": m.version, "repository": m.repository,
                     "archive": str(m.archive), "needed_by": m.where, "message": m.message}
                    for m in result.missing
                ],
                "problems": [p.render() for p in (*result.refused, *result.failures)],
            },
        )  # fmt: skip
    else:
        for line in describe(result):
            echo(ctx, line, err=not line.startswith("placed "))
        echo(ctx, f"{result.charts} chart(s) of the fleet; {len(result.placed)} archive(s) placed")
    if not result.ok:
        raise spec.Exit(2)
