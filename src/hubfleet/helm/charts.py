"""Chart resolution: a hub's `helm_chart` to a chart the engine (and helm) can load.

A chart is either a local folder `<repo>/helm-charts/<name>/` or a remote chart
(`repository`: an https helm repository or an `oci://` reference, and `version`),
pulled once into the chart cache and read from there afterwards.

A local chart is used in place when it is complete. It is built into the chart
cache instead, never in the working tree, when it needs it:

- a hub's `chart_override` is a replacement `Chart.yaml` laid over the folder;
- dependencies are not in its `charts/` (fleets gitignore `charts/*.tgz`): each
  comes from the cache, pulled there from the repository its Chart.yaml names
  (a version range is resolved against Chart.lock and what the cache holds), or,
  for `file://`, is the other local chart, built the same way (recursively);
- it keeps its schema as `values.schema.yaml`: the build gets the
  `values.schema.json` made from it, which the engine and plain helm check.

A build is keyed by content (every file of the chart and of its `file://`
dependencies, the override, the dependency versions chosen), so a second run
reuses it: `<cache>/built/<name>-<digest>/`.

A `ChartResolver` lives for one command: it pulls each (repository, name,
version) and builds each local chart at most once, and remembers failures, so a
repository that does not answer costs one timeout per run, not one per hub.

Cache layout: `<cache>/<sanitized repository>/<name>-<version>.tgz` (or the
expanded folder `<name>-<version>/`), where the cache is `$HUBFLEET_CHART_CACHE`
or `<user cache dir>/hubfleet/charts`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import helm_python
import platformdirs

from hubfleet.base.confined import Confinement, Root
from hubfleet.base.errors import ChartError, ConfigError, HubfleetError, Problem, did_you_mean
from hubfleet.base.yamlio import Document, decode_text, load_data, load_yaml, max_file_bytes
from hubfleet.config.charts import ChartSource
from hubfleet.config.fleet import normalize
from hubfleet.config.repo import is_fleet_root
from hubfleet.helm import semver
from hubfleet.helm.liblog import library_output

CACHE_ENV = "HUBFLEET_CHART_CACHE"
TIMEOUT_ENV = "HUBFLEET_PULL_TIMEOUT"
# Set (to anything but "", "0", "false", "no"): never pull, use only the cache.
OFFLINE_ENV = "HUBFLEET_OFFLINE"
DEFAULT_PULL_TIMEOUT = 20.0
BUILT_DIR = "built"
_BUILD_FORMAT = "hubfleet-chart-build-1"  # part of every build's key
_OK_DEPENDENCY_STATUSES = frozenset({"ok", "unpacked"})
_ARCHIVE_SUFFIXES = (".tgz", ".tar.gz")
# A dependency's repository named as `helm repo add` names it (helm accepts both).
REPOSITORY_NAME_PREFIXES = ("@", "alias:")
_MAX_DEPTH = 8  # file:// chains deeper than this are refused (a cycle)
# A local chart's files are read into memory (confined to the repository) and its
# build written from them: limits of one file and of the whole chart.
MAX_CHART_FILE_BYTES = 16 * 1024 * 1024
MAX_CHART_BYTES = 64 * 1024 * 1024
_CONFINED_HINT = (
    "a local chart is read only from inside the repository: replace the link by the "
    "files, or name a chart from a helm repository in hubfleet.yaml"
)

T = TypeVar("T")


@dataclass(frozen=True)
class CacheMiss:
    """A chart archive the cache lacks: what it is, where it goes, who needs it, and why
    it is not there (pulling disabled, or the pull's failure)."""

    name: str
    version: str
    repository: str
    archive: Path  # where a pull (or `hubfleet charts pull --from DIR`) puts it
    message: str  # the whole sentence, as a lone miss is reported
    path: str | None = None  # the file naming the chart (a Chart.yaml, hubfleet.yaml)
    line: int | None = None

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line or 1}" if self.path else "hubfleet.yaml"


class ChartsMissing(ChartError):
    """Chart archives missing from the cache: every miss of one chart build at once (all
    its dependencies, through its `file://` ones), not only the first."""

    def __init__(self, misses: Iterable[CacheMiss], *, hint: str | None = None) -> None:
        unique = {m.archive: m for m in misses}
        self.misses = tuple(unique[a] for a in sorted(unique))
        first = self.misses[0]
        if len(self.misses) == 1:
            super().__init__(first.message, path=first.path, line=first.line, hint=hint)
            return
        super().__init__(
            f"{len(self.misses)} chart archives missing from the chart cache: "
            + "; ".join(f"{m.message} (put at {m.archive})" for m in self.misses),
            path=first.path,
            line=first.line,
            hint=FILL_HINT,
        )


FILL_HINT = (
    "run `hubfleet charts pull` on a connected machine, or `hubfleet charts pull --from DIR` "
    f"with the archives (offline), or place each archive where named ({CACHE_ENV} chooses "
    "the cache folder)"
)


