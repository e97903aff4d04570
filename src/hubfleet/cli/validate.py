"""`hubfleet validate`."""

from __future__ import annotations

from typing import Annotated

from hubfleet.cli import spec
from hubfleet.cli.common import Output, echo, echo_json, repo_root, sops

# --isolate: every error is in a cluster whose configuration is broken (docs/isolation.md).
BROKEN_EXIT = 3


def command(
    ctx: spec.Context,
    cluster: Annotated[str | None, spec.Argument(help="Only this cluster.")] = None,
    hubs: Annotated[list[str] | None, spec.Argument(help="Only these hubs of CLUSTER.")] = None,
    strict: Annotated[
        bool, spec.Option("--strict", help="A chart that cannot be fetched is an error.")
    ] = False,
    render: Annotated[
        bool,
        spec.Option("--render/--no-render", help="Render each release and check its manifests."),
    ] = True,
    kube_version: Annotated[
        str | None,
        spec.Option("--kube-version", help="Kubernetes version to check manifests against."),
    ] = None,
    output: Annotated[Output, spec.Option("--output", "-o", help="text or json")] = Output.text,
    isolate: Annotated[
        bool,
        spec.Option(
            "--isolate",
            help="Exit 3, not 2, when every error is in a cluster whose configuration is "
            "broken: the rest of the fleet is clean (docs/isolation.md).",
        ),
    ] = False,
) -> None:
    """Check every cluster, hub and values file; render each release and check the result.

    Prints one `path:line: message` per problem and exits 2 if there is any error
    (warnings alone exit 0). A cluster whose configuration is broken stops only its own
    checks: every other cluster is still rendered and checked (docs/isolation.md);
    with --isolate, exits 3 when every error is such a cluster's. Encrypted files are
    decrypted in memory when a key they name may be here (an age key, a PGP keyring, a
    cloud KMS or Vault login), else checked for structure only.
    """
    from hubfleet.validate.run import Selection, validate

    root = repo_root(ctx)
    result = validate(
        root,
        selection=Selection(cluster, tuple(hubs or ())),
        sops=sops(ctx, root),
        render=render,
        strict=strict,
        kube_version=kube_version,
    )
    if output is Output.json:
        echo_json(
            ctx,
            {
                "ok": not result.errors,
                "problems": [
                    {
                        "path": p.path,
                        "line": p.line,
                        "severity": p.severity,
                        "message": p.message,
                        "hint": p.hint,
                    }
                    for p in result.problems
                ],
                "notes": list(result.notes),
                "rendered": list(result.rendered),
                "broken_clusters": list(result.broken),
                "fleet_wide": result.fleet_wide,
            },
        )
    else:
        for problem in result.problems:
            echo(ctx, problem.render())
        for note in result.notes:
            echo(ctx, f"note: {note}", err=True)
        if result.fleet_wide:
            echo(
                ctx,
                "some problems are outside every cluster's folder (hubfleet.yaml, a chart, "
                "a shared file): every cluster depends on them, nothing deploys until they "
                "are fixed (docs/isolation.md)",
                err=True,
            )
        if result.broken:
            echo(
                ctx,
                f"configuration broken, not rendered: {', '.join(result.broken)}"
                + ("; the rest of the fleet is clean" if result.only_broken else ""),
                err=True,
            )
        echo(
            ctx,
            f"{len(result.errors)} error(s), {len(result.warnings)} warning(s); "
            f"{result.clusters} cluster(s), {result.hubs} hub(s), "
            f"{len(result.rendered)} release(s) rendered",
            err=True,
        )
    if isolate and result.only_broken:
        raise spec.Exit(BROKEN_EXIT)
    if result.errors:
        raise spec.Exit(2)
