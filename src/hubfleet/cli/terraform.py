"""`hubfleet terraform vars | plan | apply | drift | values | backups | scaffold`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from hubfleet.cli import spec
from hubfleet.cli.common import Output, echo, echo_json, load_fleet, options, repo_root, sops

app = spec.Group(
    help="The clusters' Terraform, with cluster.yaml as its one source (docs/terraform.md).",
    no_args_is_help=True,
)

OutputOption = Annotated[Output, spec.Option("--output", "-o", help="text or json")]


def _context(ctx: spec.Context):  # type: ignore[no-untyped-def]
    from hubfleet.terraform.commands import Context

    fleet = load_fleet(ctx)
    return Context(fleet, sops(ctx, fleet.root), options(ctx).redactor, {})


@app.command("vars")
def vars_(ctx: spec.Context, cluster: str) -> None:
    """Print the cluster's module inputs as .tfvars.json (for plain terraform by hand)."""
    from hubfleet.terraform.commands import compute_inputs
    from hubfleet.terraform.inputs import tfvars_json

    fleet = load_fleet(ctx)
    echo(ctx, tfvars_json(compute_inputs(fleet, fleet.cluster(cluster))))


@app.command("plan")
def plan(
    ctx: spec.Context,
    clusters: Annotated[list[str] | None, spec.Argument(help="clusters (default: all)")] = None,
    out_dir: Annotated[
        Path, spec.Option("--out-dir", help="where <cluster>.tfplan files are saved")
    ] = Path(".hubfleet/terraform-plans"),
    markdown: Annotated[
        Path | None, spec.Option("--markdown", help="also write the summary as Markdown")
    ] = None,
    output: OutputOption = Output.text,
) -> None:
    """Plan each cluster into a saved plan file, with a summary of its changes; every
    cluster's result is reported, and the exit code is non-zero when one failed."""
    from hubfleet.base.atomic import write_atomic
    from hubfleet.terraform.commands import PlanFailure, PlanResult, plan_all, terraform_clusters

    context = _context(ctx)
    chosen = terraform_clusters(context.fleet, clusters or [])
    target = out_dir if out_dir.is_absolute() else context.fleet.root / out_dir
    outcomes = plan_all(context, chosen, target)
    results = [r for r in outcomes if isinstance(r, PlanResult)]
    failures = [r for r in outcomes if isinstance(r, PlanFailure)]
    if markdown is not None:
        text = "\n".join(r.summary.markdown() for r in results) or "No Terraform changes.\n"
        text += "".join(f"\n**{f.cluster}: the plan failed**\n" for f in failures)
        write_atomic(markdown, context.redactor.scrub(text).encode())
    data = {
        "destructive": any(r.summary.destructive for r in results),
        "plans": [{**r.summary.to_json(), "plan_file": r.plan_file} for r in results],
        "failed": [f.to_json(context.redactor) for f in failures],
    }
    if output is Output.json:
        echo_json(ctx, data)
    else:
        for outcome in outcomes:
            if isinstance(outcome, PlanResult):
                echo(ctx, outcome.summary.markdown() + f"saved: {outcome.plan_file}\n")
            else:
                message = context.redactor.scrub(str(outcome.error))
                echo(ctx, f"{outcome.cluster}: the plan failed: {message}", err=True)
    if failures:
        raise spec.Exit(max(f.error.exit_code for f in failures))


@app.command("apply")
def apply(
    ctx: spec.Context,
    cluster: str,
    plan_file: Annotated[Path, spec.Option("--plan", help="a plan saved by terraform plan")],
    output: OutputOption = Output.text,
) -> None:
    """Apply a saved plan (made from a clean tree at this commit), then regenerate values."""
    from hubfleet.terraform.commands import apply_cluster

    context = _context(ctx)
    result = apply_cluster(context, context.fleet.cluster(cluster), plan_file)
    data = {
        "cluster_name": result.cluster,
        "written": [{"path": w.path, "encrypted": w.encrypted} for w in result.written],
    }
    if output is Output.json:
        echo_json(ctx, data)
        return
    echo(ctx, f"applied {plan_file} to {cluster}")
    for entry in result.written:
        echo(ctx, f"wrote {entry.path}{' (encrypted)' if entry.encrypted else ''}")


