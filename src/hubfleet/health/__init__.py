"""Health check of a running hub through the JupyterHub REST API (see `check`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from hubfleet.deploy.health import switched_off
from hubfleet.health.check import (
    DEFAULT_USER,
    STEPS,
    CheckResult,
    StepResult,
    check_hub,
)

if TYPE_CHECKING:
    from hubfleet.base.redact import Redactor
    from hubfleet.config.fleet import Fleet, Hub
    from hubfleet.deploy.health import HealthCheck
    from hubfleet.secrets.sops import Sops

__all__ = [
    "DEFAULT_USER",
    "STEPS",
    "CheckResult",
    "StepResult",
    "check_fleet_hub",
    "check_hub",
    "deploy_health_checks",
    "switched_off",
]


def deploy_health_checks() -> Mapping[str, HealthCheck]:
    """The canary gate's checks by provider (see `hubfleet.deploy.health`).

    Local hubs are checked with the scoped service token hubfleet registers;
    Kubernetes hubs with the token z2jh keeps in the hub's Secret, through a
    port-forward (`hubfleet.health.kubernetes`).
    """
    from hubfleet.health import kubernetes
    from hubfleet.local.deploy import health_check

    return {"local": health_check} | dict.fromkeys(kubernetes.PROVIDERS, kubernetes.health_check)


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
    from hubfleet.base.errors import HubfleetError

    reason = switched_off(fleet, hub)
    if reason is not None:
        raise HubfleetError(
            f"hub {hub.cluster}/{hub.name}: {reason}",
            hint="remove `enabled: false` from its health_check block to check it",
        )
    if fleet.cluster(hub.cluster).provider == "local":
        from hubfleet.local.deploy import check_local_hub

        return check_local_hub(
            fleet, hub, attempts=attempts, attempt_timeout=attempt_timeout, redactor=redactor
        )
    from hubfleet.health.kubernetes import check_with_credentials

    return check_with_credentials(
        fleet, hub, sops=sops, redactor=redactor, attempts=attempts, attempt_timeout=attempt_timeout
    )
