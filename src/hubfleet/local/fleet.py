"""The local runtime's view of the fleet: a cluster's state folder, a hub's chart defaults."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hubfleet.base.errors import ChartError
from hubfleet.config.charts import ChartSource
from hubfleet.config.fleet import Cluster, Fleet
from hubfleet.config.models import LocalBlock
from hubfleet.helm.charts import ChartResolver
from hubfleet.helm.engine import coalesced_values
from hubfleet.local.runtime import cluster_state_dir


def state_dir(fleet: Fleet, cluster: Cluster) -> Path:
    block = cluster.spec.local or LocalBlock()
    return cluster_state_dir(fleet.root, cluster.name, block.state_dir)


def over_chart_defaults(
    chart: ChartSource, values: Mapping[str, Any], *, charts: ChartResolver | None = None
) -> tuple[dict[str, Any] | None, str]:
    """(`values` coalesced over the chart's defaults, "") or, when the chart cannot be
    had, (None, a one-line warning saying so and why). `charts`: the command's resolver,
    so a chart is pulled (or found unavailable) once for all the hubs of a deploy."""
    try:
        return coalesced_values((charts or ChartResolver()).resolve(chart), values), ""
    except ChartError as exc:
        reason = (exc.message.strip().splitlines() or ["unavailable"])[0]
        return None, (
            f"warning: chart {chart.name} not available, the hub runs without the chart's "
            f"default values ({reason})"
        )
