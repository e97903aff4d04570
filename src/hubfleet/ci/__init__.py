"""GitHub Actions for a fleet: the workflows `hubfleet ci init` generates, and the
small helpers those workflows call (`hubfleet ci matrix`, `hubfleet ci summary`)."""

from hubfleet.ci.workflows import (
    GENERATED_PATHS,
    PROVIDERS,
    CiSettings,
    build_matrix,
    check_up_to_date,
    render_workflows,
    summarize,
)

__all__ = [
    "GENERATED_PATHS",
    "PROVIDERS",
    "CiSettings",
    "build_matrix",
    "check_up_to_date",
    "render_workflows",
    "summarize",
]
