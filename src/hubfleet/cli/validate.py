"""`hubfleet validate`."""

from __future__ import annotations

from typing import Annotated

import typer

from hubfleet.cli.common import Output, echo, echo_json, repo_root, sops


def command(
    ctx: typer.Context,
    cluster: Annotated[str | None, typer.Argument(help="Only this cluster.")] = None,
    hubs: Annotated[list[str] | None, typer.Argument(help="Only these hubs of CLUSTER.")] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="A chart that cannot be fetched is an error.")
    ] = False,
    render: Annotated[
        bool,
        typer.Option("--render/--no-render", help="Render each release and check its manifests."),
    ] = True,
    kube_version: Annotated[
        str | None,
        typer.Option("--kube-version", help="Kubernetes version to check manifests against."),
    ] = None,
    output: Annotated[Output, typer.Option("--output", "-o", help="text or json")] = Output.text,
) -> None:
    """Check every cluster, hub and values file; render each release and check the result.

    Prints one `path:line: message` per problem and exits 2 if there is any error
    (warnings alone exit 0). Encrypted files are decrypted in memory when a key they
    name may be here (an age key, a PGP keyring, a cloud KMS or Vault login), else
    checked for structure only.
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
            },
        )
    else:
        for problem in result.problems:
            echo(ctx, problem.render())
        for note in result.notes:
            echo(ctx, f"note: {note}", err=True)
        echo(
            ctx,
            f"{len(result.errors)} error(s), {len(result.warnings)} warning(s); "
            f"{result.clusters} cluster(s), {result.hubs} hub(s), "
            f"{len(result.rendered)} release(s) rendered",
            err=True,
        )
    if result.errors:
        raise typer.Exit(2)
