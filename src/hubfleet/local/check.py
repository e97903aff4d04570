"""The health check of a local hub, beside its runtime: the REST API check with the
scoped service token hubfleet registers for it."""

from __future__ import annotations

from hubfleet.base.errors import DeployError
from hubfleet.base.redact import Redactor
from hubfleet.config.fleet import Fleet, Hub
from hubfleet.health.check import CheckResult, check_hub
from hubfleet.health.gate import HealthRequest, HealthResult
from hubfleet.local.fleet import state_dir
from hubfleet.local.runtime import hub_status, local_check_token

CHECK_ATTEMPTS = 2
CHECK_ATTEMPT_TIMEOUT = 120.0


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
    folder = state_dir(fleet, fleet.cluster(hub.cluster))
    status = next(iter(hub_status(folder, [hub.name])), None)
    if status is None or not status.running:
        raise DeployError(
            f"local hub {hub.label} is not running (state in {folder})",
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
    try:
        _, result = check_local_hub(request.fleet, request.hub, redactor=request.redactor)
    except DeployError as exc:
        return HealthResult(False, exc.message)
    return HealthResult(result.ok, result.message)
