"""Where a release's chart keeps the JupyterHub chart's (z2jh's) values.

z2jh's own keys sit at the top of a hub's values; a chart that wraps z2jh keeps them
under the dependency's key (`jupyterhub.` for a basehub-like chart,
`basehub.jupyterhub.` for a daskhub-like chart that wraps basehub). hubfleet.yaml's
`z2jh_values_keys` says it for a chart and wins; otherwise it is read from the chart's
dependencies (`hubfleet.helm.charts.jupyterhub_values_key`).

It is the one answer for every code that reads or writes z2jh's keys in a hub's values:
the community policy (`hubfleet.community`), the generated Terraform values and their
staleness check (`hubfleet.terraform.values`), the export's README (`hubfleet.export`).
It lives in `helm/` so that each of those rooms may import it.
"""

from __future__ import annotations

from collections.abc import Callable

from hubfleet.base.errors import HubfleetError
from hubfleet.base.yamlio import PathKey
from hubfleet.config.charts import ChartSource
from hubfleet.config.fleet import Fleet, Hub
from hubfleet.helm.charts import jupyterhub_values_key


def z2jh_values_key(fleet: Fleet, hub: Hub) -> PathKey:
    """The key path of z2jh's values in `hub`'s values (`()` at the top): the fleet's
    `z2jh_values_keys` entry for its chart, else what its chart's dependencies say (a
    chart hubfleet cannot read counts as z2jh-shaped: its problems are reported by the
    chart checks, and a community key at the wrong nesting is then refused, not let out)."""
    return chart_z2jh_values_key(fleet, hub.helm_chart, lambda: fleet.hub_chart_source(hub))


def chart_z2jh_values_key(
    fleet: Fleet, chart_name: str, source: Callable[[], ChartSource]
) -> PathKey:
    """The same answer for a chart by name (a hub not in cluster.yaml yet, a release):
    `source` gives the chart's source, asked only when hubfleet.yaml does not say."""
    configured = fleet.settings.z2jh_values_keys.get(chart_name)
    if configured is not None:
        return tuple(configured.split(".")) if configured else ()
    try:
        derived = jupyterhub_values_key(source())
    except (HubfleetError, OSError, ValueError):
        derived = None
    return tuple(derived.split(".")) if derived else ()


def hub_z2jh_values_key(
    fleet: Fleet, cluster: str, hub: str, source: Callable[[], ChartSource]
) -> str | None:
    """The same answer for hub `hub` of `cluster` as a dotted key (None: at the top), as
    a release's values and the local provider read it; `source` gives the release's chart."""
    chart = fleet.cluster(cluster).hub(hub).helm_chart
    return ".".join(str(level) for level in chart_z2jh_values_key(fleet, chart, source)) or None
