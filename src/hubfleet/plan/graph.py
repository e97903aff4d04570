"""The dependency graph of every deployable unit (support releases and hubs).

Built once from the loaded `Fleet`, as an index from a repository-relative path
to the units depending on it, so that looking up N changed files costs N
dictionary lookups (plus one per folder level for chart folders), never a scan
of every hub:

- `exact`: files (values files, credentials, `domain_override_file`, a
  `chart_override` archive or replacement `Chart.yaml`, the files a `.jsonnet`
  values file imports);
- `folders`: folders whose every file is a dependency (a local chart
  `helm-charts/<name>/` with its `charts/` and `Chart.lock`, and every local chart
  it depends on through `repository: file://...`, transitively; a `chart_override`
  folder); a path matches each of its ancestor folders;
- `cluster_files`: each `cluster.yaml` (its meaning depends on whether history
  is available, see `hubfleet.plan.plan`);
- `remote_chart_users`: units whose chart is pinned in `hubfleet.yaml`;
- the fleet-wide `redeploy_all_when_changed` globs.
"""

from __future__ import annotations

import gc
import posixpath
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from hubfleet.base.errors import HubfleetError
from hubfleet.base.yamlio import load_data
from hubfleet.config.fleet import Cluster, Fleet, Hub, JobKind, normalize, release_label
from hubfleet.helm.jsonnet_deps import is_jsonnet, jsonnet_dependencies

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
        return release_label(self.cluster, self.hub)


@dataclass(frozen=True)
class Edge:
    """`unit` depends on a path, as `role` (e.g. "values file", "chart testhub");
    `unit` None: every unit of `cluster` does (its deployer credentials)."""

    unit: UnitKey | None
    cluster: str
    role: str
    category: Category
    # A folder dependency named by the role itself ("chart daskhub depends on
    # basehub"): its reason is "<role>: <path> <verb>", without the folder.
    named: bool = False


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
    # The units with an edge on each folder (a handful of folders: charts), so that
    # `covers` is one lookup per folder level; and, built on the first `paths_of`,
    # the paths each unit's own edges name.
    _folder_units: dict[str, set[UnitKey]] = field(
        default_factory=lambda: defaultdict(set), repr=False
    )
    _unit_paths: dict[UnitKey, set[str]] | None = field(default=None, repr=False)

    def add_exact(self, path: str, edge: Edge) -> None:
        self.exact[path].append(edge)
        self._unit_paths = None

    def add_folder(self, folder: str, edge: Edge) -> None:
        self.folders[folder].append(edge)
        if edge.unit is not None:
            self._folder_units[folder].add(edge.unit)
        self._unit_paths = None

    def covers(self, key: UnitKey, path: str) -> bool:
        """Unit `key` depends on a folder holding `path` (one lookup per folder level)."""
        return any(key in self._folder_units.get(folder, ()) for folder in _ancestors(path))

    def dependants(self, path: str) -> list[tuple[Edge, str]]:
        """Edges on `path`, each with the dependency it matched (the file, or the
        folder holding it)."""
        found = [(edge, path) for edge in self.exact.get(path, ())]
        for folder in _ancestors(path):
            found.extend((edge, folder) for edge in self.folders.get(folder, ()))
        return found

    def paths_of(self, key: UnitKey) -> list[str]:
        """Every file and folder unit `key` depends on by itself (sorted)."""
        if self._unit_paths is None:  # one pass over every edge, for every unit
            index: dict[UnitKey, set[str]] = defaultdict(set)
            for edges_of in (self.exact, self.folders):
                for path, edges in edges_of.items():
                    for edge in edges:
                        if edge.unit is not None:
                            index[edge.unit].add(path)
            self._unit_paths = index
        return sorted(self._unit_paths.get(key, ()))

    def all_units(self) -> list[UnitKey]:
        if len(self._sorted) != len(self.units):
            self._sorted = sorted(self.units, key=sort_key)
        return self._sorted


_AddChart = Callable[[UnitKey, str], None]

MAX_CHART_YAML_BYTES = 1024 * 1024


def sort_key(key: UnitKey) -> tuple[str, str]:
    return (key[0], key[1] or "")


