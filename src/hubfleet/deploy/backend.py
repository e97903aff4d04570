"""How a release reaches its target: one backend per target kind of the provider table.

`kubernetes`: `helm upgrade` on the cluster (the orchestrator's helm path,
`hubfleet.helm.cli`); `local`: `hubfleet.deploy.local`, a JupyterHub process. A
backend other than helm is a `DeployHook`; the orchestrator's `BACKENDS` names it by target kind
(`hubfleet.config.providers.TABLE`), so the orchestrator asks the table, not the
provider's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hubfleet.helm.charts import ChartResolver
from hubfleet.providers.base import Credentials, ProviderContext
from hubfleet.release.pipeline import Release


@dataclass(frozen=True)
class ReleaseOutcome:
    """What a provider's own deploy hook did with one release."""

    status: str  # "succeeded" or "unchanged"
    message: str = ""
    revision: int | None = None
    output_tail: str = ""


# Deploys one release: (context, creds, release, dry_run, the deploy's chart resolver)
# -> outcome.
DeployHook = Callable[[ProviderContext, Credentials, Release, bool, ChartResolver], ReleaseOutcome]
