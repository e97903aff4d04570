"""The loaded fleet: clusters, their support release and hubs, with resolved paths.

Every path held here is repository-relative (POSIX), so it can be compared with
git's changed files and printed in `path:line` messages. `Fleet.root` turns them
into real paths.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from hubfleet.base.errors import ConfigError, Problem, did_you_mean
from hubfleet.base.yamlio import LineMap
from hubfleet.config.charts import ChartSource
from hubfleet.config.community import CommunityBlock
from hubfleet.config.models import ClusterFile, DecommissionedHub, FleetFile, HealthCheckBlock
from hubfleet.config.providers import CREDENTIALS_KEY

CLUSTERS_DIR = "config/clusters"
CHARTS_DIR = "helm-charts"
SUPPORT_NAMESPACE = "support"
CHART_ARCHIVE_SUFFIXES = (".tgz", ".tar.gz")

JobKind = Literal["support", "staging", "prod"]


def release_label(cluster: str, hub: str | None) -> str:
    """How messages, plans and reports name a release: `cluster/hub`, and
    `cluster/support` for the cluster's support release (`hub` None)."""
    return f"{cluster}/{hub or 'support'}"


@dataclass(frozen=True)
class Hub:
    cluster: str
    name: str
    domain: str
    helm_chart: str
    values_files: tuple[str, ...]
    staging: bool
    line: int
    display_name: str | None = None
    chart_override: str | None = None
    domain_override_file: str | None = None
    uptime_check: Mapping[str, Any] | None = None
    health_check: HealthCheckBlock = field(default_factory=HealthCheckBlock)
    community: CommunityBlock | None = None
    hold: str | None = None  # why the hub is held back (never deployed while held)
    labels: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def kind(self) -> JobKind:
        return "staging" if self.staging else "prod"

    @property
    def namespace(self) -> str:
        return self.name

    @property
    def release(self) -> str:
        return self.name

    @property
    def label(self) -> str:
        return release_label(self.cluster, self.name)


@dataclass(frozen=True)
class Support:
    """A cluster's support release. `values_files` starts with the support chart's own
    values files (`chart_values_files`, hubfleet.yaml's `support_chart_values_files`),
    then the cluster's `helm_chart_values_files`."""

    cluster: str
    helm_chart: str
    values_files: tuple[str, ...]
    line: int
    chart_values_files: tuple[str, ...] = ()

    @property
    def cluster_values_files(self) -> tuple[str, ...]:
        """The values files cluster.yaml names (without the chart's own)."""
        return self.values_files[len(self.chart_values_files) :]

    @property
    def namespace(self) -> str:
        return SUPPORT_NAMESPACE

    @property
    def release(self) -> str:
        return SUPPORT_NAMESPACE


@dataclass(frozen=True)
class Cluster:
    name: str
    provider: str
    folder: str
    file: str
    spec: ClusterFile
    hubs: tuple[Hub, ...]
    support: Support | None
    lines: LineMap = field(default_factory=LineMap, compare=False, repr=False)
    # cluster.yaml as parsed, hubs included (plan compares it with other revisions).
    data: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def provider_block(self) -> Any:
        """The block named after the provider (e.g. `spec.gcp`), None if absent."""
        return getattr(self.spec, self.provider)

    @property
    def credential_files(self) -> tuple[str, ...]:
        """Repository-relative sops files holding this cluster's deploy credentials."""
        key = CREDENTIALS_KEY.get(self.provider)
        name = getattr(self.provider_block, key, None) if key is not None else None
        return (self.path(name),) if isinstance(name, str) and name else ()

    @property
    def decommissioned(self) -> tuple[DecommissionedHub, ...]:
        """Hubs removed from the cluster, each with its date and data decision: the
        deploy uninstalls them (docs/decommission.md)."""
        return tuple(self.spec.decommissioned)

    def decommissioned_hub(self, name: str) -> DecommissionedHub | None:
        return next((e for e in self.spec.decommissioned if e.name == name), None)

    @property
    def staging_hubs(self) -> tuple[Hub, ...]:
        return tuple(hub for hub in self.hubs if hub.staging)

    @property
    def production_hubs(self) -> tuple[Hub, ...]:
        return tuple(hub for hub in self.hubs if not hub.staging)

    def path(self, relative: str) -> str:
        """A path written in cluster.yaml (relative to its folder) as repository-relative."""
        return normalize(f"{self.folder}/{relative}")

    @cached_property
    def _hubs_by_name(self) -> dict[str, Hub]:
        """Each hub by name (the first, as a walk would find it): `hub()` is one lookup."""
        return {hub.name: hub for hub in reversed(self.hubs)}

    def hub(self, name: str) -> Hub:
        found = self._hubs_by_name.get(name)
        if found is not None:
            return found
        raise ConfigError(
            f"cluster {self.name!r} has no hub {name!r}",
            path=self.file,
            line=self.lines.line(("hubs",)),
            hint=did_you_mean(name, [h.name for h in self.hubs])
            or f"its hubs: {', '.join(h.name for h in self.hubs) or 'none'}",
        )