def chart_cache_dir() -> Path:
    """The chart cache: `$HUBFLEET_CHART_CACHE`, else the user cache dir."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path(platformdirs.user_cache_dir("hubfleet")) / "charts"


def offline() -> bool:
    """`$HUBFLEET_OFFLINE` is set: no command pulls a chart (an air-gapped machine, a
    CI job that must not reach the network; `hubfleet charts pull --from DIR` fills
    the cache)."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def pull_timeout() -> float:
    """Seconds a pull may take: `$HUBFLEET_PULL_TIMEOUT`, else 20."""
    configured = os.environ.get(TIMEOUT_ENV, "").strip()
    if not configured:
        return DEFAULT_PULL_TIMEOUT
    try:
        value = float(configured)
    except ValueError:
        value = -1.0
    if not 0 < value <= 3600:
        raise ConfigError(
            f"{TIMEOUT_ENV}={configured!r} is not a number of seconds",
            hint="a number between 0 and 3600, e.g. 20 or 2.5",
        )
    return value


def sanitize_repository(repository: str) -> str:
    """A folder name for a repository URL: `https://hub.jupyter.org/helm-chart/`
    -> `hub.jupyter.org_helm-chart`; `oci://ghcr.io/org/charts` -> `oci_ghcr.io_org_charts`.
    """
    scheme, sep, rest = repository.partition("://")
    if not sep:
        scheme, rest = "", repository
    prefix = "oci_" if scheme.lower() == "oci" else ""
    cleaned = re.sub(r"[^A-Za-z0-9.-]+", "_", rest).strip("_.")
    return prefix + (cleaned or "repository")


def cached_chart_paths(source: ChartSource, cache_dir: Path | None = None) -> tuple[Path, Path]:
    """The two places a remote chart may sit in the cache: (archive, expanded folder)."""
    if not source.repository or not source.version:
        raise ChartError(f"chart {source.name!r} has no repository and version")
    base = (cache_dir or chart_cache_dir()) / sanitize_repository(source.repository)
    stem = f"{source.name}-{source.version}"
    return base / f"{stem}.tgz", base / stem


def resolve_chart(
    source: ChartSource,
    *,
    cache_dir: Path | None = None,
    allow_pull: bool = True,
    timeout: float | None = None,
    root: Path | None = None,
) -> Path:
    """A chart directory (or `.tgz`) for `source`, from a resolver of its own.

    For one chart; a command that resolves many creates one `ChartResolver`.
    """
    resolver = ChartResolver(cache_dir=cache_dir, allow_pull=allow_pull, timeout=timeout, root=root)
    return resolver.resolve(source)


