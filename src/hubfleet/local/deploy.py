"""The local provider inside `hubfleet deploy`: its release hook and canary health check.

`deploy_release` is what the orchestrator calls instead of `helm upgrade` for a
cluster with `provider: local`: it merges the hub's values in memory (secrets
decrypted by sops, never written) and runs the hub as a JupyterHub process.
`health_check` gates the cluster's production hubs on the REST API check of each
freshly deployed staging hub.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hubfleet.config.fleet import Cluster, Fleet
from hubfleet.config.models import LocalBlock

if TYPE_CHECKING:
    from hubfleet.deploy.health import HealthRequest, HealthResult
    from hubfleet.providers.base import Credentials, ProviderContext, ReleaseOutcome
    from hubfleet.release import Release

DEPLOY_TIMEOUT = 180.0
CHECK_ATTEMPTS = 2
CHECK_ATTEMPT_TIMEOUT = 120.0


def state_dir(fleet: Fleet, cluster: Cluster) -> Path:
    from hubfleet.local.runtime import cluster_state_dir

    block = cluster.spec.local or LocalBlock()
    return cluster_state_dir(fleet.root, cluster.name, block.state_dir)


def deploy_release(
    context: ProviderContext, creds: Credentials, release: Release, dry_run: bool
) -> ReleaseOutcome:
    """Start (or restart, or leave unchanged) one hub of a local cluster."""
    from hubfleet.local.runtime import LocalHubSpec, deploy_hub
    from hubfleet.providers.base import ReleaseOutcome
    from hubfleet.release import merged_values

    cluster = context.cluster
    folder = state_dir(context.fleet, cluster)
    if release.hub is None:
        return ReleaseOutcome("unchanged", "local clusters have no support release")
    if dry_run:
        return ReleaseOutcome("succeeded", f"dry run: would run JupyterHub for {release.label}")
    values = merged_values(context.fleet, release, sops=context.sops)
    block = cluster.spec.local or LocalBlock()
    result = deploy_hub(
        LocalHubSpec(
            cluster=cluster.name,
            hub=release.hub,
            values=values,
            state_dir=folder,
            base_port=block.base_port,
        ),
        timeout=DEPLOY_TIMEOUT,
        redactor=context.redactor,
    )
    ignored = f"; ignored (Kubernetes-only) keys: {', '.join(result.ignored_keys)}" * bool(
        result.ignored_keys
    )
    return ReleaseOutcome(
        result.status,
        f"{result.url} (pid {result.pid}, log {result.log_path}){ignored}",
    )


def health_check(request: HealthRequest) -> HealthResult:
    """The JupyterHub REST API check of one local hub, with its scoped service token."""
    from hubfleet.deploy.health import HealthResult
    from hubfleet.health import check_hub
    from hubfleet.local.runtime import hub_status, local_check_token

    fleet = request.fleet
    folder = state_dir(fleet, fleet.cluster(request.hub.cluster))
    statuses = {status.hub: status for status in hub_status(folder)}
    status = statuses.get(request.hub.name)
    if status is None or not status.running:
        return HealthResult(False, f"{request.hub.name} is not running (state in {folder})")
    result = check_hub(
        status.url,
        local_check_token(folder, request.hub.name),
        attempts=CHECK_ATTEMPTS,
        attempt_timeout=CHECK_ATTEMPT_TIMEOUT,
        redactor=request.redactor,
    )
    return HealthResult(result.ok, result.message)
