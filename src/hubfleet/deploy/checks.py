"""The health checks by target kind, and `hubfleet check` of a hub of any provider.

Each check lives beside its runtime (`hubfleet.health.kubernetes`,
`hubfleet.local.check`); this is where they meet the provider table, and what the
CLI wires into the orchestrator.
"""

from __future__ import annotations

from collections.abc import Mapping

from hubfleet.base import argv
from hubfleet.base.errors import HubfleetError
from hubfleet.base.redact import Redactor
from hubfleet.config.fleet import Fleet, Hub
from hubfleet.config.providers import TABLE, Target, target_of
from hubfleet.health import kubernetes
from hubfleet.health.check import CheckResult
from hubfleet.health.gate import HealthCheck, switched_off
from hubfleet.local import check as local_check
from hubfleet.providers import ProviderContext, get_provider
from hubfleet.secrets.sops import Sops

CHECKS: Mapping[Target, HealthCheck] = {
    "kubernetes": kubernetes.health_check,
    "local": local_check.health_check,
}


def health_checks() -> Mapping[str, HealthCheck]:
    """The canary gate's checks by provider (see `hubfleet.health.gate`).

    Local hubs are checked with the scoped service token hubfleet registers;
    Kubernetes hubs with the token z2jh keeps in the hub's Secret, through a
    port-forward (`hubfleet.health.kubernetes`).
    """
    return {facts.name: CHECKS[facts.target] for facts in TABLE}


def check_fleet_hub(
    fleet: Fleet,
    hub: Hub,
    *,
    sops: Sops,
    redactor: Redactor,
    attempts: int,
    attempt_timeout: float,
) -> tuple[str, CheckResult]:
    """`hubfleet check`: (URL checked, result) of a running hub of any provider.

    A local hub is checked where it runs; a Kubernetes hub inside its cluster's
    credentials (`sops` decrypts them). Raises `HubfleetError` when the check cannot
    run: switched off, hub not running, no token, no port-forward.
    """
    reason = switched_off(fleet, hub)
    if reason is not None:
        raise HubfleetError(
            f"hub {hub.label}: {reason}",
            hint="remove `enabled: false` from its health_check block to check it",
        )
    if target_of(fleet.cluster(hub.cluster).provider) == "local":
        return local_check.check_local_hub(
            fleet, hub, attempts=attempts, attempt_timeout=attempt_timeout, redactor=redactor
        )
    # A Kubernetes hub, inside its cluster's credentials; every value bound for
    # gcloud/aws/az and kubectl is checked before any of them runs.
    cluster = fleet.cluster(hub.cluster)
    provider = get_provider(cluster.provider)
    if provider.check_arguments is not None:
        with argv.located(cluster.file, cluster.lines.line((cluster.provider,)), cluster.name):
            provider.check_arguments(cluster)
    with argv.located(cluster.file, hub.line, f"{cluster.name}/{hub.name}"):
        kubernetes.check_arguments(hub)
    context = ProviderContext(fleet=fleet, cluster=cluster, sops=sops, redactor=redactor)
    with provider.credentials(context) as creds:
        return kubernetes.check_kubernetes_hub(
            fleet,
            hub,
            env=creds.env,
            redactor=redactor,
            attempts=attempts,
            attempt_timeout=attempt_timeout,
        )


def checked_where_it_runs(provider: str) -> bool:
    """Whether a hub of `provider` is checked where it runs on this machine (the local
    runtime's target kind), without cluster credentials (`check --all`)."""
    return target_of(provider) == "local"
