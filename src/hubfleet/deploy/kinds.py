"""The release backend of each target kind of the provider table (`config/providers.py`).

The orchestrator looks a cluster's backend up here by its provider's target kind,
and the deploy's pre-flight its check, so neither names a kind; adding a kind is a
module beside `kubernetes.py` and `local.py` and its rows here (a test keeps the
rows equal to the kinds).
"""

from __future__ import annotations

from collections.abc import Mapping

from hubfleet.config.providers import Target
from hubfleet.deploy import kubernetes, local
from hubfleet.deploy.backend import BackendFactory, PreflightCheck

BACKENDS: Mapping[Target, BackendFactory] = {
    "kubernetes": kubernetes.backend,
    "local": local.backend,
}

PREFLIGHTS: Mapping[Target, PreflightCheck] = {
    "kubernetes": kubernetes.preflight,
    "local": local.preflight,
}