def place_in_cache(content: bytes, target: Path) -> None:
    """Write an archive into the cache whole or not at all (a temporary file beside
    it, then a rename); raises `OSError`, which each caller says as a cache error."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".placing-", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


class ChartResolver:
    """Resolves charts for one command: every pull and build at most once, failures too.

    Thread-safe: two threads asking for the same chart wait for one pull or build.
    `root` (the fleet's) makes the paths in messages repository-relative.
    """

    def __init__(
        self,
        *,
        cache_dir: Path | None = None,
        allow_pull: bool = True,
        timeout: float | None = None,
        root: Path | None = None,
    ) -> None:
        self.cache_dir = cache_dir or chart_cache_dir()
        self.allow_pull = allow_pull and not offline()
        self.timeout = pull_timeout() if timeout is None else timeout
        self.root = root
        self.pull_attempts = 0  # pulls actually started (for tests and figures)
        self._lock = threading.Lock()
        # Re-entrant: a file:// cycle comes back to its own key and ends at _MAX_DEPTH.
        self._keys: dict[tuple[object, ...], threading.RLock] = {}
        self._done: dict[tuple[object, ...], Path | HubfleetError] = {}
        self._repositories: dict[Path, dict[str, str] | None] = {}  # repositories files

    # ------------------------------------------------------------- public

    def resolve(self, source: ChartSource) -> Path:
        """The chart to load: a local folder as it is when complete, else its build in
        the cache; a remote chart's cached archive or folder, pulled when absent.

        Raises `ConfigError` for a broken local chart (its Chart.yaml, at file and
        line) and `ChartError` for a chart that cannot be found, pulled or built.
        """
        if source.local_dir is not None:
            return self._local(source, depth=0)
        return self._remote(source)

    def local_chart(self, source: ChartSource) -> Path | None:
        """What helm gets for a local chart (the folder, or its build); None if remote."""
        return None if source.local_dir is None else self.resolve(source)

    # ------------------------------------------------------------- memo

    def _once(self, key: tuple[object, ...], make: Callable[[], Path]) -> Path:
        with self._lock:
            key_lock = self._keys.setdefault(key, threading.RLock())
        with key_lock:
            done = self._done.get(key)
            if isinstance(done, HubfleetError):
                raise done
            if done is not None:
                return done
            try:
                result = make()
            except HubfleetError as exc:
                self._done[key] = exc
                raise
            self._done[key] = result
            return result

    # ------------------------------------------------------------- remote

    def _remote(self, source: ChartSource) -> Path:
        if not source.repository or not source.version:
            raise ChartError(
                f"chart {source.name!r} is neither a local chart folder nor a remote chart",
                hint=(
                    f"add helm-charts/{source.name}/ to the repository, or an entry "
                    f"{source.name!r} with `repository` and `version` under `charts:` in "
                    "hubfleet.yaml"
                ),
            )
        key = ("remote", source.repository.rstrip("/"), source.name, source.version)
        return self._once(key, lambda: self._fetch(source))

    def _fetch(self, source: ChartSource) -> Path:
        archive, expanded = cached_chart_paths(source, self.cache_dir)
        if (expanded / "Chart.yaml").is_file():
            return expanded
        if archive.is_file():
            return archive
        seed_hint = (
            f"pre-seed the chart cache by placing the packaged chart at {archive} "
            f"(set {CACHE_ENV} to choose the cache folder)"
        )
        where = f"chart {source.name} {source.version} from {source.repository}"
        miss = CacheMiss(
            source.name,
            str(source.version),
            str(source.repository),
            archive,
            f"{where} is not in the chart cache and pulling is disabled",
            source.origin,
            source.origin_line or None,
        )
        if not self.allow_pull:
            if offline():
                seed_hint += f" ({OFFLINE_ENV} is set: nothing is pulled)"
            raise ChartsMissing([miss], hint=seed_hint)
        with self._lock:
            self.pull_attempts += 1
        try:
            with self._cache_errors():
                _pull(source, archive, timeout=self.timeout, seed_hint=seed_hint)
        except ChartError as exc:
            raise ChartsMissing(
                [dataclasses.replace(miss, message=exc.message)], hint=exc.hint
            ) from None
        return archive

    # ------------------------------------------------------------- local

    def _local(
        self, source: ChartSource, *, depth: int, no_chart: HubfleetError | None = None
    ) -> Path:
        folder = source.local_dir
        assert folder is not None
        place = self._place(folder)
        if folder.name.endswith(_ARCHIVE_SUFFIXES) and not place.confined.is_folder(place.relative):
            archive_key: tuple[object, ...] = ("archive", place.confined.path, place.relative)
            return self._once(archive_key, lambda: self._archive(source, place))
        override = None if source.chart_yaml is None else self._place(source.chart_yaml)
        key = (
            "local",
            place.confined.path,
            place.relative,
            None if override is None else override.relative,
        )
        return self._once(key, lambda: self._prepare(source, place, override, depth, no_chart))

    def _place(self, path: Path) -> _Place:
        """Where `path` is in the repository it is confined to (the resolver's root, or the
        fleet repository holding it), by name: links are resolved only when reading."""
        base = self.root if self.root is not None else _fleet_root(path)
        confined = Root(base)
        full = os.path.abspath(path)
        relative = None
        for start in dict.fromkeys((os.path.abspath(base), confined.path)):
            if full == start or full.startswith(start + os.sep):
                relative = os.path.relpath(full, start)
                break
        if relative is None:
            raise ChartError(
                f"chart folder {full} is outside the repository ({confined.path})",
                hint=_CONFINED_HINT,
            )
        relative = "" if relative == "." else relative
        display = relative if self.root is not None else full
        return _Place(confined, relative, display)

    def _snapshot(self, source: ChartSource, place: _Place) -> dict[str, bytes]:
        """Every file of the chart folder, read confined to the repository."""
        try:
            return place.confined.read_tree(
                place.relative,
                file_limit=MAX_CHART_FILE_BYTES,
                total_limit=MAX_CHART_BYTES,
                shown=place.display,
            )
        except Confinement as exc:
            if exc.kind == "missing":
                raise ChartError(
                    f"chart {source.name!r}: folder {place.display} does not exist",
                    hint="a hub's helm_chart names a folder under helm-charts/ or a chart in "
                    "hubfleet.yaml",
                ) from None
            raise _confinement_error(exc) from None

    def _read_file(self, place: _Place, limit: int = MAX_CHART_FILE_BYTES) -> bytes:
        try:
            return place.confined.read_file(place.relative, limit=limit, shown=place.display)
        except Confinement as exc:
            raise _confinement_error(exc) from None

    def _archive(self, source: ChartSource, place: _Place) -> Path:
        """A packaged chart (a chart_override archive), copied into the cache as read."""
        content = self._read_file(place, MAX_CHART_BYTES)
        digest = hashlib.sha256(content).hexdigest()
        target = self.cache_dir / BUILT_DIR / f"{source.name}-{digest[:20]}.tgz"
        with self._cache_errors():
            if not target.is_file():
                place_in_cache(content, target)
        return target

    @contextlib.contextmanager
    def _cache_errors(self) -> Iterator[None]:
        """An unusable chart cache (not a folder, read-only, full) is bad input: said with
        its path and what to do, never an internal error."""
        try:
            yield
        except OSError as exc:
            # A ConfigError (the environment's configuration), not a ChartError (a chart
            # not to be had, which validate only warns about): every command exits 2.
            problem = Problem(
                CACHE_ENV,
                0,
                f"the chart cache {self.cache_dir} cannot be used: "
                f"{exc.strerror or type(exc).__name__}",
                f"set {CACHE_ENV} to a writable folder with free space (hubfleet builds "
                "and pulls charts there)",
            )
            raise ConfigError([problem]) from None

    def _prepare(
        self,
        source: ChartSource,
        place: _Place,
        override: _Place | None,
        depth: int,
        no_chart: HubfleetError | None,
    ) -> Path:
        files = self._snapshot(source, place)
        if depth > _MAX_DEPTH:
            raise ConfigError(
                [
                    Problem(
                        _join(place.display, "Chart.yaml"),
                        1,
                        f"chart {source.name!r}: file:// dependencies nested more than "
                        f"{_MAX_DEPTH} deep (a cycle?)",
                    )
                ]
            )
        if "Chart.yaml" not in files and (override is None or no_chart is not None):
            if no_chart is not None:
                raise no_chart
            raise ChartError(f"chart {source.name!r}: {place.display} has no Chart.yaml")
        wrapped: str | None = None  # the wrapped chart a chart_override replaces
        if override is None:
            chart_text = files["Chart.yaml"]
            chart = self._chart_yaml(chart_text, _join(place.display, "Chart.yaml"))
        else:
            chart = self._chart_yaml(self._read_file(override, max_file_bytes()), override.display)
            if "Chart.yaml" not in files:
                raise ChartError(f"chart {source.name!r}: {place.display} has no Chart.yaml")
            base = self._chart_yaml(files["Chart.yaml"], _join(place.display, "Chart.yaml"))
            if chart.name != base.name:
                # Another chart's Chart.yaml (basehub's on a daskhub hub): the chart it
                # wraps is rebuilt with it, the wrapper keeps its own (the layout's rule).
                wrapped = self._check_wrapped(chart, base, place)
                chart = base
        dependencies = self._dependencies(source, chart, place, files)
        missing = [dep for dep in dependencies if not dep.present or dep.name == wrapped]
        built: dict[str, Path] = {}
        misses: list[CacheMiss] = []
        hint: str | None = None
        for dep in missing:  # every archive the cache lacks, named at once
            try:
                built[dep.name] = self._dependency(
                    source,
                    chart,
                    dep,
                    depth,
                    chart_yaml=source.chart_yaml if dep.name == wrapped else None,
                )
            except ChartsMissing as exc:
                misses.extend(exc.misses)
                hint = exc.hint
        if misses:
            raise ChartsMissing(misses, hint=hint)
        digest = self._digest(files, chart.text.encode("utf-8"), built)
        target = self.cache_dir / BUILT_DIR / f"{chart.name}-{digest[:20]}"
        with self._cache_errors():
            if (target / "Chart.yaml").is_file():
                return target
            return self._build(source, files, chart, missing, built, target)

    def _check_wrapped(self, override: _ChartFile, base: _ChartFile, place: _Place) -> str:
        """A replacement Chart.yaml named after another chart than the one it is laid
        over must be for a chart that one wraps in the repository (a `file://`
        dependency of that name: basehub's Chart.yaml on daskhub); the name of that
        chart. Anything else would render the wrong chart."""
        for entry in base.dependencies:
            repository = str(entry.get("repository") or "").strip()
            if entry.get("name") == override.name and repository.startswith("file://"):
                return override.name
        line = override.doc.lines.line(("name",))
        raise ConfigError(
            [
                Problem(
                    override.display,
                    line,
                    f"chart_override names chart {override.name!r}, but it is laid over "
                    f"{place.display}, chart {base.name!r}, which wraps no local chart of "
                    "that name",
                    f"a replacement Chart.yaml keeps the name of the chart it replaces "
                    f"({base.name!r}) or of a chart {base.name!r} wraps through a file:// "
                    "dependency; or the hub's helm_chart names the chart it is for",
                )
            ]
        )

    def _build(
        self,
        source: ChartSource,
        files: Mapping[str, bytes],
        chart: _ChartFile,
        missing: list[_Dependency],
        built: Mapping[str, Path],
        target: Path,
    ) -> Path:
        """The build, written from the files read (never copied from the working tree)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".build-{chart.name}-", dir=target.parent))
        try:
            copy = staging / chart.name
            _write_files(copy, files)
            (copy / "Chart.yaml").write_text(chart.text, encoding="utf-8")
            _write_schema_json(copy, files, chart.display)
            charts_dir = copy / "charts"
            charts_dir.mkdir(exist_ok=True)
            for dep in missing:
                _remove_stale(charts_dir, dep.name)
                path = built[dep.name]
                if path.is_dir():
                    shutil.copytree(path, charts_dir / dep.name, symlinks=False)
                else:
                    shutil.copyfile(path, charts_dir / f"{dep.name}-{dep.chosen}.tgz")
            self._check_complete(source, copy, chart)
            try:
                os.replace(copy, target)
            except OSError:
                if not (target / "Chart.yaml").is_file():  # not another run's same build
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target

    def _check_complete(self, source: ChartSource, copy: Path, chart: _ChartFile) -> None:
        try:
            with library_output():
                listed = helm_python.dependency_list(copy)
        except helm_python.HelmError as exc:
            raise ChartError(
                f"chart {source.name!r}: cannot read its build: {_detail(exc)}",
                path=chart.display,
                line=1,
            ) from None
        broken = [
            f"{dep.get('name')} {dep.get('version')} ({dep.get('status')})"
            for dep in listed
            if dep.get("status") not in _OK_DEPENDENCY_STATUSES
        ]
        if broken:
            raise ChartError(
                f"chart {source.name!r}: dependencies still missing after the build: "
                + ", ".join(broken),
                path=chart.display,
                line=1,
            )

    def _dependency(
        self,
        source: ChartSource,
        chart: _ChartFile,
        dep: _Dependency,
        depth: int,
        *,
        chart_yaml: Path | None = None,
    ) -> Path:
        """The chart (folder or archive) a missing dependency is built from; `chart_yaml`:
        the replacement Chart.yaml of the wrapped chart of that name."""
        repository = dep.repository
        where = f"chart {source.name!r}: dependency {dep.name} {dep.version}"
        if repository.startswith("file://"):
            assert dep.folder is not None
            if dep.folder.startswith("../") or dep.folder == "..":
                raise ConfigError(
                    [
                        Problem(
                            chart.display,
                            dep.line,
                            f"{where}: {repository} points outside the repository",
                            "a file:// dependency names a chart folder inside the repository "
                            "(file:// paths are relative to the chart's folder)",
                        )
                    ]
                )
            folder = self._root_path(dep.root, dep.folder)
            no_chart = ConfigError(
                [
                    Problem(
                        chart.display,
                        dep.line,
                        f"{where}: {repository} is not a chart folder "
                        f"({self._display(dep.root, dep.folder)} has no Chart.yaml)",
                        "file:// paths are relative to the chart's folder",
                    )
                ]
            )
            inner = ChartSource(
                dep.name,
                local_dir=folder,
                chart_yaml=chart_yaml,
                repositories_file=source.repositories_file,
            )
            return self._local(inner, depth=depth + 1, no_chart=no_chart)
        if not repository:
            raise ConfigError(
                [
                    Problem(
                        chart.display,
                        dep.line,
                        f"{where}: repository '(none)' is not a URL",
                        "name the repository by its https:// or oci:// URL, or `@name` of "
                        "an entry of the fleet's repositories file",
                    )
                ]
            )
        assert dep.chosen is not None
        remote = ChartSource(dep.name, repository=repository, version=dep.chosen)
        try:
            return self._remote(remote)
        except ChartsMissing as exc:
            misses = [
                dataclasses.replace(
                    miss,
                    message=f"{where} from {repository}"
                    + miss.message.removeprefix(f"chart {dep.name} {dep.chosen} from {repository}"),
                    path=chart.display,
                    line=dep.line,
                )
                for miss in exc.misses
            ]
            raise ChartsMissing(misses, hint=exc.hint) from None
        except ChartError as exc:
            rest = exc.message.removeprefix(f"chart {dep.name} {dep.chosen} from {repository}")
            raise ChartError(
                f"{where} from {repository}{rest}",
                path=chart.display,
                line=dep.line,
                hint=exc.hint,
            ) from None

    def _dependencies(
        self, source: ChartSource, chart: _ChartFile, place: _Place, files: Mapping[str, bytes]
    ) -> list[_Dependency]:
        """The declared dependencies, each marked present (in charts/) or not, with the
        version a remote one is built from."""
        if not chart.dependencies:
            return []
        status = self._statuses(chart, files)
        lock = _lock_versions(files, _join(place.display, "Chart.lock"))
        found: list[_Dependency] = []
        for index, entry in enumerate(chart.dependencies):
            name = str(entry["name"])
            repository = str(entry.get("repository") or "").strip()
            version = str(entry.get("version") or "").strip()
            line = chart.doc.lines.line(("dependencies", index))
            present = status.get(name) in _OK_DEPENDENCY_STATUSES
            dep = _Dependency(name, repository, version, line, present)
            if repository.startswith("file://"):
                written = repository.removeprefix("file://")
                dep_folder = normalize(f"{place.relative}/{written}")
                if written.startswith("/"):
                    dep_folder = "../" + written  # absolute: outside, whatever it names
                found.append(dataclasses.replace(dep, folder=dep_folder, root=place.confined.path))
                continue
            if dep.present:
                found.append(dep)
                continue
            if repository.startswith(REPOSITORY_NAME_PREFIXES):
                url = self._named_repository(source, chart, repository, line)
                dep = dataclasses.replace(dep, repository=url)
            chosen = self._choose(chart, dep, lock.get(name))
            found.append(dataclasses.replace(dep, chosen=chosen))
        return found

    def _named_repository(
        self, source: ChartSource, chart: _ChartFile, written: str, line: int
    ) -> str:
        """The URL of a repository a dependency names as `helm repo add` does (`@name`,
        or `alias:name`), from the fleet's repositories file (helm's format)."""
        name = written.removeprefix("@").removeprefix("alias:")
        where = f"chart {chart.name!r}: repository {written!r}"
        file = source.repositories_file
        if file is None:
            raise ConfigError(
                [
                    Problem(
                        chart.display,
                        line,
                        f"{where} names a `helm repo add` name, and no repositories file "
                        "is known here",
                        "name the repository by its https:// or oci:// URL",
                    )
                ]
            )
        known = self._repositories_of(file)
        shown = self._place(file).display
        if known is None:
            raise ConfigError(
                [
                    Problem(
                        chart.display,
                        line,
                        f"{where} names a `helm repo add` name, and the fleet has no "
                        f"repositories file {shown}",
                        "write it in helm's repositories.yaml format (`repositories:` "
                        "entries with `name:` and `url:`), or set helm_repositories_file in "
                        "hubfleet.yaml, or name the repository by its URL",
                    )
                ]
            )
        url = known.get(name)
        if url is None:
            listed = ", ".join(sorted(known)) or "none"
            raise ConfigError(
                [
                    Problem(
                        chart.display,
                        line,
                        f"{where}: no repository named {name!r} in {shown}",
                        (did_you_mean(name, list(known)) or f"its repositories: {listed}")
                        + "; add it (`name:` and `url:` under `repositories:`, as `helm repo "
                        "add` writes it) or set helm_repositories_file in hubfleet.yaml",
                    )
                ]
            )
        return url

    def _repositories_of(self, file: Path) -> dict[str, str] | None:
        """name -> URL of helm's repositories.yaml `file` (read once per resolver); None
        when there is no such file."""
        with self._lock:
            if file in self._repositories:
                return self._repositories[file]
        place = self._place(file)
        found: dict[str, str] | None = None
        try:
            content = place.confined.read_file(
                place.relative, limit=max_file_bytes(), shown=place.display
            )
        except Confinement as exc:
            if exc.kind != "missing":
                raise _confinement_error(exc) from None
        else:
            found = read_repositories(content, place.display)
        with self._lock:
            self._repositories[file] = found
        return found

    def _statuses(self, chart: _ChartFile, files: Mapping[str, bytes]) -> dict[str, str]:
        """Each dependency's status in the chart's charts/ (for the effective Chart.yaml),
        from a probe holding the files read: helm never reads the working tree."""
        inside = {name: content for name, content in files.items() if name.startswith("charts/")}
        if not inside:
            return {}
        with tempfile.TemporaryDirectory(prefix="hubfleet-deps-") as scratch:
            probe = Path(scratch) / chart.name
            _write_files(probe, inside)
            (probe / "Chart.yaml").write_text(chart.text, encoding="utf-8")
            try:
                with library_output():
                    listed = helm_python.dependency_list(probe)
            except helm_python.HelmError:
                return {}
        return {str(dep.get("name")): str(dep.get("status")) for dep in listed}

    def _choose(self, chart: _ChartFile, dep: _Dependency, locked: str | None) -> str:
        """The version to build a remote dependency from: the exact one it names, else
        the Chart.lock's when it fits, else the highest fitting one in the cache."""
        where = f"chart {chart.name!r}: dependency {dep.name} {dep.version!r}"
        if semver.is_exact(dep.version):
            return dep.version.strip().removeprefix("=").strip()
        if not semver.valid_constraint(dep.version):
            raise ConfigError(
                [
                    Problem(
                        chart.display,
                        dep.line,
                        f"{where}: not a version or version range",
                        "e.g. 4.2.0, 4.2.x, ~4.2.0 or >=4.0.0 <5.0.0",
                    )
                ]
            )
        if locked and semver.satisfies(locked, dep.version):
            return locked
        cached = _cached_versions(self.cache_dir / sanitize_repository(dep.repository), dep.name)
        best = semver.best_match(cached, dep.version)
        if best is None:
            raise ChartError(
                f"{where} from {dep.repository}: no version in Chart.lock or the chart cache "
                "satisfies the range",
                path=chart.display,
                line=dep.line,
                hint="pin an exact version, commit a Chart.lock, or pre-seed the chart cache "
                f"({self.cache_dir / sanitize_repository(dep.repository)})",
            )
        return best

    def _chart_yaml(self, content: bytes, display: str) -> _ChartFile:
        """The Chart.yaml, checked: broken is an error at its file and line."""
        text = decode_text(content, display)
        doc = load_yaml(text, display)
        data = doc.data
        if not isinstance(data, dict):
            raise ConfigError([Problem(display, 1, "a Chart.yaml must be a mapping of keys")])
        problems: list[Problem] = []
        for key in ("apiVersion", "name", "version"):
            value = data.get(key)
            if value is None or not str(value).strip():
                problems.append(
                    Problem(
                        display,
                        doc.lines.line((key,)),
                        f"Chart.yaml has no {key}",
                        "a chart needs apiVersion, name and version (see `helm create`)",
                    )
                )
        version = str(data.get("version") or "").strip()
        if version and not semver.is_version(version):
            problems.append(
                Problem(
                    display,
                    doc.lines.line(("version",)),
                    f"Chart.yaml version {version!r} is not a semantic version",
                    "e.g. 0.1.0",
                )
            )
        dependencies = data.get("dependencies") or []
        if not isinstance(dependencies, list):
            problems.append(
                Problem(display, doc.lines.line(("dependencies",)), "dependencies must be a list")
            )
            dependencies = []
        for index, entry in enumerate(dependencies):
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                problems.append(
                    Problem(
                        display,
                        doc.lines.line(("dependencies", index)),
                        "a dependency needs a name",
                    )
                )
        if problems:
            raise ConfigError(problems)
        return _ChartFile(str(data["name"]), display, text, doc, tuple(dependencies))

    def _digest(
        self, files: Mapping[str, bytes], chart_text: bytes, built: Mapping[str, Path]
    ) -> str:
        """The build's key: the chart's files, its Chart.yaml, and what each missing
        dependency is built from (a build's own key names its content)."""
        digest = hashlib.sha256(_BUILD_FORMAT.encode())
        for name in sorted(files):
            digest.update(b"\0file\0" + name.encode() + b"\0")
            digest.update(hashlib.sha256(files[name]).digest())
        digest.update(b"\0Chart.yaml\0" + chart_text)
        for name in sorted(built):
            path = built[name]
            digest.update(f"\0dependency\0{name}\0".encode())
            with self._cache_errors():
                if path.is_dir():
                    _hash_tree(digest, path)
                else:
                    digest.update(path.name.encode() + b"\0" + _file_digest(path))
        return digest.hexdigest()

    def _root_path(self, root: str, relative: str) -> Path:
        return Path(root) / relative if self.root is None else self.root / relative

    def _display(self, root: str, relative: str) -> str:
        return relative if self.root is not None else os.path.join(root, relative)