@dataclass(frozen=True)
class BrokenCluster:
    """A cluster whose configuration does not load (docs/isolation.md): its errors,
    each at its file and line. It gets no jobs; every other cluster plans, validates
    and deploys, and the plan, the PR comment and the deploy's summary name it."""

    name: str
    provider: str  # "" when cluster.yaml does not say (or says it wrongly)
    file: str  # its cluster.yaml, repository-relative
    problems: tuple[Problem, ...]

    @property
    def folder(self) -> str:
        return f"{CLUSTERS_DIR}/{self.name}"

    def owns(self, path: str) -> bool:
        """Whether `path` (repository-relative) is inside this cluster's folder."""
        return path.startswith(self.folder + "/")


@dataclass(frozen=True)
class Fleet:
    root: Path
    settings: FleetFile
    clusters: tuple[Cluster, ...]
    settings_file: str | None = None
    settings_lines: LineMap = field(default_factory=LineMap, compare=False, repr=False)
    # hubfleet.yaml as parsed (None without one).
    settings_data: Any = field(default=None, compare=False, repr=False)

    @cached_property
    def _by_name(self) -> dict[str, Cluster]:
        """Each cluster by name (the first, as a walk would find it): `cluster()` is one
        lookup, so a plan asking it for every job stays linear in the fleet."""
        return {cluster.name: cluster for cluster in reversed(self.clusters)}

    def find_cluster(self, name: str) -> Cluster | None:
        """The cluster named `name`, None when there is none (one lookup)."""
        return self._by_name.get(name)

    def cluster(self, name: str) -> Cluster:
        found = self._by_name.get(name)
        if found is not None:
            return found
        raise ConfigError(
            f"no cluster named {name!r}",
            hint=did_you_mean(name, [c.name for c in self.clusters])
            or f"clusters: {', '.join(c.name for c in self.clusters) or 'none'}",
        )

    def hubs(self) -> Iterator[Hub]:
        for cluster in self.clusters:
            yield from cluster.hubs

    def abspath(self, relative: str) -> Path:
        return self.root / relative

    def local_chart_dir(self, name: str) -> str:
        return f"{CHARTS_DIR}/{name}"

    def chart_source(self, name: str) -> ChartSource:
        """Where chart `name` comes from: helm-charts/<name>/ first, else hubfleet.yaml."""
        local = self.abspath(self.local_chart_dir(name))
        if (local / "Chart.yaml").is_file():
            return ChartSource(name=name, local_dir=local, repositories_file=self.repositories)
        remote = self.settings.charts.get(name)
        if remote is not None:
            return ChartSource(
                name=name,
                repository=remote.repository,
                version=remote.version,
                origin=self.settings_file,
                origin_line=self.settings_lines.line(("charts", name)) if self.settings_file else 0,
            )
        raise ConfigError(
            f"chart {name!r} is neither a folder {CHARTS_DIR}/{name}/ nor in hubfleet.yaml charts",
            hint=did_you_mean(name, self.known_charts()),
        )

    def hub_chart_source(self, hub: Hub) -> ChartSource:
        """The chart a hub deploys: its helm_chart, or its chart_override.

        A chart_override that is a file (not an archive) is a replacement Chart.yaml
        laid over the helm_chart folder: same templates and values, other
        dependencies or versions; named after a chart the helm_chart wraps (basehub's
        on a daskhub hub), it replaces that chart's inside the wrapper's build. A
        folder or a `.tgz` is a whole chart.
        """
        if not hub.chart_override:
            return self.chart_source(hub.helm_chart)
        override = self.abspath(hub.chart_override)
        if is_chart_yaml_override(override):
            base = self.abspath(self.local_chart_dir(hub.helm_chart))
            return ChartSource(
                name=hub.helm_chart,
                local_dir=base,
                chart_yaml=override,
                repositories_file=self.repositories,
            )
        return ChartSource(
            name=hub.helm_chart, local_dir=override, repositories_file=self.repositories
        )

    @property
    def repositories(self) -> Path:
        """helm's repositories.yaml in the fleet (`helm_repositories_file`): the URLs of
        the `@name` repositories local charts' dependencies name."""
        return self.abspath(self.settings.helm_repositories_file)

    def known_charts(self) -> list[str]:
        return sorted({*local_chart_names(self.root), *self.settings.charts})


