"""`hubfleet deploy`: upgrade support releases, canaries (then the gate), production hubs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from hubfleet.base.causes import cause_lines
from hubfleet.cli import spec
from hubfleet.cli.common import Output, echo, load_fleet, options

if TYPE_CHECKING:
    from hubfleet.config.fleet import BrokenCluster


# With --plan: everything deployed, and some cluster's configuration is broken.
BROKEN_EXIT = 3


def command(
    ctx: spec.Context,
    cluster: Annotated[str | None, spec.Argument(help="Deploy this cluster.")] = None,
    hubs: Annotated[
        list[str] | None,
        spec.Argument(help="Only these hubs (default: the support release and every hub)."),
    ] = None,
    plan: Annotated[
        Path | None, spec.Option("--plan", help="Deploy the jobs of a plan (JSON).")
    ] = None,
    only_cluster: Annotated[
        str | None, spec.Option("--cluster", help="With --plan: only this cluster's jobs.")
    ] = None,
    wave: Annotated[
        str | None,
        spec.Option("--wave", help="With --plan: only this wave's jobs (CI runs one per call)."),
    ] = None,
    retry_failed: Annotated[
        Path | None,
        spec.Option(
            "--retry-failed", help="Re-run the failed, skipped, cancelled jobs of a report."
        ),
    ] = None,
    retry: Annotated[
        bool,
        spec.Option(
            "--retry",
            help="With --plan of `plan --live`: also deploy the hubs it holds after a "
            "rollback (their inputs are those that were rolled back).",
        ),
    ] = False,
    dry_run: Annotated[
        bool, spec.Option("--dry-run", help="helm's dry run; print the commands.")
    ] = False,
    concurrency: Annotated[
        int | None, spec.Option("--concurrency", min=1, help="helm processes at once.")
    ] = None,
    cluster_concurrency: Annotated[
        int | None, spec.Option("--cluster-concurrency", min=1, help="Clusters at once.")
    ] = None,
    report: Annotated[Path | None, spec.Option("--report", help="Write the JSON report.")] = None,
    junit: Annotated[Path | None, spec.Option("--junit", help="Write JUnit XML.")] = None,
    fail_fast: Annotated[
        bool, spec.Option("--fail-fast", help="Start nothing new after the first failure.")
    ] = False,
    no_health_check: Annotated[
        bool, spec.Option("--no-health-check", help="Gate canaries on helm's result only.")
    ] = False,
    recover: Annotated[
        bool, spec.Option("--recover", help="Roll back releases stuck in pending-* first.")
    ] = False,
    helm_timeout: Annotated[
        str | None, spec.Option("--helm-timeout", help="helm --timeout per release (e.g. 10m).")
    ] = None,
    progress: Annotated[
        str, spec.Option("--progress", help="auto, live (rich) or plain (timestamped lines).")
    ] = "auto",
    output: Annotated[Output, spec.Option("--output", help="text or json.")] = Output.text,
) -> None:
    """Deploy CLUSTER [HUB ...], a --plan FILE, or --retry-failed REPORT.

    Exit codes: 0 success, 1 a deploy failed, 2 bad input, 130 interrupted; with
    --plan, 3 when everything deployed but some cluster's configuration is broken (not
    deployed, listed: docs/isolation.md).
    """
    from hubfleet.base.errors import HubfleetError
    from hubfleet.deploy import targets as tg
    from hubfleet.deploy.checks import health_checks
    from hubfleet.deploy.orchestrator import (
        DEFAULT_CLUSTER_CONCURRENCY,
        DEFAULT_CONCURRENCY,
        DeployOptions,
    )
    from hubfleet.deploy.output import held_lines, report_json, rollout_lines
    from hubfleet.deploy.run import Outputs, deploy
    from hubfleet.helm.cli import duration_seconds

    opts = options(ctx)
    chosen = [x is not None for x in (cluster, plan, retry_failed)]
    if sum(chosen) != 1:
        raise HubfleetError(
            "name what to deploy: CLUSTER [HUB ...], --plan FILE or --retry-failed REPORT",
            hint="exactly one of them",
        )
    if retry and plan is None:
        raise HubfleetError(
            "--retry goes with --plan", hint="hubfleet plan --live --output json > plan.json"
        )
    if wave is not None and plan is None:
        raise HubfleetError("--wave goes with --plan", hint="a plan names each job's wave")
    if only_cluster is not None and plan is None:
        raise HubfleetError("--cluster goes with --plan", hint="or name the cluster as argument")
    if progress not in ("auto", "live", "plain"):
        raise HubfleetError(f"--progress {progress!r}: choose auto, live or plain")
    broken: tuple[BrokenCluster, ...] = ()
    if plan is not None:
        # docs/isolation.md: a broken cluster is not deployed, the rest is.
        from hubfleet.cli.isolation import load_for_plan, merge_broken

        fleet, broken = load_for_plan(ctx, only_cluster)
        names = {b.name for b in broken}
        targets = tg.from_plan(
            fleet, plan, only_cluster, redactor=opts.redactor, broken=names, retry=retry
        )
        broken = merge_broken(broken, targets.broken, only_cluster)
        if wave is not None:
            targets = targets.only_wave(wave)
    else:
        fleet = load_fleet(ctx)
        if retry_failed is not None:
            targets = tg.from_report(fleet, retry_failed)
        else:
            assert cluster is not None
            targets = tg.from_cli(fleet, cluster, hubs or [])
    settings = fleet.settings.deploy
    timeout = helm_timeout or settings.helm_timeout
    duration_seconds(timeout)  # bad input: exit 2 before anything runs
    deploy_options = DeployOptions(
        dry_run=dry_run,
        concurrency=concurrency or settings.concurrency or DEFAULT_CONCURRENCY,
        cluster_concurrency=cluster_concurrency
        or settings.cluster_concurrency
        or DEFAULT_CLUSTER_CONCURRENCY,
        fail_fast=fail_fast,
        helm_timeout=timeout,
        health_check=settings.health_check and not no_health_check,
        recover=recover,
    )
    live = {"auto": None, "live": True, "plain": False}[progress]
    if output is Output.json:
        live = False
    result = deploy(
        fleet,
        targets,
        options=deploy_options,
        redactor=opts.redactor,
        outputs=Outputs(report=report, junit=junit, live=live),
        health_checks=health_checks(),
    )
    if output is Output.json:
        echo(ctx, report_json(result, opts.redactor))
    else:
        lines = []
        if dry_run:
            lines += [f"# {r.job.label}\n{r.command}" for r in result.records if r.command]
        counts = ", ".join(f"{n} {s}" for s, n in result.counts().items()) or "nothing to do"
        lines += [f"{f.cluster}: {f.message}" for f in result.cluster_failures]
        for r in result.records:  # each failure with the lines that say why
            if r.status == "failed":
                why = cause_lines(f"{r.message}\n{r.output_tail}")
                why = why or r.message.strip().splitlines()[:1]
                lines.append(f"{r.job.label} failed: " + "\n    ".join(why))
        lines += held_lines(result)
        lines.append(f"deploy {'interrupted' if result.interrupted else 'done'}: {counts}")
        lines.append(f"canary gate: {result.health_check}")
        lines += rollout_lines(result)
        lines += [f"{b.name}: not deployed, its configuration is broken" for b in broken]
        echo(ctx, "\n".join(lines))
    for gone in broken:  # each with its errors, at their files and lines
        if output is Output.json:
            echo(ctx, f"{gone.name}: not deployed, its configuration is broken", err=True)
        for problem in gone.problems:
            echo(ctx, problem.render(), err=True)
    raise spec.Exit(result.exit_code or (BROKEN_EXIT if broken else 0))
