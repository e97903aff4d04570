"""Health checks of running hubs: the contract (`gate`), the JupyterHub REST API
check (`check`) and the check of a hub on a Kubernetes cluster (`kubernetes`)."""

from hubfleet.health.check import (
    DEFAULT_USER,
    STEPS,
    CheckResult,
    StepResult,
    check_hub,
)

__all__ = [
    "DEFAULT_USER",
    "STEPS",
    "CheckResult",
    "StepResult",
    "check_hub",
]