# ------------------------------------------------------------------ helpers


def read_repositories(content: bytes, display: str) -> dict[str, str]:
    """name -> URL of helm's `repositories.yaml` (`repositories:` a list of entries with
    `name` and `url`; helm's other keys ignored). Broken: an error at its file and line."""
    doc = load_yaml(decode_text(content, display), display)
    data = doc.data if doc.data is not None else {}
    entries = data.get("repositories") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(entries, list | type(None)):
        raise ConfigError(
            [
                Problem(
                    display,
                    doc.lines.line(("repositories",)) if isinstance(data, dict) else 1,
                    "a repositories file holds `repositories:`, a list of `name:` and `url:`",
                    "the format of helm's repositories.yaml (`helm env HELM_REPOSITORY_CONFIG`)",
                )
            ]
        )
    found: dict[str, str] = {}
    problems: list[Problem] = []
    for index, entry in enumerate(entries or []):
        name = entry.get("name") if isinstance(entry, dict) else None
        url = entry.get("url") if isinstance(entry, dict) else None
        line = doc.lines.line(("repositories", index))
        if not isinstance(name, str) or not name or not isinstance(url, str):
            problems.append(Problem(display, line, "a repository entry needs `name:` and `url:`"))
        elif not re.fullmatch(r"(https?|oci)://[^\s]+", url):
            problems.append(
                Problem(display, line, f"repository {name!r}: {url!r} is not an https:// URL")
            )
        elif name in found:
            problems.append(Problem(display, line, f"repository {name!r} is listed twice"))
        else:
            found[name] = url
    if problems:
        raise ConfigError(problems)
    return found


