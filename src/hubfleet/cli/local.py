"""`hubfleet local status|stop`: the local provider's running hubs.

Both work from the state folders alone (`<repo>/.hubfleet/local/<cluster>`, or a
cluster's `local.state_dir` when the fleet loads), so they work even when the
fleet's configuration is broken.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from hubfleet.cli import spec
from hubfleet.cli.common import Output, echo, echo_json, load_fleet, repo_root
from hubfleet.config.fleet import release_label
from hubfleet.config.providers import target_of

if TYPE_CHECKING:
    from hubfleet.local import LocalHubStatus

app = spec.Group(
    help="Hubs of the local provider (JupyterHub processes on this machine).",
    no_args_is_help=True,
)


def cluster_state_dirs(ctx: spec.Context) -> dict[str, Path]:
    """cluster name -> its state folder, for every local cluster with state."""
    from hubfleet.local.fleet import state_dir
    from hubfleet.local.runtime import DEFAULT_STATE_ROOT

    default_root = repo_root(ctx) / DEFAULT_STATE_ROOT
    found: dict[str, Path] = {}
    if default_root.is_dir():
        found = {folder.name: folder for folder in default_root.iterdir() if folder.is_dir()}
    try:
        fleet = load_fleet(ctx)
    except Exception:  # a broken fleet: the default folder is enough
        return dict(sorted(found.items()))
    for cluster in fleet.clusters:  # a cluster's own `local.state_dir` wins
        local = target_of(cluster.provider) == "local"
        if local and (folder := state_dir(fleet, cluster)).is_dir():
            found[cluster.name] = folder
    return dict(sorted(found.items()))


def _uptime(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _row(status: LocalHubStatus) -> dict[str, Any]:
    return {
        "cluster": status.cluster,
        "hub": status.hub,
        "url": status.url,
        "pid": status.pid,
        "running": status.running,
        "uptime_s": status.uptime_s,
        "healthy": status.healthy,
        "log": str(status.log_path),
        "leftovers": [
            {"pid": left.pid, "name": left.name, "ports": list(left.ports)}
            for left in status.leftovers
        ],
        "port_taken_by": status.port_taken_by,
        "note": status.note,
    }


@app.command()
def status(
    ctx: spec.Context,
    cluster: Annotated[str | None, spec.Argument(help="Only this cluster.")] = None,
    output: Annotated[Output, spec.Option("--output", "-o", help="text or json")] = Output.text,
) -> None:
    """Local hubs: URL, pid, uptime, whether their API answers, and what a stopped hub
    left running (an orphaned proxy holding its port)."""
    from hubfleet.local import hub_status

    dirs = cluster_state_dirs(ctx)
    if cluster is not None:
        dirs = {cluster: dirs[cluster]} if cluster in dirs else {}
    statuses = [s for folder in dirs.values() for s in hub_status(folder)]
    rows = [_row(s) for s in statuses]
    if output is Output.json:
        echo_json(ctx, {"hubs": rows})
        return
    if not rows:
        echo(ctx, "no local hubs")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for column in ("cluster", "hub", "url", "pid", "uptime", "healthy", "log"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["cluster"],
            row["hub"],
            row["url"],
            str(row["pid"] or "-"),
            _uptime(row["uptime_s"]),
            "yes" if row["healthy"] else ("no" if row["running"] else _stopped(row)),
            row["log"],
        )
    console = Console()
    if not console.is_terminal:
        console = Console(width=220)
    console.print(table)
    for s in statuses:
        if s.note:
            fix = (
                f"; `hubfleet local stop {s.cluster} {s.hub}` stops "
                + ("them" if len(s.leftovers) > 1 else "it")
            ) * bool(s.leftovers)
            echo(ctx, f"{release_label(s.cluster, s.hub)}: stopped, but {s.note}{fix}")


def _stopped(row: dict[str, Any]) -> str:
    if row["leftovers"]:
        return "stopped (orphans left)"
    return "stopped (port taken)" if row["port_taken_by"] else "stopped"


@app.command()
def stop(
    ctx: spec.Context,
    cluster: Annotated[str | None, spec.Argument(help="Cluster (default: every one).")] = None,
    hubs: Annotated[list[str] | None, spec.Argument(help="Hubs (default: every one).")] = None,
    output: Annotated[Output, spec.Option("--output", "-o", help="text or json")] = Output.text,
) -> None:
    """Stop local hubs and every process they started (proxy, servers, culler)."""
    from hubfleet.base.errors import HubfleetError, did_you_mean
    from hubfleet.local import stop_hubs

    dirs = cluster_state_dirs(ctx)
    if cluster is not None:
        if cluster not in dirs:
            raise HubfleetError(
                f"no local cluster {cluster!r} with state",
                hint=did_you_mean(cluster, dirs)
                or "local clusters: " + (", ".join(dirs) or "none"),
            )
        dirs = {cluster: dirs[cluster]}
    results = [r for folder in dirs.values() for r in stop_hubs(folder, hubs or None)]
    if output is Output.json:
        echo_json(
            ctx,
            {
                "stopped": [
                    {
                        "cluster": r.cluster,
                        "hub": r.hub,
                        "was_running": r.was_running,
                        "processes_stopped": r.processes_stopped,
                    }
                    for r in results
                ]
            },
        )
        return
    if not results:
        echo(ctx, "no local hubs")
    for r in results:
        what = f"stopped ({r.processes_stopped} processes)" if r.was_running else "not running"
        if not r.was_running and r.processes_stopped:
            what = f"not running; cleaned {r.processes_stopped} leftover processes"
        echo(ctx, f"{release_label(r.cluster, r.hub)}: {what}")
