"""Health check of a running hub through the JupyterHub REST API (see `check`)."""

from hubfleet.health.check import (
    DEFAULT_USER,
    STEPS,
    CheckResult,
    StepResult,
    check_hub,
)

__all__ = ["DEFAULT_USER", "STEPS", "CheckResult", "StepResult", "check_hub"]