@dataclass(frozen=True)
class _Place:
    """A path in the repository a chart is confined to: its root, the repository-relative
    path (links not resolved) and how messages show it."""

    confined: Root
    relative: str
    display: str


def _join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


def _fleet_root(path: Path) -> Path:
    """The fleet repository holding `path` (by name, links not followed), else its folder."""
    full = Path(os.path.abspath(path))
    for candidate in full.parents:
        if is_fleet_root(candidate):
            return candidate
    return full.parent


def _confinement_error(exc: Confinement) -> ConfigError:
    """A refused chart file: an error at its path (a link's own path), line 1."""
    path = exc.message.split("'", 2)[1] if exc.message.startswith("'") else ""
    hint = exc.hint
    if exc.kind == "link":
        hint = _CONFINED_HINT
    return ConfigError([Problem(path or "(chart)", 1, exc.message, hint)])


def _write_files(folder: Path, files: Mapping[str, bytes]) -> None:
    """Write the files read (POSIX paths inside `folder`); never through a link."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in sorted(files):
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(target, flags, 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(files[name])


@dataclass(frozen=True)
class _ChartFile:
    name: str
    display: str  # the Chart.yaml's path as messages show it
    text: str
    doc: Document
    dependencies: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class _Dependency:
    name: str
    repository: str
    version: str
    line: int
    present: bool
    folder: str | None = None  # file:// dependencies: repository-relative, links unresolved
    root: str = ""  # file:// dependencies: the repository they are confined to
    chosen: str | None = None  # remote dependencies: the version built from


def _write_schema_json(chart_dir: Path, files: Mapping[str, bytes], display: str) -> None:
    """The chart's `values.schema.json`, made from its `values.schema.yaml` (if only that)."""
    source = files.get("values.schema.yaml")
    if source is None or "values.schema.json" in files:
        return
    shown = f"{display.rsplit('/', 1)[0]}/values.schema.yaml" if "/" in display else display
    schema = load_data(decode_text(source, shown), shown)
    if not isinstance(schema, dict):
        raise ConfigError([Problem(shown, 1, "a values schema must be a mapping")])
    (chart_dir / "values.schema.json").write_text(
        json.dumps(schema, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8"
    )


def _remove_stale(charts_dir: Path, name: str) -> None:
    """Whatever of dependency `name` sits in charts/ with a wrong version or name."""
    for path in charts_dir.iterdir():
        if path.name == name or re.fullmatch(re.escape(name) + r"-\d[^/]*\.tgz", path.name):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()


def _lock_versions(files: Mapping[str, bytes], shown: str) -> dict[str, str]:
    content = files.get("Chart.lock")
    if content is None:
        return {}
    try:
        data = load_data(decode_text(content, shown), shown)
    except ConfigError:
        return {}
    entries = data.get("dependencies") if isinstance(data, dict) else None
    return {
        str(entry["name"]): str(entry.get("version", ""))
        for entry in entries or []
        if isinstance(entry, dict) and entry.get("name")
    }


def _cached_versions(folder: Path, name: str) -> list[str]:
    if not folder.is_dir():
        return []
    prefix = f"{name}-"
    found: list[str] = []
    for path in folder.iterdir():
        stem = path.name.removesuffix(".tgz")
        if not stem.startswith(prefix):
            continue
        if path.name.endswith(".tgz") or (path / "Chart.yaml").is_file():
            version = stem[len(prefix) :]
            if semver.parse_version(version) is not None:
                found.append(version)
    return found


def _hash_tree(digest: Any, folder: Path) -> None:
    for current, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = Path(current, name)
            relative = path.relative_to(folder).as_posix()
            digest.update(b"\0file\0" + relative.encode() + b"\0")
            digest.update(_file_digest(path) if path.exists() else b"(dangling link)")


def _file_digest(path: Path) -> bytes:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").digest()


def _detail(exc: BaseException) -> str:
    return str(getattr(exc, "detail", None) or exc).strip()


def _pull(source: ChartSource, archive: Path, *, timeout: float, seed_hint: str) -> None:
    """Pull into a private folder beside the archive, then move it into place."""
    assert source.repository is not None and source.version is not None
    archive.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".pull-", dir=archive.parent))
    kwargs: dict[str, Any] = {"destination": staging, "version": source.version}
    if source.repository.startswith("oci://"):
        reference = source.repository.rstrip("/")
        if not reference.endswith("/" + source.name):
            reference += "/" + source.name
    else:
        reference = source.name
        kwargs["repo_url"] = source.repository

    outcome: list[BaseException | None] = []
    lock = threading.Lock()
    abandoned = False

    def run() -> None:
        try:
            helm_python.pull(reference, **kwargs)
            result: BaseException | None = None
        except BaseException as exc:  # reported by the waiting thread
            result = exc
        with lock:
            if abandoned:  # the caller gave up: clean up behind it
                shutil.rmtree(staging, ignore_errors=True)
            else:
                outcome.append(result)

    worker = threading.Thread(target=run, name=f"hubfleet-pull-{source.name}", daemon=True)
    worker.start()
    worker.join(timeout)
    where = f"chart {source.name} {source.version} from {source.repository}"
    with lock:
        if not outcome:
            # The native call cannot be interrupted: it finishes in the
            # background and removes its staging folder.
            abandoned = True
            raise ChartError(
                f"{where}: pull timed out after {timeout:g}s (repository unreachable?)",
                hint=seed_hint,
            )
    try:
        failure = outcome[0]
        if failure is not None:
            detail = getattr(failure, "detail", None) or str(failure)
            raise ChartError(f"{where}: cannot pull: {detail.strip()}", hint=seed_hint)
        pulled = sorted(staging.glob("*.tgz"))
        if not pulled:
            raise ChartError(f"{where}: pull produced no chart archive", hint=seed_hint)
        os.replace(pulled[0], archive)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