@app.command("drift")
def drift(
    ctx: spec.Context,
    clusters: Annotated[list[str] | None, spec.Argument(help="clusters (default: all)")] = None,
    output: OutputOption = Output.text,
) -> None:
    """List clusters whose real infrastructure differs from git (exit 1 if any)."""
    from hubfleet.terraform.commands import drift_all, terraform_clusters

    context = _context(ctx)
    results = drift_all(context, terraform_clusters(context.fleet, clusters or []))
    if output is Output.json:
        echo_json(ctx, {"clusters": [r.to_json() for r in results]})
    else:
        for result in results:
            echo(
                ctx,
                f"{result.cluster}: {result.status}"
                + (f": {result.message}" if result.message else ""),
            )
    if any(r.status != "in-sync" for r in results):
        raise spec.Exit(1)


@app.command("values")
def values(ctx: spec.Context, cluster: str, output: OutputOption = Output.text) -> None:
    """Write the hubs' generated values files from Terraform's outputs."""
    from hubfleet.terraform.commands import values_cluster
    from hubfleet.terraform.values import remove_leftovers

    context = _context(ctx)
    written = values_cluster(context, context.fleet.cluster(cluster))
    left = remove_leftovers(context.fleet, context.fleet.cluster(cluster))
    if output is Output.json:
        found = {"written": [{"path": w.path, "encrypted": w.encrypted} for w in written]}
        echo_json(ctx, {**found, "leftovers": [entry.to_json() for entry in left]})
        return
    for entry in written:
        echo(ctx, f"wrote {entry.path}{' (encrypted)' if entry.encrypted else ''}")
    for leftover in left:
        echo(ctx, leftover.line())


@app.command("backups")
def backups(
    ctx: spec.Context,
    clusters: Annotated[
        list[str] | None, spec.Argument(help="clusters (default: all with home backups)")
    ] = None,
    output: OutputOption = Output.text,
) -> None:
    """List the newest snapshot of each cluster's home storage (through the cloud's CLI,
    in the cluster's Terraform credentials); exit 1 when one is older than its schedule
    allows, when there is none, or when it cannot be listed."""
    from hubfleet.terraform.backups import backup_clusters, check_all

    context = _context(ctx)
    chosen = backup_clusters(context.fleet, clusters or [])
    results = check_all(context.fleet, chosen, context.sops, context.redactor, context.extra_env)
    if output is Output.json:
        echo_json(ctx, {"clusters": [r.to_json() for r in results]})
    else:
        for result in results:
            if result.status == "fresh":
                line = (
                    f"{result.cluster}: fresh: {result.storage}, newest {result.newest} "
                    f"({result.age_hours:.1f} h old, at most {result.max_age_hours} h)"
                )
            else:
                line = result.message or f"{result.cluster}: {result.status}"
                line = line if line.startswith(result.cluster) else f"{result.cluster}: {line}"
            echo(ctx, context.redactor.scrub(line), err=not result.ok)
    if any(not r.ok for r in results):
        raise spec.Exit(1)


@app.command("scaffold")
def scaffold(
    ctx: spec.Context,
    provider: str,
    force: Annotated[bool, spec.Option("--force", help="overwrite existing files")] = False,
    output: OutputOption = Output.text,
) -> None:
    """Write the shipped root module for PROVIDER (gcp, aws, azure) into terraform/, and
    the support chart's template for the hubs' service accounts into helm-charts/support/."""
    from hubfleet.terraform.scaffold import (
        HOME_TEMPLATE,
        SUPPORT_CHART,
        SUPPORT_TEMPLATE,
        scaffold_support_template,
    )
    from hubfleet.terraform.scaffold import scaffold as write_module

    root = repo_root(ctx)
    written = write_module(root, provider, force=force)
    for name in (SUPPORT_TEMPLATE, HOME_TEMPLATE):
        template = scaffold_support_template(root, force=force, name=name)
        if template is not None:
            written.append(template)
    if output is Output.json:
        echo_json(ctx, {"written": written})
        return
    for path in written:
        echo(ctx, f"wrote {path}")
    if not (root / SUPPORT_CHART).is_dir():
        echo(
            ctx,
            f"note: no {SUPPORT_CHART}/: the support chart you use must render "
            "hubServiceAccounts (docs/terraform.md, hub identities)",
        )
