"""The dependency graph of every deployable unit (support releases and hubs).

Built once from the loaded `Fleet`, as an index from a repository-relative path
to the units depending on it, so that looking up N changed files costs N
dictionary lookups (plus one per folder level for chart folders), never a scan
of every hub:

- `exact`: files (values files, credentials, `domain_override_file`, a
  `chart_override` archive);
- `folders`: folders whose every file is a dependency (a local chart
  `helm-charts/<name>/` with its `charts/` and `Chart.lock`; a `chart_override`
  folder); a path matches each of its ancestor folders;
- `cluster_files`: each `cluster.yaml` (its meaning depends on whether history
  is available, see `hubfleet.plan.plan`);
- `remote_chart_users`: units whose chart is pinned in `hubfleet.yaml`;
- the fleet-wide `redeploy_all_when_changed` globs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from hubfleet.config.fleet import Cluster, Fleet, Hub, JobKind

UnitKey = tuple[str, str | None]  # (cluster, hub name; None for the support release)

# What kind of dependency selected a unit; `--rendered` only re-checks "chart".
Category = Literal["values", "chart", "cluster", "credentials", "fleet", "label", "canary"]


@dataclass(frozen=True)
class Unit:
    cluster: str
    hub: str | None
    kind: JobKind
    provider: str

    @property
    def key(self) -> UnitKey:
        return (self.cluster, self.hub)

    @property
    def label(self) -> str:
        return f"{self.cluster}/{self.hub or 'support'}"


@dataclass(frozen=True)
class Edge:
    """`unit` depends on a path, as `role` (e.g. "values file", "chart testhub");
    `unit` None: every unit of `cluster` does (its deployer credentials)."""

    unit: UnitKey | None
    cluster: str
    role: str
    category: Category


@dataclass
class Graph:
    units: dict[UnitKey, Unit] = field(default_factory=dict)
    exact: dict[str, list[Edge]] = field(default_factory=lambda: defaultdict(list))
    folders: dict[str, list[Edge]] = field(default_factory=lambda: defaultdict(list))
    cluster_files: dict[str, str] = field(default_factory=dict)  # cluster.yaml -> cluster
    cluster_units: dict[str, list[UnitKey]] = field(default_factory=lambda: defaultdict(list))
    remote_chart_users: dict[str, list[UnitKey]] = field(default_factory=lambda: defaultdict(list))
    chart_users: dict[str, list[UnitKey]] = field(default_factory=lambda: defaultdict(list))
    globs: tuple[str, ...] = ()
    _sorted: list[UnitKey] = field(default_factory=list, repr=False)

    def dependants(self, path: str) -> list[tuple[Edge, str]]:
        """Edges on `path`, each with the dependency it matched (the file, or the
        folder holding it)."""
        found = [(edge, path) for edge in self.exact.get(path, ())]
        folder = path
        while "/" in folder:
            folder = folder.rsplit("/", 1)[0]
            found.extend((edge, folder) for edge in self.folders.get(folder, ()))
        return found

    def all_units(self) -> list[UnitKey]:
        if len(self._sorted) != len(self.units):
            self._sorted = sorted(self.units, key=sort_key)
        return self._sorted


_AddChart = Callable[[UnitKey, str], None]


def sort_key(key: UnitKey) -> tuple[str, str]:
    return (key[0], key[1] or "")


def build_graph(fleet: Fleet) -> Graph:
    graph = Graph(globs=tuple(fleet.settings.redeploy_all_when_changed))
    local_charts: dict[str, bool] = {}

    def is_local(chart: str) -> bool:
        if chart not in local_charts:
            folder = fleet.local_chart_dir(chart)
            local_charts[chart] = fleet.abspath(f"{folder}/Chart.yaml").is_file()
        return local_charts[chart]

    def add_chart(key: UnitKey, chart: str) -> None:
        graph.chart_users[chart].append(key)
        if is_local(chart):
            folder = fleet.local_chart_dir(chart)
            graph.folders[folder].append(Edge(key, key[0], f"chart {chart}", "chart"))
        else:
            graph.remote_chart_users[chart].append(key)

    for cluster in fleet.clusters:
        graph.cluster_files[cluster.file] = cluster.name
        _add_cluster(graph, cluster, add_chart)
    return graph


def _add_cluster(graph: Graph, cluster: Cluster, add_chart: _AddChart) -> None:
    if cluster.support is not None:
        key: UnitKey = (cluster.name, None)
        graph.units[key] = Unit(cluster.name, None, "support", cluster.provider)
        graph.cluster_units[cluster.name].append(key)
        for path in cluster.support.values_files:
            graph.exact[path].append(Edge(key, cluster.name, _values_role(path), "values"))
        add_chart(key, cluster.support.helm_chart)
    for hub in cluster.hubs:
        _add_hub(graph, cluster, hub, add_chart)
    for path in cluster.credential_files:
        graph.exact[path].append(Edge(None, cluster.name, "deployer credentials", "credentials"))


def _add_hub(graph: Graph, cluster: Cluster, hub: Hub, add_chart: _AddChart) -> None:
    key: UnitKey = (cluster.name, hub.name)
    graph.units[key] = Unit(cluster.name, hub.name, hub.kind, cluster.provider)
    graph.cluster_units[cluster.name].append(key)
    for path in hub.values_files:
        graph.exact[path].append(Edge(key, cluster.name, _values_role(path), "values"))
    if hub.chart_override:
        edge = Edge(key, cluster.name, "chart_override", "chart")
        graph.exact[hub.chart_override].append(edge)
        graph.folders[hub.chart_override].append(edge)
    else:
        add_chart(key, hub.helm_chart)
    if hub.domain_override_file:
        graph.exact[hub.domain_override_file].append(
            Edge(key, cluster.name, "domain_override_file", "values")
        )


def _values_role(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return "encrypted values file" if "secret" in name else "values file"
