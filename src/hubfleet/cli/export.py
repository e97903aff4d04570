"""`hubfleet export`: a hub as a standalone folder that plain helm deploys."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

from hubfleet.cli import spec
from hubfleet.cli.common import Output, echo, echo_json, load_fleet_for, options, sops


def command(
    ctx: spec.Context,
    cluster: Annotated[str, spec.Argument(help="The cluster.")],
    hub: Annotated[str, spec.Argument(help="The hub.")],
    directory: Annotated[Path, spec.Argument(help="The folder to write (absent or empty).")],
    recipient: Annotated[
        list[str] | None,
        spec.Option(
            "--recipient",
            help="Re-encrypt the secrets for this age public key (repeatable), in memory.",
        ),
    ] = None,
    decrypt: Annotated[
        bool,
        spec.Option("--decrypt", help="Write the secrets in plaintext (needs the next flag)."),
    ] = False,
    i_understand_plaintext: Annotated[
        bool,
        spec.Option(
            "--i-understand-plaintext",
            help="Accept that --decrypt writes secrets to disk (files are mode 0600).",
        ),
    ] = False,
    verify: Annotated[
        bool,
        spec.Option(
            "--verify",
            help="Render the hub through hubfleet and the export as its README says; "
            "fail on any difference (fields the chart randomises, found by rendering "
            "again, are named and ignored).",
        ),
    ] = False,
    output: Annotated[Output, spec.Option("--output", "-o", help="text or json.")] = Output.text,
) -> None:
    """Write HUB of CLUSTER to DIRECTORY: its chart, values files in order, secrets
    (encrypted as they are by default), and a README with the helm command that
    deploys it and what the hub depended on in the fleet."""
    from hubfleet.export.build import ExportOptions, export_hub
    from hubfleet.export.compare import masked
    from hubfleet.export.verify import verify_export

    fleet = load_fleet_for(ctx, cluster)
    target = fleet.cluster(cluster).hub(hub)
    export_options = ExportOptions(
        recipients=tuple(recipient or ()),
        decrypt=decrypt,
        i_understand_plaintext=i_understand_plaintext,
    )
    decrypter = sops(ctx, fleet.root)
    keyed = decrypter  # each file: decrypted if its key may be here (Sops.may_decrypt)
    result = export_hub(fleet, target, directory, options=export_options, sops=keyed)
    round_trip = None
    if verify:
        # Re-encrypted files open only with the recipients' keys: compare placeholders.
        verify_sops = None if export_options.recipients else keyed
        round_trip = verify_export(fleet, target, result.directory, sops=verify_sops)
        # A Secret's data is shown masked, with a digest under the command's one key.
        key = options(ctx).redactor.mask_key
        round_trip = replace(round_trip, differences=masked(round_trip.differences, key))
    if output == Output.json:
        data: dict[str, object] = {
            "cluster": cluster,
            "hub": hub,
            "directory": str(result.directory),
            "secrets": result.secrets_mode,
            "files": [{"path": f.path, "kind": f.kind, "source": f.source} for f in result.files],
            "command": result.command.render(),
        }
        if round_trip is not None:
            data["verify"] = {
                "status": round_trip.status,
                "secrets": round_trip.secrets,
                "resources": round_trip.resources,
                "reason": round_trip.reason,
                "ignored": list(round_trip.ignored),
                "differences": [
                    {
                        "resource": d.resource,
                        "field": d.field,
                        "hubfleet": d.expected,
                        "export": d.actual,
                        "note": d.note,
                    }
                    for d in round_trip.differences
                ],
            }
        echo_json(ctx, data)
    else:
        echo(
            ctx, f"exported {cluster}/{hub} to {result.directory} (secrets: {result.secrets_mode})"
        )
        echo(ctx, "deploy it with (see its README.md):\n" + result.command.render())
        if round_trip is not None:
            if round_trip.status == "skipped":
                echo(ctx, f"round trip skipped: {round_trip.reason}", err=True)
            elif round_trip.status == "same":
                echo(
                    ctx,
                    f"round trip: the export renders the same {round_trip.resources} resources "
                    f"as hubfleet (secrets: {round_trip.secrets})",
                )
            else:
                for difference in round_trip.differences:
                    echo(ctx, difference.render(), err=True)
            if round_trip.ignored:
                echo(ctx, f"round trip: {round_trip.ignored_note}")
    if round_trip is not None:
        round_trip.raise_for_differences()