JUPYTERHUB_CHART = "jupyterhub"


def jupyterhub_values_key(source: ChartSource) -> str | None:
    """Where a hub chart's values for the JupyterHub chart (z2jh) sit: None at the top
    (the chart is z2jh itself, or hubfleet cannot tell), else the dotted key of the
    dependency that is, e.g. `jupyterhub` for a basehub-style wrapper and
    `basehub.jupyterhub` for a daskhub-style chart that wraps basehub.

    Read from the local chart's Chart.yaml: a dependency named `jupyterhub` (its
    alias if it has one), or one found the same way inside a dependency kept in the
    repository (`repository: file://...`) or unpacked in `charts/<name>/`. Remote
    charts other than jupyterhub are taken as z2jh-shaped. Every Chart.yaml is read
    confined to the fleet repository holding the chart (a link leaving it is not
    followed: the chart's resolution refuses it with its path).
    """
    if source.local_dir is None:
        return None
    root = _fleet_root(source.local_dir)
    confined = Root(root)
    folder = os.path.relpath(os.path.abspath(source.local_dir), os.path.abspath(root))
    if not confined.is_folder(folder):
        return None
    chart_file = None
    if source.chart_yaml is not None:
        chart_file = os.path.relpath(os.path.abspath(source.chart_yaml), os.path.abspath(root))
    return _values_key_in(confined, folder, depth=0, chart_file=chart_file)


