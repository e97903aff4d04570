"""`hubfleet check CLUSTER HUB` (one running hub) and `hubfleet check --all [CLUSTER ...]`
(every hub, or those of the named clusters)."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

from hubfleet.cli import spec
from hubfleet.cli.common import echo, echo_json, load_fleet, options, repo_root, sops

if TYPE_CHECKING:
    from hubfleet.config.fleet import Fleet


class CheckOutput(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


def command(
    ctx: spec.Context,
    targets: Annotated[
        list[str] | None,
        spec.Argument(
            help="CLUSTER HUB; with --all, the clusters whose hubs to check (default: all).",
            metavar="CLUSTER [HUB]",
            show_default=False,
        ),
    ] = None,
    all_hubs: Annotated[
        bool,
        spec.Option("--all", help="Check every hub (of the named clusters): clusters in parallel."),
    ] = False,
    attempts: Annotated[int, spec.Option(help="Attempts before failing (one hub).")] = 3,
    timeout: Annotated[
        float | None,
        spec.Option(help="Seconds per attempt (default 120; --all: hubfleet.yaml's health)."),
    ] = None,
    retries: Annotated[
        int | None,
        spec.Option(
            help="--all: checks again of a failed hub before it is reported (default: "
            "hubfleet.yaml health.retries, 1).",
            min=0,
            max=5,
        ),
    ] = None,
    concurrency: Annotated[
        int | None,
        spec.Option(help="--all: clusters checked at once (default 8).", min=1, max=256),
    ] = None,
    hub_concurrency: Annotated[
        int | None,
        spec.Option(help="--all: hubs of one cluster checked at once (default 4).", min=1, max=64),
    ] = None,
    output: Annotated[
        CheckOutput, spec.Option("--output", "-o", help="text, json or markdown (--all)")
    ] = CheckOutput.text,
) -> None:
    """Check a running hub: start a server for a check user, run a notebook, clean up.

    A Kubernetes hub is reached with its cluster's credentials: its token from the
    hub's Secret, the hub through a kubectl port-forward (docs/health-check.md).
    With --all: every hub, clusters in parallel and isolated, a failed hub checked
    once more before it is reported; exit 1 when any hub failed.
    """
    from hubfleet.base.jsonio import InputError

    names = list(targets or [])
    if all_hubs:
        _check_all(ctx, names, timeout, retries, concurrency, hub_concurrency, output)
        return
    if len(names) != 2:
        raise InputError(
            "give CLUSTER HUB (one hub), or --all [CLUSTER ...]",
            hint="hubfleet check alpha staging; hubfleet check --all alpha beta",
        )
    if output is CheckOutput.markdown:
        raise InputError("--output markdown is for --all", hint="use text or json")
    _check_one(ctx, names[0], names[1], attempts, timeout or 120.0, output)


def _check_one(
    ctx: spec.Context,
    cluster: str,
    hub: str,
    attempts: int,
    timeout: float,
    output: CheckOutput,
) -> None:
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
    if output is CheckOutput.json:
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
        raise spec.Exit(1)


def _load_isolated(ctx: spec.Context, clusters: list[str]) -> tuple[Fleet, tuple[str, ...]]:
    """The clusters that load, and the names of the broken ones (docs/isolation.md);
    a cluster named that is neither is an error (exit 2)."""
    from hubfleet.base.errors import ConfigError, did_you_mean
    from hubfleet.config.load import load_isolated

    loaded = load_isolated(repo_root(ctx), parse_values=False)
    broken = tuple(sorted(c.name for c in loaded.broken))
    for problem in (p for c in loaded.broken for p in c.problems):
        if not clusters or _folder_cluster(problem.path) in clusters:
            echo(ctx, problem.render(), err=True)
    known = {c.name for c in loaded.fleet.clusters}
    for name in clusters:
        if name not in known and name not in broken:
            raise ConfigError(
                f"no cluster named {name!r}",
                hint=did_you_mean(name, sorted(known | set(broken))) or None,
            )
    if clusters:
        broken = tuple(name for name in broken if name in clusters)
    return loaded.fleet, broken


def _folder_cluster(path: str) -> str | None:
    parts = path.split("/")
    return parts[2] if len(parts) > 3 and parts[:2] == ["config", "clusters"] else None


def _check_all(
    ctx: spec.Context,
    clusters: list[str],
    timeout: float | None,
    retries: int | None,
    concurrency: int | None,
    hub_concurrency: int | None,
    output: CheckOutput,
) -> None:
    from dataclasses import replace

    from hubfleet.base import interrupt
    from hubfleet.deploy.fleetcheck import (
        CheckAllSettings,
        FleetCheck,
        check_all,
        now_utc,
        render_markdown,
        render_text,
    )

    fleet, broken = _load_isolated(ctx, clusters)
    health = fleet.settings.health
    settings = CheckAllSettings(
        cluster_concurrency=concurrency or health.cluster_concurrency,
        hub_concurrency=hub_concurrency or health.hub_concurrency,
        retries=health.retries if retries is None else retries,
        attempt_timeout=timeout or health.attempt_timeout_s,
        retry_delay_s=health.retry_delay_s,
    )
    chosen = [c.name for c in fleet.clusters if not clusters or c.name in clusters]
    if chosen:
        result = check_all(
            fleet,
            chosen,
            sops=sops(ctx, fleet.root),
            redactor=options(ctx).redactor,
            settings=settings,
        )
    else:  # every cluster named is broken
        result = FleetCheck(now_utc(), (), ())
    result = replace(result, broken=broken)
    if output is CheckOutput.json:
        echo_json(ctx, result.to_json())
    elif output is CheckOutput.markdown:
        echo(ctx, render_markdown(result))
    else:
        echo(ctx, render_text(result))
    if result.cancelled or interrupt.received() is not None:
        raise spec.Exit(interrupt.EXIT_CODE)
    if not result.ok:
        raise spec.Exit(1)
    if result.broken:
        raise spec.Exit(3)