def chart_own_values_files(root: Path, chart: str, patterns: Sequence[str]) -> tuple[str, ...]:
    """The values files kept in a local chart's own folder that match `patterns` (file
    names or globs, e.g. `enc-*.secret.values.yaml`), repository-relative: in the order
    of the patterns, each glob's matches sorted, each file once. Only files
    directly in `helm-charts/<chart>/` (a link too: the confined reader refuses one that
    leaves the repository, loudly); none for a chart that is not local."""
    folder = f"{CHARTS_DIR}/{chart}"
    full = root / folder
    if not patterns or full.is_symlink() or not full.is_dir():
        return ()
    try:
        names = sorted(os.listdir(full))
    except OSError:
        return ()
    files = [n for n in names if not stat.S_ISDIR(os.lstat(full / n).st_mode)]
    found: dict[str, None] = {}
    for pattern in patterns:
        found.update(dict.fromkeys(n for n in files if fnmatch.fnmatchcase(n, pattern)))
    return tuple(f"{folder}/{name}" for name in found)


def local_chart_names(root: Path) -> set[str]:
    """The charts under helm-charts/ (folders holding a Chart.yaml)."""
    charts_dir = root / CHARTS_DIR
    if not charts_dir.is_dir():
        return set()
    return {p.name for p in charts_dir.iterdir() if (p / "Chart.yaml").is_file()}


def normalize(path: str) -> str:
    """Collapse `a/./b` and `a/x/../b` textually (symlinks are checked elsewhere)."""
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == ".." and parts and parts[-1] != "..":
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


def chart_override_path(root: Path, cluster_folder: str, written: str) -> str:
    """A hub's chart_override, repository-relative: relative to the cluster's folder,
    like every path in cluster.yaml; a path with `/` that is not there is relative to
    the repository root (the rule of the layout where `chart_override` comes from)."""
    beside = normalize(f"{cluster_folder}/{written}")
    if "/" in written.strip("/") and not (root / beside).exists():
        from_root = normalize(written)
        if not from_root.startswith("../") and (root / from_root).exists():
            return from_root
    return beside


def is_chart_yaml_override(path: Path) -> bool:
    """A chart_override that is a replacement Chart.yaml (a file, not a chart archive)."""
    return path.is_file() and not path.name.endswith(CHART_ARCHIVE_SUFFIXES)