class ChartIndex:
    """What local charts hold, read once per fleet: a chart folder's local
    dependencies (`repository: file://...` in its `Chart.yaml`), transitively, and
    the files a jsonnet file reads."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self._direct: dict[str, tuple[str, ...]] = {}
        self._jsonnet: dict[str, tuple[str, ...]] = {}
        self._is_chart: dict[str, bool] = {}
        self._named: dict[str, bool] = {}

    def is_chart(self, folder: str) -> bool:
        """`folder` holds a Chart.yaml (looked at once per folder: every hub of a chart
        asks)."""
        if folder not in self._is_chart:
            self._is_chart[folder] = self.fleet.abspath(f"{folder}/Chart.yaml").is_file()
        return self._is_chart[folder]

    def direct(self, chart_yaml: str) -> tuple[str, ...]:
        """Repository-relative folders of the local charts `chart_yaml` depends on;
        `file://` paths are relative to the folder the file describes (for a
        replacement Chart.yaml, pass the folder it is laid over as `base`)."""
        return self.direct_from(chart_yaml, posixpath.dirname(chart_yaml))

    def direct_from(self, chart_yaml: str, base: str) -> tuple[str, ...]:
        key = f"{chart_yaml}\0{base}"
        if key not in self._direct:
            self._direct[key] = tuple(
                folder
                for folder in (
                    normalize(f"{base}/{ref}") for ref in _file_dependencies(self.fleet, chart_yaml)
                )
                if not folder.startswith("..") and self.is_chart(folder)
            )
        return self._direct[key]

    def chains(self, chart_yaml: str, base: str) -> list[tuple[str, tuple[str, ...]]]:
        """Every local chart reached from `chart_yaml`, each with the chain of chart
        folders leading to it (breadth first, each chart once, cycles cut)."""
        found: list[tuple[str, tuple[str, ...]]] = []
        seen = {base}
        queue: list[tuple[str, tuple[str, ...]]] = [
            (d, (d,)) for d in self.direct_from(chart_yaml, base)
        ]
        while queue:
            folder, chain = queue.pop(0)
            if folder in seen:
                continue
            seen.add(folder)
            if not folder.startswith(f"{base}/"):  # a subchart inside: its folder covers it
                found.append((folder, chain))
            queue.extend((d, (*chain, d)) for d in self.direct(f"{folder}/Chart.yaml"))
        return found

    def names_repository(self, chart_yaml: str) -> bool:
        """`chart_yaml` names a dependency's repository by a `helm repo add` name (read
        once per file)."""
        if chart_yaml not in self._named:
            self._named[chart_yaml] = names_repository(self.fleet, chart_yaml)
        return self._named[chart_yaml]

    def jsonnet(self, path: str) -> tuple[str, ...]:
        """The files `path` reads besides itself (imports, link targets)."""
        if path not in self._jsonnet:
            deps = jsonnet_dependencies(self.fleet.root, path)
            self._jsonnet[path] = tuple(d for d in deps if d != path)
        return self._jsonnet[path]


def _repositories(fleet: Fleet, chart_yaml: str) -> list[str]:
    """The repositories of a Chart.yaml's dependencies (unreadable: none; validate says
    why)."""
    full = fleet.abspath(chart_yaml)
    try:
        if not full.is_file() or full.stat().st_size > MAX_CHART_YAML_BYTES:
            return []
        data: Any = load_data(full.read_text(encoding="utf-8"), chart_yaml)
    except (OSError, UnicodeDecodeError, HubfleetError):
        return []
    entries = data.get("dependencies") if isinstance(data, dict) else None
    found: list[str] = []
    for entry in entries if isinstance(entries, list) else []:
        repository = entry.get("repository") if isinstance(entry, dict) else None
        if isinstance(repository, str):
            found.append(repository.strip())
    return found


def _file_dependencies(fleet: Fleet, chart_yaml: str) -> list[str]:
    """The `file://` repositories of a Chart.yaml (unreadable: none; validate says why)."""
    return [
        repository[len("file://") :].rstrip("/")
        for repository in _repositories(fleet, chart_yaml)
        if repository.startswith("file://")
    ]


def names_repository(fleet: Fleet, chart_yaml: str) -> bool:
    """A Chart.yaml with a dependency from a `helm repo add` name (`@name`, `alias:`),
    looked up in the fleet's repositories file."""
    return any(r.startswith(("@", "alias:")) for r in _repositories(fleet, chart_yaml))


def _chart_name(folder: str) -> str:
    return folder.rsplit("/", 1)[-1]


def _chain_role(head: str, chain: tuple[str, ...]) -> str:
    names = [_chart_name(folder) for folder in chain]
    role = f"{head} depends on {names[0]}"
    return role + "".join(f", which depends on {name}" for name in names[1:])


def is_chart_yaml_override(fleet: Fleet, path: str) -> bool:
    """A `chart_override` that is a replacement Chart.yaml (a file, not an archive)."""
    return not path.endswith((".tgz", ".tar.gz")) and fleet.abspath(path).is_file()


def build_graph(fleet: Fleet) -> Graph:
    with collector_paused():
        return _build_graph(fleet)


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a graph or a plan is built (also a
    decorator). They make no cycles, but the objects they add (edges, selections,
    jobs: several per hub) trigger full collections, each walking the whole loaded
    fleet: at 20,000 hubs those took as long as the building itself, and the more
    hubs, the more of them. Work that may make cycles runs in `collector_running`."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def collector_running() -> Iterator[None]:
    """The collector on again inside `collector_paused` (for rendering, say)."""
    paused = not gc.isenabled()
    gc.enable()
    try:
        yield
    finally:
        if paused:
            gc.disable()


