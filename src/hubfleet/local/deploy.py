"""The local provider inside `hubfleet deploy`: its release hook and canary health check.

`deploy_release` is what the orchestrator calls instead of `helm upgrade` for a
cluster with `provider: local`: it merges the hub's values in memory (secrets
decrypted by sops, never written), coalesces them over the chart's default values
as an install on Kubernetes would (the chart resolved as `validate` and `render`
resolve it; without it, the hub runs on its files' values alone and the job says
so), and runs the hub as a JupyterHub process.
`health_check` gates the cluster's production hubs on the REST API check of each
freshly deployed staging hub.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubfleet.base.errors import ChartError, DeployError
from hubfleet.config.charts import ChartSource
from hubfleet.config.fleet import Cluster, Fleet, Hub
from hubfleet.config.models import LocalBlock
from hubfleet.helm.charts import resolve_chart
from hubfleet.helm.engine import coalesced_values

if TYPE_CHECKING:
    from hubfleet.base.redact import Redactor
    from hubfleet.deploy.health import HealthRequest, HealthResult
    from hubfleet.health import CheckResult
    from hubfleet.providers.base import Credentials, ProviderContext, ReleaseOutcome
    from hubfleet.release.pipeline import Release

DEPLOY_TIMEOUT = 180.0
CHECK_ATTEMPTS = 2
CHECK_ATTEMPT_TIMEOUT = 120.0


def state_dir(fleet: Fleet, cluster: Cluster) -> Path:
    from hubfleet.local.runtime import cluster_state_dir

    block = cluster.spec.local or LocalBlock()
    return cluster_state_dir(fleet.root, cluster.name, block.state_dir)


def over_chart_defaults(
    chart: ChartSource, values: Mapping[str, Any]
) -> tuple[dict[str, Any] | None, str]:
    """(`values` coalesced over the chart's defaults, "") or, when the chart cannot be
    had, (None, a one-line warning saying so and why)."""
    try:
        return coalesced_values(resolve_chart(chart), values), ""
    except ChartError as exc:
        reason = (exc.message.strip().splitlines() or ["unavailable"])[0]
        return None, (
            f"warning: chart {chart.name} not available, the hub runs without the chart's "
            f"default values ({reason})"
        )


def deploy_release(
    context: ProviderContext, creds: Credentials, release: Release, dry_run: bool
) -> ReleaseOutcome:
    """Start (or restart, or leave unchanged) one hub of a local cluster."""
    from hubfleet.helm.charts import jupyterhub_values_key
    from hubfleet.local.runtime import LocalHubSpec, deploy_hub
    from hubfleet.providers.base import ReleaseOutcome
    from hubfleet.release.pipeline import merged_values

    cluster = context.cluster
    folder = state_dir(context.fleet, cluster)
    if release.hub is None:
        return ReleaseOutcome("unchanged", "local clusters have no support release")
    if dry_run:
        return ReleaseOutcome("succeeded", f"dry run: would run JupyterHub for {release.label}")
    values = merged_values(context.fleet, release, sops=context.sops, cache=context.values_cache)
    chart_values, warning = over_chart_defaults(release.chart, values)
    block = cluster.spec.local or LocalBlock()
    result = deploy_hub(
        LocalHubSpec(
            cluster=cluster.name,
            hub=release.hub,
            values=values,
            state_dir=folder,
            base_port=block.base_port,
            values_key=jupyterhub_values_key(release.chart),
            chart_values=chart_values,
        ),
        timeout=DEPLOY_TIMEOUT,
        redactor=context.redactor,
    )
    ignored = f"; ignored (Kubernetes-only) keys: {', '.join(result.ignored_keys)}" * bool(
        result.ignored_keys
    )
    message = f"{result.url} (pid {result.pid}, log {result.log_path}){ignored}"
    return ReleaseOutcome(result.status, f"{warning}; {message}" if warning else message)


def check_local_hub(
    fleet: Fleet,
    hub: Hub,
    *,
    attempts: int = CHECK_ATTEMPTS,
    attempt_timeout: float = CHECK_ATTEMPT_TIMEOUT,
    redactor: Redactor | None = None,
) -> tuple[str, CheckResult]:
    """(URL, result) of the REST API check of one running local hub, with its scoped
    service token; `DeployError` when the hub is not running."""
    from hubfleet.health import check_hub
    from hubfleet.local.runtime import hub_status, local_check_token

    folder = state_dir(fleet, fleet.cluster(hub.cluster))
    status = next(iter(hub_status(folder, [hub.name])), None)
    if status is None or not status.running:
        raise DeployError(
            f"local hub {hub.cluster}/{hub.name} is not running (state in {folder})",
            hint=f"deploy it first: hubfleet deploy {hub.cluster} {hub.name}",
        )
    token = local_check_token(folder, hub.name)
    result = check_hub(
        status.url,
        token,
        attempts=attempts,
        attempt_timeout=attempt_timeout,
        redactor=redactor,
        default_url=status.default_url,
    )
    return status.url, result


def health_check(request: HealthRequest) -> HealthResult:
    """The canary gate for local hubs: `check_local_hub` of the freshly deployed hub."""
    from hubfleet.deploy.health import HealthResult

    try:
        _, result = check_local_hub(request.fleet, request.hub, redactor=request.redactor)
    except DeployError as exc:
        return HealthResult(False, exc.message)
    return HealthResult(result.ok, result.message)
