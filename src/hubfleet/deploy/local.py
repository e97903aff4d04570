"""The local release backend: a hub of a `local` cluster as a JupyterHub process.

`deploy_release` is what the orchestrator calls instead of `helm upgrade` for a
cluster whose provider's target is `local`: it merges the hub's values in memory
(secrets decrypted by sops, never written), coalesces them over the chart's
default values as an install on Kubernetes would (the chart resolved as
`validate` and `render` resolve it; without it, the hub runs on its files' values
alone and the job says so), and runs the hub as a JupyterHub process
(`hubfleet.local`). The canary gate's check is `hubfleet.local.check`.
"""

from __future__ import annotations

from hubfleet.config.models import LocalBlock
from hubfleet.deploy.backend import ReleaseOutcome
from hubfleet.helm.charts import ChartResolver, jupyterhub_values_key
from hubfleet.local.fleet import over_chart_defaults, state_dir
from hubfleet.local.runtime import LocalHubSpec, deploy_hub
from hubfleet.providers.base import Credentials, ProviderContext
from hubfleet.release.pipeline import Release, merged_values

DEPLOY_TIMEOUT = 180.0


def deploy_release(
    context: ProviderContext,
    creds: Credentials,
    release: Release,
    dry_run: bool,
    charts: ChartResolver,
) -> ReleaseOutcome:
    """Start (or restart, or leave unchanged) one hub of a local cluster."""
    cluster = context.cluster
    folder = state_dir(context.fleet, cluster)
    if release.hub is None:
        return ReleaseOutcome("unchanged", "local clusters have no support release")
    if dry_run:
        return ReleaseOutcome("succeeded", f"dry run: would run JupyterHub for {release.label}")
    values = merged_values(context.fleet, release, sops=context.sops, cache=context.values_cache)
    chart_values, warning = over_chart_defaults(release.chart, values, charts=charts)
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