def _build_graph(fleet: Fleet) -> Graph:
    graph = Graph(globs=tuple(fleet.settings.redeploy_all_when_changed))
    charts = ChartIndex(fleet)

    def add_chart(key: UnitKey, chart: str) -> None:
        graph.chart_users[chart].append(key)
        folder = fleet.local_chart_dir(chart)
        if charts.is_chart(folder):
            graph.add_folder(folder, Edge(key, key[0], f"chart {chart}", "chart"))
            chains = charts.chains(f"{folder}/Chart.yaml", folder)
            _add_chains(graph, key, f"chart {chart}", chains)
            _add_repositories(graph, key, charts, [folder, *(f for f, _ in chains)])
        else:
            graph.remote_chart_users[chart].append(key)

    for cluster in fleet.clusters:
        graph.cluster_files[cluster.file] = cluster.name
        _add_cluster(graph, cluster, add_chart, charts)
    return graph


def _add_chains(
    graph: Graph, key: UnitKey, head: str, chains: list[tuple[str, tuple[str, ...]]]
) -> None:
    for folder, chain in chains:
        edge = Edge(key, key[0], _chain_role(head, chain), "chart", named=True)
        graph.add_folder(folder, edge)


def _add_jsonnet(graph: Graph, key: UnitKey, charts: ChartIndex, paths: tuple[str, ...]) -> None:
    """The files the unit's jsonnet values files read (beyond the folders it already
    depends on) are its dependencies too."""
    for path in paths:
        if not is_jsonnet(path):
            continue
        for dependency in charts.jsonnet(path):
            if not graph.covers(key, dependency):
                graph.add_exact(dependency, Edge(key, key[0], f"{path} reads", "values"))


def _add_repositories(
    graph: Graph, key: UnitKey, charts: ChartIndex, folders: list[str], *files: str
) -> None:
    """The unit depends on the fleet's repositories file when a chart it deploys (or a
    replacement Chart.yaml) names a dependency's repository by a `helm repo add` name."""
    chart_files = [*files, *(f"{folder}/Chart.yaml" for folder in folders)]
    if any(charts.names_repository(path) for path in chart_files):
        path = charts.fleet.settings.helm_repositories_file
        graph.add_exact(path, Edge(key, key[0], "repositories file", "chart"))


def _ancestors(path: str) -> list[str]:
    """The folders holding `path`, nearest first ("a/b/c" -> "a/b", "a")."""
    found: list[str] = []
    folder = path
    while "/" in folder:
        folder = folder.rsplit("/", 1)[0]
        found.append(folder)
    return found


def _add_cluster(graph: Graph, cluster: Cluster, add_chart: _AddChart, charts: ChartIndex) -> None:
    if cluster.support is not None:
        key: UnitKey = (cluster.name, None)
        graph.units[key] = Unit(cluster.name, None, "support", cluster.provider)
        graph.cluster_units[cluster.name].append(key)
        for path in cluster.support.values_files:
            graph.add_exact(path, Edge(key, cluster.name, _values_role(path), "values"))
        add_chart(key, cluster.support.helm_chart)
        chart_jsonnet = f"{charts.fleet.local_chart_dir(cluster.support.helm_chart)}/values.jsonnet"
        _add_jsonnet(graph, key, charts, (chart_jsonnet, *cluster.support.values_files))
    for hub in cluster.hubs:
        _add_hub(graph, cluster, hub, add_chart, charts)
    for path in cluster.credential_files:
        graph.add_exact(path, Edge(None, cluster.name, "deployer credentials", "credentials"))


def _add_hub(
    graph: Graph, cluster: Cluster, hub: Hub, add_chart: _AddChart, charts: ChartIndex
) -> None:
    key: UnitKey = (cluster.name, hub.name)
    graph.units[key] = Unit(cluster.name, hub.name, hub.kind, cluster.provider)
    graph.cluster_units[cluster.name].append(key)
    for path in hub.values_files:
        graph.add_exact(path, Edge(key, cluster.name, _values_role(path), "values"))
    chart_folder = charts.fleet.local_chart_dir(hub.helm_chart)
    override = hub.chart_override
    if override and is_chart_yaml_override(charts.fleet, override):
        # A replacement Chart.yaml laid over the helm_chart folder: the hub depends on
        # both, and on the local charts the replacement names (relative to that folder).
        graph.add_exact(override, Edge(key, cluster.name, "chart_override", "chart"))
        add_chart(key, hub.helm_chart)
        head = f"chart_override {override}"
        chains = charts.chains(override, chart_folder)
        _add_chains(graph, key, head, chains)
        _add_repositories(graph, key, charts, [f for f, _ in chains], override)
    elif override:
        edge = Edge(key, cluster.name, "chart_override", "chart")
        graph.add_exact(override, edge)
        graph.add_folder(override, edge)
        chart_folder = override
    else:
        add_chart(key, hub.helm_chart)
    if hub.domain_override_file:
        graph.add_exact(
            hub.domain_override_file, Edge(key, cluster.name, "domain_override_file", "values")
        )
    _add_jsonnet(graph, key, charts, (f"{chart_folder}/values.jsonnet", *hub.values_files))


def _values_role(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return "encrypted values file" if "secret" in name else "values file"