def _values_key_in(
    confined: Root, folder: str, *, depth: int, chart_file: str | None = None
) -> str | None:
    chart = _chart_yaml(confined, chart_file or f"{folder}/Chart.yaml")
    wrapped: str | None = None  # a replacement Chart.yaml of a chart this one wraps
    if chart_file is not None:
        own = _chart_yaml(confined, f"{folder}/Chart.yaml")
        if chart.get("name") != own.get("name"):
            wrapped, chart = chart_file, own
    if depth > 5 or chart.get("name") == JUPYTERHUB_CHART:
        return None
    dependencies = chart.get("dependencies")
    for dep in dependencies if isinstance(dependencies, list) else []:
        if not isinstance(dep, dict) or not isinstance(dep.get("name"), str):
            continue
        key = str(dep.get("alias") or dep["name"])
        if dep["name"] == JUPYTERHUB_CHART:
            return key
        inner = _dependency_folder(confined, folder, dep)
        if inner is not None:
            replaced = None
            if wrapped is not None and _chart_yaml(confined, wrapped).get("name") == dep["name"]:
                replaced = wrapped
            found = _values_key_in(confined, inner, depth=depth + 1, chart_file=replaced)
            if found is not None:
                return f"{key}.{found}"
    return None


def _dependency_folder(confined: Root, folder: str, dep: dict[str, Any]) -> str | None:
    repository = str(dep.get("repository") or "")
    candidates = [f"{folder}/charts/{dep['name']}"]
    if repository.startswith("file://"):
        candidates.insert(0, normalize(f"{folder}/{repository.removeprefix('file://')}"))
    return next((c for c in candidates if _chart_yaml(confined, f"{c}/Chart.yaml")), None)


def _chart_yaml(confined: Root, relative: str) -> dict[str, Any]:
    try:
        content = confined.read_file(relative, limit=max_file_bytes())
        data = load_data(decode_text(content, relative), relative)
    except (Confinement, OSError, ConfigError):
        return {}
    return data if isinstance(data, dict) else {}
