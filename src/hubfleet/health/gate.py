"""The health contract of the canary gate: request, result, the gate's names.

A `HealthCheck` gets one freshly deployed staging hub (with its cluster's
credentials, e.g. to read the hub's API token through kubectl) and says whether
it is healthy. The orchestrator takes one per provider; a provider without one
is gated on its deploy's result, and the report says which gate was used. Each
target kind's check lives beside its runtime (`hubfleet.health.kubernetes`,
`hubfleet.local.check`); `hubfleet.deploy.checks` lists them and the CLI wires
them into the orchestrator.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hubfleet.base.redact import Redactor
    from hubfleet.config.fleet import Fleet, Hub
    from hubfleet.providers import Credentials
    from hubfleet.release.values import ReleaseValues


GATE_HEALTH = "health-check"
GATE_HELM = "helm"
GATE_NONE = "none"


@dataclass(frozen=True)
class HealthRequest:
    fleet: Fleet
    hub: Hub
    credentials: Credentials
    redactor: Redactor
    cancel: threading.Event | None = None
    # False: only that the hub answers its API (production hubs after their upgrade),
    # without the user-server part (a user, a server, a notebook cell).
    user_server: bool = True
    # The command's values pipeline (a deploy's one), for what a check reads from the
    # hub's values; None: the check reads them itself (placeholders for secrets).
    values: ReleaseValues | None = None


@dataclass(frozen=True)
class HealthResult:
    ok: bool
    message: str = ""


HealthCheck = Callable[[HealthRequest], HealthResult]


def switched_off(fleet: Fleet, hub: Hub) -> str | None:
    """Why the hub is not health-checked (`health_check.enabled: false`), else None:
    the gate then takes its upgrade's result, whatever the provider."""
    if hub.health_check.enabled:
        return None
    cluster = fleet.cluster(hub.cluster)
    return f"health check switched off ({cluster.file}:{hub.line}: health_check.enabled: false)"
