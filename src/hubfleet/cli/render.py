"""`hubfleet render`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hubfleet.cli.common import Output, echo, echo_json, load_fleet, options, sops


def command(
    ctx: typer.Context,
    cluster: Annotated[str, typer.Argument(help="The cluster.")],
    hub: Annotated[str, typer.Argument(help="The hub, or `support` for the support release.")],
    output_dir: Annotated[
        Path | None,
        typer.Option("--output-dir", help="Write one file per template here instead of stdout."),
    ] = None,
    placeholders: Annotated[
        bool,
        typer.Option(
            "--placeholders",
            help="Render encrypted values as placeholders even when a sops key is available.",
        ),
    ] = False,
    output: Annotated[
        Output, typer.Option("--output", "-o", help="text (YAML documents) or json")
    ] = Output.text,
) -> None:
    """Render the manifests a hub (or the support release) would get, offline.

    Secret values are decrypted in memory when a key is available; the output shows
    them redacted. Rendered files written with --output-dir hold the same redacted text.
    """
    from hubfleet.helm.charts import resolve_chart
    from hubfleet.helm.engine import render
    from hubfleet.release import hub_release, merged_values, support_release

    fleet = load_fleet(ctx)
    target = fleet.cluster(cluster)
    support = support_release(fleet, target) if hub == "support" else None
    release = support or hub_release(fleet, target.hub(hub))
    decrypter = sops(ctx, fleet.root)
    use_sops = decrypter if decrypter.key_available() and not placeholders else None
    values = merged_values(fleet, release, sops=use_sops)
    manifests = render(
        resolve_chart(release.chart, root=fleet.root),
        values,
        release=release.name,
        namespace=release.namespace,
    )
    scrub = options(ctx).redactor.scrub
    if output is Output.json:
        echo_json(ctx, {"release": release.label, "manifests": manifests})
        return
    if output_dir is None:
        for template, text in manifests.items():
            echo(ctx, f"---\n# Source: {template}\n{text.strip()}")
        return
    for template, text in manifests.items():
        target_file = output_dir / template
        target_file.parent.mkdir(parents=True, exist_ok=True)
        target_file.write_text(scrub(text))
    echo(ctx, f"wrote {len(manifests)} manifest(s) to {output_dir}", err=True)
