"""`hubfleet credentials CLUSTER [-- CMD ...]`: run a command with a cluster's credentials."""

from __future__ import annotations

from typing import Annotated

from hubfleet.cli import spec
from hubfleet.cli.common import load_fleet, options, sops


def command(
    ctx: spec.Context,
    cluster: Annotated[str, spec.Argument(help="The cluster whose credentials to use.")],
    cmd: Annotated[
        list[str] | None,
        spec.Argument(help="The command to run after `--` (default: an interactive shell)."),
    ] = None,
) -> None:
    """Run a command (or a shell) with KUBECONFIG set to the cluster's private kubeconfig.

    The credentials live in a private folder that is removed when the command ends.
    """
    from hubfleet.providers.session import run_with_credentials

    opts = options(ctx)
    fleet = load_fleet(ctx)
    target = fleet.cluster(cluster)
    decrypter = sops(ctx, fleet.root)
    code = run_with_credentials(
        fleet, target, list(cmd or []), sops=decrypter, redactor=opts.redactor
    )
    raise spec.Exit(code)
