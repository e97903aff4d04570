"""`hubfleet render`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

from hubfleet.base.confined import Confinement, write_beneath
from hubfleet.base.errors import HubfleetError
from hubfleet.cli import spec
from hubfleet.cli.common import Output, echo, echo_json, load_fleet_for, options, sops


def command(
    ctx: spec.Context,
    cluster: Annotated[str, spec.Argument(help="The cluster.")],
    hub: Annotated[str, spec.Argument(help="The hub, or `support` for the support release.")],
    output_dir: Annotated[
        Path | None,
        spec.Option("--output-dir", help="Write one file per template here instead of stdout."),
    ] = None,
    placeholders: Annotated[
        bool,
        spec.Option(
            "--placeholders",
            help="Render encrypted values as placeholders even when a sops key is available.",
        ),
    ] = False,
    output: Annotated[
        Output, spec.Option("--output", "-o", help="text (YAML documents) or json")
    ] = Output.text,
    show_secrets: Annotated[
        bool,
        spec.Option(
            "--show-secrets",
            help="Show the data of Secrets and the decrypted values (only on a terminal).",
        ),
    ] = False,
) -> None:
    """Render the manifests a hub (or the support release) would get, offline.

    Secret values are decrypted in memory when a key is available; the output shows
    them redacted, and the data of every `kind: Secret` masked with a short keyed
    digest (a change stays visible; the key is random per run unless
    HUBFLEET_MASK_KEY sets one). Files written with --output-dir hold the same text.
    --show-secrets shows everything, to a person on a terminal only.
    """
    from hubfleet.helm.masking import mask_manifests
    from hubfleet.release.pipeline import hub_release, support_release
    from hubfleet.release.values import ReleaseValues

    if show_secrets and output_dir is not None:
        raise HubfleetError(
            "--show-secrets does not go with --output-dir: secrets are never written to disk",
            hint="drop --show-secrets; the files hold the data of Secrets masked",
        )
    if show_secrets and not sys.stdout.isatty():
        raise HubfleetError(
            "--show-secrets needs a terminal: standard output is not one (a pipe or a file)",
            hint="run it in a terminal, without redirecting the output",
        )
    fleet = load_fleet_for(ctx, cluster)
    target = fleet.cluster(cluster)
    support = support_release(fleet, target) if hub == "support" else None
    release = support or hub_release(fleet, target.hub(hub))
    decrypter = sops(ctx, fleet.root)
    use_sops = None if placeholders else decrypter  # each file: decrypted if its key may be here
    manifests = ReleaseValues(fleet, sops=use_sops).render_release(release)
    if show_secrets:
        _show(output, release.label, manifests)
        return
    manifests = mask_manifests(manifests, options(ctx).redactor.mask_key)
    if output is Output.json:
        echo_json(ctx, {"release": release.label, "manifests": manifests})
        return
    if output_dir is None:
        for template, text in manifests.items():
            echo(ctx, f"---\n# Source: {template}\n{text.strip()}")
        return
    scrub = options(ctx).redactor.scrub
    for template, text in manifests.items():
        try:
            # Never through a link planted in the folder, never outside it.
            write_beneath(output_dir, template, scrub(text).encode("utf-8"))
        except Confinement as exc:
            raise HubfleetError(exc.message, hint=exc.hint) from None
        except OSError as exc:
            raise HubfleetError(
                f"cannot write {output_dir / template}: {exc.strerror}",
                hint="--output-dir names a folder you can write, outside the repository's links",
            ) from None
    echo(ctx, f"wrote {len(manifests)} manifest(s) to {output_dir}", err=True)


def _show(output: Output, label: str, manifests: dict[str, str]) -> None:
    """The manifests as rendered, nothing masked or redacted (a person on a terminal)."""
    if output is Output.json:
        sys.stdout.write(json.dumps({"release": label, "manifests": manifests}, indent=2) + "\n")
    else:
        for template, text in manifests.items():
            sys.stdout.write(f"---\n# Source: {template}\n{text.strip()}\n")
    sys.stdout.flush()
