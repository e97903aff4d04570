"""The release backend of each target kind of the provider table (`config/providers.py`).

The orchestrator looks a cluster's backend up here by its provider's target kind,
so it never names a kind; adding a kind is a module beside `kubernetes.py` and
`local.py` and its row here (a test keeps the rows equal to the kinds).
"""

from __future__ import annotations

from collections.abc import Mapping

from hubfleet.config.providers import Target
from hubfleet.deploy import kubernetes, local
from hubfleet.deploy.backend import BackendFactory

BACKENDS: Mapping[Target, BackendFactory] = {
    "kubernetes": kubernetes.backend,
    "local": local.backend,
}
