"""Loading the fleet: every `cluster.yaml` and `hubfleet.yaml`, every problem found.

Loading never stops at the first problem: it validates the top of each cluster
file and each hub entry separately, so one bad hub does not hide the others, and
returns every problem with its file and line. Checks here read only the cluster
files and stat the files they name; checks of file contents (encryption,
plaintext secrets, rendering) live in `hubfleet.validate.run`.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from hubfleet.base import kubenames
from hubfleet.base.confined import Confinement, Root, check_kind, size_text
from hubfleet.base.errors import ConfigError, Problem, did_you_mean
from hubfleet.base.yamlio import (
    LIMIT_ENV,
    Document,
    LineMap,
    PathKey,
    decode_text,
    load_data,
    load_yaml,
    max_file_bytes,
    read_fleet_file,
)
from hubfleet.config.decommission import decommission_problems
from hubfleet.config.fleet import (
    CLUSTERS_DIR,
    SUPPORT_NAMESPACE,
    BrokenCluster,
    Cluster,
    Fleet,
    Hub,
    Support,
    chart_override_path,
    chart_own_values_files,
    is_chart_yaml_override,
    local_chart_names,
    normalize,
)
from hubfleet.config.models import (
    ClusterFile,
    FleetFile,
    HubEntry,
    provider_block_model,
)
from hubfleet.config.providers import CREDENTIALS_KEY, PROVIDERS
from hubfleet.config.rollout import UNKNOWN_CLUSTER_HINT, unknown_clusters
from hubfleet.config.terraform import terraform_problems

SETTINGS_FILE = "hubfleet.yaml"
# Hub names become helm release and namespace names: DNS-1123 labels, and helm
# allows release names of at most 53 characters. Cluster names (and folders) are
# DNS-1123 labels of at most 63. Every pattern is matched against the whole string.
# (The rules themselves: `hubfleet.base.kubenames`.)
# Namespaces Kubernetes keeps for itself, and the support release's own name and
# namespace: no hub may take them.
SYSTEM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
NAME_HINT = (
    "lowercase letters, digits and '-', starting and ending with a letter or digit, "
    "at most {max} characters (a Kubernetes DNS-1123 label)"
)


@dataclass(frozen=True)
class LoadResult:
    fleet: Fleet
    problems: tuple[Problem, ...]
    # Repository-relative files the loader refused to read (outside the repository,
    # not a regular file, too large, missing): nothing may read them.
    refused: frozenset[str] = frozenset()

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    def fleet_or_raise(self) -> Fleet:
        if self.errors:
            raise ConfigError(self.errors)
        return self.fleet


def load_fleet(root: Path) -> LoadResult:
    """Load the fleet repository at `root`."""
    root = root.resolve()
    problems: list[Problem] = []
    settings, settings_file, settings_doc = _load_settings(root, problems)
    paths = _PathChecker(root)
    # Charts hubs may name: local folders, and every entry of hubfleet.yaml's charts
    # (an entry with a bad field is reported there, and still names a chart).
    raw = settings_doc.data if settings_doc and isinstance(settings_doc.data, dict) else {}
    raw_charts = raw.get("charts")
    charts = local_chart_names(root) | set(raw_charts if isinstance(raw_charts, dict) else ())
    clusters: list[Cluster] = []
    clusters_dir = root / CLUSTERS_DIR
    folders = sorted(clusters_dir.iterdir()) if clusters_dir.is_dir() else []
    try:
        for folder in folders:
            # Only folders holding a cluster.yaml are clusters; others (templates,
            # shared files) are skipped. A cluster.yaml that is a link, a FIFO or a
            # device is a cluster whose file the reader refuses.
            if folder.is_dir() and os.path.lexists(folder / "cluster.yaml"):
                cluster = _load_cluster(folder, settings, charts, paths, problems)
                if cluster is not None:
                    clusters.append(cluster)
    finally:
        paths.close()
    _check_unique_domains(clusters, problems)
    if settings_doc is not None:  # rollout waves naming no cluster folder (docs/deploy.md)
        names = {folder.name for folder in folders if folder.is_dir()}
        for key, message in unknown_clusters(settings.rollout, names):
            problems.append(_at(settings_doc, key, message, UNKNOWN_CLUSTER_HINT))
    fleet = Fleet(
        root=root,
        settings=settings,
        clusters=tuple(clusters),
        settings_file=settings_file,
        settings_lines=settings_doc.lines if settings_doc else LineMap(),
        settings_data=settings_doc.data if settings_doc else None,
    )
    return LoadResult(fleet, tuple(sorted(set(problems))), frozenset(paths.refused))


@dataclass(frozen=True)
class IsolatedLoad:
    """The fleet split by cluster (docs/isolation.md): `fleet` holds the clusters whose
    configuration loads, `broken` every other one with its errors; `problems` is every
    problem found (warnings too); `fleet_wide` the errors outside every cluster's folder,
    which stop everything (`or_raise`)."""

    fleet: Fleet
    broken: tuple[BrokenCluster, ...]
    problems: tuple[Problem, ...]
    refused: frozenset[str] = frozenset()
    fleet_wide: tuple[Problem, ...] = ()
    # Shared values files (outside every cluster's folder) that do not parse: each
    # cluster using one is broken.
    shared_bad: frozenset[str] = frozenset()

    def or_raise(self) -> IsolatedLoad:
        if self.fleet_wide:
            raise ConfigError([*self.fleet_wide, Problem(SETTINGS_FILE, 0, FLEET_WIDE)])
        return self

    def isolated(self, problem: Problem) -> bool:
        """Whether `problem` is one of a broken cluster's (inside its folder, or in a
        shared values file only broken clusters use)."""
        name = _cluster_folder_of(problem.path)
        if name is not None:
            return any(cluster.name == name for cluster in self.broken)
        return problem.path in self.shared_bad


FLEET_WIDE = (
    "nothing was planned or deployed: the problems above are not inside one cluster's "
    "folder (hubfleet.yaml, a shared file or chart), and every cluster depends on them"
)
_SHARED = "values file {path} (shared): "


def load_isolated(
    root: Path, *, parse_values: bool = True, only: Collection[str] | None = None
) -> IsolatedLoad:
    """The fleet at `root`, a broken cluster isolated from the others; a problem every
    cluster depends on raises ConfigError (every such problem, and why)."""
    return isolate(load_fleet(root), parse_values=parse_values, only=only).or_raise()


def isolate(
    result: LoadResult, *, parse_values: bool = True, only: Collection[str] | None = None
) -> IsolatedLoad:
    """The loaded fleet split by cluster.

    A cluster is broken when an error is inside its folder (config/clusters/<name>/:
    its cluster.yaml, or the files it names), or, with `parse_values`, when a YAML
    values file it uses does not parse or is not a mapping (a shared values file
    breaks every cluster using it); `only` limits that to the paths given (a plan parses
    the values files its change set touches: parsing every file of a 20,000-hub fleet
    more than doubled a plan's time, and a file no change touches was parsed when its
    own change was planned). Any other error (hubfleet.yaml, a file outside every
    cluster's folder) is fleet-wide."""
    problems = list(result.problems)
    shared_bad: set[str] = set()
    if parse_values:
        problems += _values_problems(result.fleet, result.refused, shared_bad, only)
    by_cluster: dict[str, list[Problem]] = {}
    fleet_wide: list[Problem] = []
    for problem in problems:
        if problem.severity != "error":
            continue
        name = _cluster_folder_of(problem.path)
        if name is None:
            fleet_wide.append(problem)
        else:
            by_cluster.setdefault(name, []).append(problem)
    fleet = result.fleet
    broken = tuple(
        _broken(fleet, name, tuple(sorted(set(found))))
        for name, found in sorted(by_cluster.items())
    )
    healthy = tuple(c for c in fleet.clusters if c.folder.split("/")[-1] not in by_cluster)
    return IsolatedLoad(
        replace(fleet, clusters=healthy),
        broken,
        tuple(sorted(set(problems))),
        result.refused,
        tuple(sorted(set(fleet_wide))),
        frozenset(shared_bad),
    )


def _cluster_folder_of(path: str) -> str | None:
    """`config/clusters/<name>/...` -> `<name>` (None outside every cluster's folder)."""
    prefix = CLUSTERS_DIR + "/"
    if not path.startswith(prefix):
        return None
    name, slash, _ = path[len(prefix) :].partition("/")
    return name if slash and name else None


def _broken(fleet: Fleet, name: str, problems: tuple[Problem, ...]) -> BrokenCluster:
    """The broken cluster of folder `name`: its provider as its cluster.yaml says it."""
    file = f"{CLUSTERS_DIR}/{name}/cluster.yaml"
    loaded = next((c for c in fleet.clusters if c.file == file), None)
    if loaded is not None:
        return BrokenCluster(name, loaded.provider, file, problems)
    doc = _read(fleet.root, file, []) if os.path.lexists(fleet.root / file) else None
    data = doc.data if doc is not None and isinstance(doc.data, dict) else {}
    provider = data.get("provider")
    return BrokenCluster(name, provider if provider in PROVIDERS else "", file, problems)


def _values_problems(
    fleet: Fleet, refused: frozenset[str], shared_bad: set[str], only: Collection[str] | None
) -> list[Problem]:
    """Each YAML values file of a loaded cluster that does not parse or is not a
    mapping: one problem in each cluster using it (at the file's line, or at the
    cluster.yaml entry naming a file outside the cluster's folder, then added to
    `shared_bad`)."""
    found: list[Problem] = []
    bad: dict[str, Problem | None] = {}
    for cluster in fleet.clusters:
        units: list[Hub | Support] = [*([cluster.support] if cluster.support else [])]
        units += cluster.hubs
        for unit in units:
            for path in unit.values_files:
                if path in refused or not path.endswith((".yaml", ".yml")):
                    continue
                if only is not None and path not in only:
                    continue
                if path not in bad:
                    bad[path] = _values_problem(fleet.root, path)
                problem = bad[path]
                if problem is None:
                    continue
                if path.startswith(cluster.folder + "/"):
                    found.append(problem)
                else:
                    shared_bad.add(path)
                    found.append(
                        Problem(
                            cluster.file,
                            unit.line,
                            _SHARED.format(path=path) + problem.render(),
                        )
                    )
    return found


def _values_problem(root: Path, path: str) -> Problem | None:
    try:
        data = load_data(decode_text(read_fleet_file(root, path), path), path)
    except ConfigError as exc:
        return exc.problems[0]
    if data is not None and not isinstance(data, dict):
        return Problem(path, 1, "a values file must be a mapping of keys")
    return None


def _load_settings(
    root: Path, problems: list[Problem]
) -> tuple[FleetFile, str | None, Document | None]:
    if not os.path.lexists(root / SETTINGS_FILE):
        return FleetFile(), None, None
    doc = _read(root, SETTINGS_FILE, problems)
    if doc is None:
        return FleetFile(), SETTINGS_FILE, None
    data = doc.data if doc.data is not None else {}
    settings = _validate(FleetFile, data, doc, (), problems)
    if settings is None:
        # Keep what can be read, so that one bad key does not turn into a problem
        # on every hub (e.g. "names no helm_chart" when default_chart is fine).
        settings = _partial_settings(data)
    return settings, SETTINGS_FILE, doc


def _partial_settings(data: Any) -> FleetFile:
    if not isinstance(data, dict):
        return FleetFile()
    good: dict[str, Any] = {}
    for key, value in data.items():
        try:
            FleetFile.model_validate({key: value})
        except ValidationError:
            continue
        good[key] = value
    return FleetFile.model_validate(good)


def _read(root: Path, relative: str, problems: list[Problem]) -> Document | None:
    """The fleet file `relative`, read through the bounded reader and parsed."""
    try:
        return load_yaml(decode_text(read_fleet_file(root, relative), relative), relative)
    except ConfigError as exc:
        problems.extend(exc.problems)
        return None


@dataclass(frozen=True)
class _ClusterDoc:
    """One cluster.yaml being loaded: its folder, its parsed mapping, and where its
    problems go (with the line of a key) and its named files are checked."""

    folder: Path
    rel_folder: str
    rel_file: str
    doc: Document
    data: dict[str, Any]
    paths: _PathChecker
    problems: list[Problem]

    def line(self, *key: str | int) -> int:
        return self.doc.lines.line(key)

    def check_file(
        self, relative: str, key: PathKey, *, folder_ok: bool = False, resolved: str | None = None
    ) -> str:
        """The repository-relative path of a file cluster.yaml names at `key` (a problem
        at that key when it may not be read)."""
        resolved = resolved or normalize(f"{self.rel_folder}/{relative}")
        problem = self.paths.check(relative, resolved, folder_ok=folder_ok)
        if problem:
            message, hint = problem
            self.problems.append(Problem(self.rel_file, self.doc.lines.line(key), message, hint))
        return resolved


_Entries = list[tuple[int, HubEntry | None]]


def _load_cluster(
    folder: Path,
    settings: FleetFile,
    charts: set[str],
    paths: _PathChecker,
    problems: list[Problem],
) -> Cluster | None:
    """The cluster of `folder`, or None when its cluster.yaml cannot be read or its top
    is invalid; every problem found (also of a cluster returned) goes to `problems`."""
    cluster = _read_cluster(folder, paths, problems)
    if cluster is None:
        return None
    spec, entries = _validate_cluster(cluster)
    support = None
    if spec is not None:
        _check_spec(spec, cluster)
        support = _load_support(spec, settings, charts, cluster)
    hubs, names = _load_hubs(entries, settings, charts, cluster)
    if spec is None:
        return None
    live = {entry.name: cluster.line("hubs", i) for i, entry in entries if entry is not None}
    problems += decommission_problems(
        spec, cluster.rel_file, cluster.doc.lines, live, hub_name_problem
    )
    # terraform.hub_access may still name a decommissioned hub: its inputs leave it out.
    gone = {entry.name for entry in spec.decommissioned}
    problems += terraform_problems(
        spec, cluster.rel_file, cluster.doc.lines, names | gone, cluster.check_file
    )
    return Cluster(
        name=spec.name,
        provider=spec.provider,
        folder=cluster.rel_folder,
        file=cluster.rel_file,
        spec=spec,
        hubs=tuple(hubs),
        support=support,
        lines=cluster.doc.lines,
        data=cluster.data,
    )


def _read_cluster(folder: Path, paths: _PathChecker, problems: list[Problem]) -> _ClusterDoc | None:
    """The folder's cluster.yaml read and parsed, checking the folder's name; None when
    it cannot be read or is not a mapping."""
    rel_folder = f"{CLUSTERS_DIR}/{folder.name}"
    rel_file = f"{rel_folder}/cluster.yaml"
    doc = _read(paths.root, rel_file, problems)
    if doc is None:
        return None
    if not kubenames.is_label(folder.name):
        problems.append(
            Problem(
                rel_file,
                doc.lines.line(("name",)),
                f"cluster folder name {folder.name!r} is not a valid cluster name",
                NAME_HINT.format(max=kubenames.MAX_LABEL),
            )
        )
    if not isinstance(doc.data, dict):
        problems.append(Problem(rel_file, 1, "cluster.yaml must be a mapping of keys"))
        return None
    return _ClusterDoc(folder, rel_folder, rel_file, doc, doc.data, paths, problems)


def _validate_cluster(cluster: _ClusterDoc) -> tuple[ClusterFile | None, _Entries]:
    """The top of the file and each hub entry validated apart (None where invalid), so
    that one bad hub hides neither the others nor the cluster."""
    doc, problems = cluster.doc, cluster.problems
    raw_hubs = cluster.data.get("hubs", [])
    top = {k: v for k, v in cluster.data.items() if k != "hubs"}
    spec = _validate(ClusterFile, top, doc, (), problems)
    if not isinstance(raw_hubs, list):
        problems.append(_at(doc, ("hubs",), "hubs must be a list of hub entries"))
        raw_hubs = []
    entries = [
        (index, _validate(HubEntry, entry, doc, ("hubs", index), problems))
        for index, entry in enumerate(raw_hubs)
    ]
    return spec, entries


def _check_spec(spec: ClusterFile, cluster: _ClusterDoc) -> None:
    """The cluster's own keys: its name, its provider's block, state_dir, and the
    credentials files its provider block names."""
    if spec.name != cluster.folder.name:
        cluster.problems.append(
            Problem(
                cluster.rel_file,
                cluster.line("name"),
                f"name {spec.name!r} does not match its folder {cluster.folder.name!r}",
                "a cluster's name must equal the name of its folder under config/clusters/",
            )
        )
    _check_provider_blocks(spec, cluster.doc, cluster.rel_file, cluster.problems)
    _check_state_dir(spec, cluster.doc, cluster.problems)
    key_name = CREDENTIALS_KEY.get(spec.provider)
    if key_name is not None:
        value = getattr(getattr(spec, spec.provider), key_name, None)
        if isinstance(value, str) and value:
            cluster.check_file(value, (spec.provider, key_name))


def _load_support(
    spec: ClusterFile, settings: FleetFile, charts: set[str], cluster: _ClusterDoc
) -> Support | None:
    if spec.support is None:
        return None
    files = tuple(
        cluster.check_file(name, ("support", "helm_chart_values_files", i))
        for i, name in enumerate(spec.support.helm_chart_values_files)
    )
    _check_chart(spec.support.helm_chart, charts, cluster.doc, ("support",), cluster.problems)
    chart = spec.support.helm_chart
    own = chart_own_values_files(cluster.paths.root, chart, settings.support_chart_values_files)
    return Support(spec.name, chart, (*own, *files), cluster.line("support"), own)


def _load_hubs(
    entries: _Entries, settings: FleetFile, charts: set[str], cluster: _ClusterDoc
) -> tuple[list[Hub], set[str]]:
    """The hubs of the valid entries, and the names of every entry with a usable,
    unique name (also of a hub left out for naming no chart)."""
    hubs: list[Hub] = []
    seen: dict[str, int] = {}
    for index, entry in entries:
        if entry is None or not _hub_name_usable(entry, index, seen, cluster):
            continue
        seen[entry.name] = cluster.line("hubs", index)
        hub = _load_hub(entry, index, settings, charts, cluster)
        if hub is not None:
            hubs.append(hub)
    return hubs, set(seen)


def _hub_name_usable(
    entry: HubEntry, index: int, seen: Mapping[str, int], cluster: _ClusterDoc
) -> bool:
    key: PathKey = ("hubs", index, "name")
    name_problem = hub_name_problem(entry.name)
    if name_problem is not None:
        cluster.problems.append(_at(cluster.doc, key, *name_problem))
        return False
    if entry.name in seen:
        cluster.problems.append(
            _at(
                cluster.doc,
                key,
                f"duplicate hub name {entry.name!r}",
                f"first defined at line {seen[entry.name]}",
            )
        )
        return False
    return True


def _load_hub(
    entry: HubEntry, index: int, settings: FleetFile, charts: set[str], cluster: _ClusterDoc
) -> Hub | None:
    """The hub of a named entry; None when it names no chart."""
    key: PathKey = ("hubs", index)
    if not _valid_domain(entry.domain):
        cluster.problems.append(
            _at(
                cluster.doc,
                (*key, "domain"),
                f"invalid domain {entry.domain!r}",
                "a DNS name: dot-separated labels of lowercase letters, digits and '-'",
            )
        )
    chart = _hub_chart(entry, key, settings, charts, cluster)
    if chart is None:
        return None
    helm_chart, override = chart
    files = tuple(
        cluster.check_file(name, (*key, "helm_chart_values_files", i))
        for i, name in enumerate(entry.helm_chart_values_files)
    )
    domain_file = (
        cluster.check_file(entry.domain_override_file, (*key, "domain_override_file"))
        if entry.domain_override_file
        else None
    )
    return Hub(
        cluster=cluster.folder.name,
        name=entry.name,
        domain=entry.domain,
        helm_chart=helm_chart,
        values_files=files,
        staging=entry.staging if entry.staging is not None else "staging" in entry.name,
        line=cluster.line(*key),
        display_name=entry.display_name,
        chart_override=override,
        domain_override_file=domain_file,
        uptime_check=entry.uptime_check,
        health_check=entry.health_check,
        community=entry.community,
        hold=entry.hold.reason if entry.hold is not None else None,
        labels=dict(entry.labels or {}),
    )


def _hub_chart(
    entry: HubEntry, key: PathKey, settings: FleetFile, charts: set[str], cluster: _ClusterDoc
) -> tuple[str, str | None] | None:
    """(the hub's chart, its chart_override path), or None when it names no chart. The
    chart must be known unless an override replaces the chart (not only its Chart.yaml)."""
    chart = entry.helm_chart or settings.default_chart
    if chart is None:
        cluster.problems.append(
            _at(
                cluster.doc,
                key,
                f"hub {entry.name!r} names no helm_chart",
                "set helm_chart, or default_chart in hubfleet.yaml",
            )
        )
        return None
    override = (
        cluster.check_file(
            entry.chart_override,
            (*key, "chart_override"),
            folder_ok=True,
            resolved=chart_override_path(
                cluster.paths.root, cluster.rel_folder, entry.chart_override
            ),
        )
        if entry.chart_override
        else None
    )
    if override is None or is_chart_yaml_override(cluster.paths.root / override):
        _check_chart(chart, charts, cluster.doc, (*key, "helm_chart"), cluster.problems)
    return chart, override


def hub_name_problem(name: str) -> tuple[str, str] | None:
    """Why `name` cannot be a hub's release and namespace name (message, hint), or None."""
    if not kubenames.is_release_name(name):
        return (
            f"hub name {name!r} is not a valid release and namespace name",
            NAME_HINT.format(max=kubenames.MAX_RELEASE_NAME),
        )
    if name == SUPPORT_NAMESPACE:
        return (
            f"hub name {name!r} is the name and namespace of the cluster's support release",
            "rename the hub: deploying it would upgrade the support release",
        )
    if name in SYSTEM_NAMESPACES or name.startswith("kube-"):
        return (
            f"hub name {name!r} is a namespace Kubernetes keeps for itself",
            "rename the hub: 'default' and 'kube-*' namespaces are reserved",
        )
    return None


def _valid_domain(domain: str) -> bool:
    """A DNS name: dot-separated labels of lowercase letters, digits and '-', 253 at most."""
    return kubenames.is_domain(domain)


def _check_state_dir(spec: ClusterFile, doc: Document, problems: list[Problem]) -> None:
    """An absolute local.state_dir keeps hubs' databases and secrets outside the
    repository: allowed, and said (the model refuses a relative one escaping it)."""
    state_dir = spec.local.state_dir if spec.local is not None else None
    if state_dir is not None and state_dir.startswith("/"):
        warning = _at(
            doc,
            ("local", "state_dir"),
            f"local.state_dir {state_dir!r} is outside the repository: the hubs' "
            "databases and cookie secrets are kept there",
            "use a relative path to keep the state inside the repository",
        )
        problems.append(replace(warning, severity="warning"))


def _check_provider_blocks(
    spec: ClusterFile, doc: Document, rel_file: str, problems: list[Problem]
) -> None:
    block_model = provider_block_model(spec.provider)
    if getattr(spec, spec.provider) is None and not block_model.may_be_absent():
        problems.append(
            _at(
                doc,
                ("provider",),
                f"provider is {spec.provider!r} but there is no {spec.provider}: block",
                f"add a {spec.provider}: block with its settings",
            )
        )
    for other in PROVIDERS:
        if other != spec.provider and getattr(spec, other) is not None:
            problems.append(
                _at(
                    doc,
                    (other,),
                    f"{other}: block given but provider is {spec.provider!r}",
                    f"remove the {other}: block, or set provider: {other}",
                )
            )


def _check_chart(
    name: str, charts: set[str], doc: Document, key: PathKey, problems: list[Problem]
) -> None:
    if name in charts:
        return
    problems.append(
        _at(
            doc,
            key,
            f"unknown chart {name!r}: no helm-charts/{name}/Chart.yaml and no entry "
            "in hubfleet.yaml charts",
            did_you_mean(name, sorted(charts)),
        )
    )


def _check_unique_domains(clusters: list[Cluster], problems: list[Problem]) -> None:
    # (The line of each hub's domain by its position in `cluster.hubs`: looking each
    # hub up with `hubs.index` compared whole hubs, quadratic in a cluster's hubs.)
    seen: dict[str, tuple[str, int]] = {}
    for cluster in clusters:
        for index, hub in enumerate(cluster.hubs):
            first = seen.get(hub.domain)
            if first is not None:
                problems.append(
                    Problem(
                        cluster.file,
                        cluster.lines.line(("hubs", index, "domain")),
                        f"domain {hub.domain!r} is also used by another hub",
                        f"first used at {first[0]}:{first[1]}",
                    )
                )
            else:
                seen[hub.domain] = (cluster.file, cluster.lines.line(("hubs", index, "domain")))


class _PathChecker:
    """Checks that a file named in cluster.yaml may be read (cached): inside the
    repository once links are resolved, a regular file within the size limit.
    Every path refused is remembered in `refused`, so that nothing reads it.

    Each folder holding named files is opened once, through the confined walk
    (`Root.open`: links on its way resolved inside the repository), and listed once
    (`_Listing`). A file the listing shows as a regular file (not a link) is then
    looked at by name relative to that folder's descriptor without following a
    link (`fstatat` with `AT_SYMLINK_NOFOLLOW`: nothing is opened, so a FIFO or
    device swapped in is never opened either), and accepted only when what is there
    is the entry listed (same device and inode), a regular file within the limit.
    Anything else (a link, a folder, a special file, a missing name, an entry
    swapped since the listing, a folder that does not open) takes the walk
    (`_check_walk`), which says why. So the fast way accepts exactly what the walk
    would accept, with one system call per file instead of a walk from the root
    (an open per folder on the way) per file. The loader reads none of these files:
    whoever reads one later opens it through the confined walk again."""

    MAX_OPEN_FOLDERS = 64  # folder descriptors kept open at once (the oldest closed)

    def __init__(self, root: Path) -> None:
        self.root = root
        self.confined = Root(root)
        self.refused: set[str] = set()
        self._cache: dict[tuple[str, str, bool], tuple[str, str | None] | None] = {}
        self._listings: dict[str, _Listing | None] = {}

    def close(self) -> None:
        """Close the folders kept open (idempotent)."""
        for listing in self._listings.values():
            if listing is not None:
                listing.close()
        self._listings.clear()

    def check(
        self, written: str, resolved: str, *, folder_ok: bool
    ) -> tuple[str, str | None] | None:
        key = (written, resolved, folder_ok)
        if key not in self._cache:
            self._cache[key] = self._check(written, resolved, folder_ok)
            if self._cache[key] is not None:
                self.refused.add(resolved)
        return self._cache[key]

    def _check(self, written: str, resolved: str, folder_ok: bool) -> tuple[str, str | None] | None:
        hint = "paths in cluster.yaml are relative to its folder and stay inside the repository"
        if "\0" in written:
            return f"{written!r} contains a NUL byte", "a path is plain text"
        if os.path.isabs(written) or written.startswith("~"):
            return f"{written!r} is an absolute path", hint
        if resolved == ".." or resolved.startswith("../"):
            return f"{written!r} points outside the repository", hint
        if self._listed_file(resolved):
            return None
        return self._check_walk(written, resolved, folder_ok, hint)

    def _listed_file(self, resolved: str) -> bool:
        """`resolved` is a regular file within the limit, opened as its folder's
        listing shows it (not a link); False: the walk decides."""
        parent, _, name = resolved.rpartition("/")
        if name in ("", ".", "..", ".git") or "\0" in resolved:
            return False
        listing = self._listing(parent)
        return listing is not None and listing.holds_file(name, max_file_bytes())

    def _listing(self, folder: str) -> _Listing | None:
        if folder in self._listings:
            return self._listings[folder]
        if len(self._listings) >= self.MAX_OPEN_FOLDERS:
            oldest = next(iter(self._listings))
            evicted = self._listings.pop(oldest)
            if evicted is not None:
                evicted.close()
        self._listings[folder] = _Listing.open(self.confined, folder)
        return self._listings[folder]

    def _check_walk(
        self, written: str, resolved: str, folder_ok: bool, hint: str
    ) -> tuple[str, str | None] | None:
        """The file opened by a walk from the repository's root, links resolved."""
        try:
            opened = self.confined.open(resolved, shown=written)
        except Confinement as exc:
            return exc.message, hint if exc.kind in ("link", "outside") else exc.hint
        except FileNotFoundError:
            full = self.root / resolved
            parent = full.parent
            siblings = [p.name for p in parent.iterdir()] if parent.is_dir() else []
            return f"file {written!r} does not exist", did_you_mean(full.name, siblings)
        except OSError as exc:
            return f"cannot read {written!r}: {exc.strerror}", "check the file's permissions"
        try:
            if folder_ok and stat.S_ISDIR(opened.info.st_mode):
                return None
            check_kind(written, opened.info, max_file_bytes())
        except Confinement as exc:
            if exc.kind == "large":
                limit = size_text(max_file_bytes())
                return (
                    exc.message,
                    f"fleet files are at most {limit} (set {LIMIT_ENV} to change the limit)",
                )
            return exc.message, exc.hint
        finally:
            os.close(opened.fd)
        return None


@dataclass(frozen=True)
class _Listing:
    """A folder opened through the confined walk and listed once: its descriptor,
    its device, and the inode of each entry that is a regular file (not a link)."""

    fd: int
    device: int
    files: dict[str, int]

    @classmethod
    def open(cls, confined: Root, folder: str) -> _Listing | None:
        """The folder's listing; None when it does not open as a folder inside the
        repository (the walk then says why, file by file)."""
        try:
            opened = confined.open(folder, folder=True)
        except (Confinement, OSError):
            return None
        try:
            with os.scandir(opened.fd) as entries:
                files = {
                    entry.name: entry.inode()
                    for entry in entries
                    if entry.is_file(follow_symlinks=False)
                }
        except OSError:
            os.close(opened.fd)
            return None
        return cls(opened.fd, opened.info.st_dev, files)

    def holds_file(self, name: str, limit: int) -> bool:
        """`name` is (no link followed) the regular file listed, within `limit`."""
        inode = self.files.get(name)
        if inode is None:
            return False
        try:
            info = os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except OSError:
            return False  # removed, unreadable: the walk says why
        return (
            (info.st_dev, info.st_ino) == (self.device, inode)
            and stat.S_ISREG(info.st_mode)
            and info.st_size <= limit
        )

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


def _validate(
    model: type[BaseModel],
    data: Any,
    doc: Document,
    prefix: PathKey,
    problems: list[Problem],
) -> Any:
    """`model.model_validate(data)`, or None after adding one problem per error."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            problems.append(_pydantic_problem(model, error, doc, prefix))
        return None


def _pydantic_problem(
    model: type[BaseModel], error: Mapping[str, Any], doc: Document, prefix: PathKey
) -> Problem:
    loc = _data_path(model, tuple(error["loc"]))
    key = (*prefix, *loc)
    dotted = ".".join(str(k) for k in key) or "(top)"
    kind = error["type"]
    if kind == "extra_forbidden":
        known = _fields_at(model, loc[:-1])
        return _at(doc, key, f"unknown key {dotted!r}", did_you_mean(str(loc[-1]), known))
    if kind == "missing":
        return _at(doc, key[:-1], f"missing required key {dotted!r}")
    message = str(error["msg"]).removeprefix("Value error, ")
    hint = None
    if kind == "literal_error" and isinstance(error.get("input"), str):
        expected = error.get("ctx", {}).get("expected", "")
        hint = did_you_mean(error["input"], re.findall(r"'([^']*)'", expected))
    if kind == "model_type" or kind == "dict_type":
        message = "must be a mapping of keys"
    if hint is None:
        schema = "cluster" if model is not FleetFile else "fleet"
        hint = f"the allowed values are in `hubfleet schema {schema}`"
    return _at(doc, key, f"{dotted}: {message}", hint)


def _data_path(model: type[BaseModel], loc: tuple[Any, ...]) -> PathKey:
    """Drop pydantic's union-member tags (e.g. 'str', 'GcpBlock') from an error location."""
    path: list[str | int] = []
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            path.append(part)
            continue
        if isinstance(current, _DictOf):
            path.append(part)
            current = current.model
            continue
        fields = _model_fields(current)
        if fields is not None and part in fields:
            path.append(part)
            current = _field_model(fields[part].annotation)
        elif fields is None and current is dict:
            path.append(part)
        elif fields is not None:
            path.append(part)  # an unknown key: keep it
            current = None
    return tuple(path)


def _model_fields(current: Any) -> dict[str, Any] | None:
    if isinstance(current, type) and issubclass(current, BaseModel):
        return dict(current.model_fields)
    return None


@dataclass(frozen=True)
class _DictOf:
    model: Any


def _field_model(annotation: Any) -> Any:
    """The model inside `X | None` or `list[X]`, or `_DictOf(X)` for `dict[str, X]`."""
    if getattr(annotation, "__origin__", None) is dict:
        value = annotation.__args__[1]
        if isinstance(value, type) and issubclass(value, BaseModel):
            return _DictOf(value)
    for arg in (annotation, *getattr(annotation, "__args__", ())):
        for inner in (arg, *getattr(arg, "__args__", ())):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
    return dict


def _fields_at(model: type[BaseModel], loc: PathKey) -> list[str]:
    current: Any = model
    for part in loc:
        fields = _model_fields(current)
        if fields is None or not isinstance(part, str) or part not in fields:
            if isinstance(part, int):
                continue
            return []
        current = _field_model(fields[part].annotation)
    fields = _model_fields(current)
    return sorted(fields) if fields else []


def _at(doc: Document, key: PathKey, message: str, hint: str | None = None) -> Problem:
    return Problem(doc.path, doc.lines.line(key), message, hint)
