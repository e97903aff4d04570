"""Health check of a running hub through the JupyterHub REST API (see `check`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from hubfleet.health.check import (
    DEFAULT_USER,
    STEPS,
    CheckResult,
    StepResult,
    check_hub,
)

if TYPE_CHECKING:
    from hubfleet.deploy.health import HealthCheck

__all__ = [
    "DEFAULT_USER",
    "STEPS",
    "CheckResult",
    "StepResult",
    "check_hub",
    "deploy_health_checks",
]


def deploy_health_checks() -> Mapping[str, HealthCheck]:
    """The canary gate's checks by provider (see `hubfleet.deploy.health`).

    Local hubs are checked with their scoped service token. Kubernetes hubs are
    gated on helm's result until their token is read from the hub's Secret.
    """
    from hubfleet.local.deploy import health_check

    return {"local": health_check}
