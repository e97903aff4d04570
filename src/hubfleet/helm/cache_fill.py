"""Filling the chart cache for a whole fleet (`hubfleet charts pull`).

Every chart the fleet's releases use (each hub's, with its `chart_override`, and each
cluster's support chart) is resolved through one `ChartResolver`: a remote chart and
every remote dependency of a local chart (through its `file://` dependencies too)
lands in the cache where a deploy, render or validate looks for it.

- Connected (`fill_cache(fleet)`): the resolver pulls what is missing through the
  embedded Helm engine's pull.
- Offline (`from_dir`): pulling is off; the archives the cache lacks are taken from
  a folder of packaged charts. Each archive is checked before it is placed, read in
  memory and never extracted: a gzip tar of at most `MAX_CHART_BYTES` (packed and
  unpacked) and `MAX_MEMBERS` members, every member a regular file or folder under
  one top folder named after the chart (no absolute path, no `..`, no link, no
  device), whose `Chart.yaml` names the same chart and version as the archive's file
  name `<name>-<version>.tgz`. A refused archive is reported, never placed. An
  archive is copied into place atomically (a temporary file, then a rename), so a
  reader never sees half of it.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from hubfleet.base.errors import ChartError, ConfigError, HubfleetError, Problem
from hubfleet.base.yamlio import decode_text, load_data, max_file_bytes
from hubfleet.config.charts import ChartSource
from hubfleet.config.fleet import Fleet
from hubfleet.helm.charts import (
    MAX_CHART_BYTES,
    CacheMiss,
    ChartResolver,
    ChartsMissing,
    chart_cache_dir,
    place_in_cache,
)

MAX_MEMBERS = 10_000
_ARCHIVE_SUFFIXES = (".tgz", ".tar.gz")
_MAX_ROUNDS = 10  # a placed archive can only reveal misses of charts built from it


@dataclass(frozen=True)
class Placed:
    """An archive the fill put into the cache, and where it came from."""

    name: str
    version: str
    archive: Path
    source: str  # "pulled", or the file of --from DIR


@dataclass(frozen=True)
class FillResult:
    charts: int  # charts of the fleet resolved
    placed: tuple[Placed, ...]
    missing: tuple[CacheMiss, ...]  # still missing at the end
    refused: tuple[Problem, ...]  # archives of --from DIR not placed, with why
    failures: tuple[Problem, ...]  # charts that failed otherwise (a broken Chart.yaml ...)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.refused or self.failures)


@dataclass(frozen=True)
class Offered:
    """A checked archive of --from DIR."""

    name: str
    version: str
    path: Path
    content: bytes


def fleet_charts(fleet: Fleet) -> list[ChartSource]:
    """Every chart the fleet's releases use, once each, in the fleet's order."""
    found: dict[ChartSource, None] = {}
    for cluster in fleet.clusters:
        if cluster.support is not None:
            with contextlib.suppress(ConfigError):  # an unknown chart: the loader says it
                found[fleet.chart_source(cluster.support.helm_chart)] = None
        for hub in cluster.hubs:
            with contextlib.suppress(ConfigError):
                found[fleet.hub_chart_source(hub)] = None
    return list(found)


def fill_cache(
    fleet: Fleet,
    *,
    from_dir: Path | None = None,
    cache_dir: Path | None = None,
    timeout: float | None = None,
) -> FillResult:
    """Resolve every chart of the fleet, pulling (or, with `from_dir`, placing from that
    folder) each archive the cache lacks; what was placed and what is still missing."""
    cache = cache_dir or chart_cache_dir()
    sources = fleet_charts(fleet)
    offered: dict[tuple[str, str], Offered] = {}
    refused: list[Problem] = []
    if from_dir is not None:
        offered, refused = read_offered(from_dir)
    before = _archives(cache)
    placed: list[Placed] = []
    misses: dict[Path, CacheMiss] = {}
    failures: dict[str, Problem] = {}
    for _ in range(_MAX_ROUNDS):
        resolver = ChartResolver(
            cache_dir=cache, allow_pull=from_dir is None, timeout=timeout, root=fleet.root
        )
        misses, failures = {}, {}
        for source in sources:
            try:
                resolver.resolve(source)
            except ChartsMissing as exc:
                misses.update((m.archive, m) for m in exc.misses)
            except ConfigError as exc:
                failures.update((p.render(), p) for p in exc.problems)
            except HubfleetError as exc:
                problem = exc.problem()
                failures[problem.render()] = problem
        progress = False
        for miss in list(misses.values()):
            found = offered.get((miss.name, miss.version))
            if found is None:
                continue
            place_in_cache(found.content, miss.archive)
            placed.append(Placed(miss.name, miss.version, miss.archive, str(found.path)))
            progress = True
        if not progress:
            break
    pulled = [
        Placed(*_name_version(path), path, "pulled") for path in sorted(_archives(cache) - before)
    ]
    placed_paths = {p.archive for p in placed}
    placed += [p for p in pulled if p.archive not in placed_paths]
    return FillResult(
        charts=len(sources),
        placed=tuple(placed),
        missing=tuple(misses[a] for a in sorted(misses)),
        refused=tuple(refused),
        failures=tuple(failures[k] for k in sorted(failures)),
    )


def read_offered(folder: Path) -> tuple[dict[tuple[str, str], Offered], list[Problem]]:
    """The archives of `folder` (not its subfolders), each checked (see the module):
    (name, version) -> archive, and the refused ones with why."""
    if not folder.is_dir():
        raise ConfigError(
            f"--from {folder}: not a folder",
            hint="a folder of packaged charts (<name>-<version>.tgz)",
        )
    offered: dict[tuple[str, str], Offered] = {}
    refused: list[Problem] = []
    for path in sorted(folder.iterdir()):
        if not path.name.endswith(_ARCHIVE_SUFFIXES):
            continue
        try:
            found = check_archive(path)
        except ChartError as exc:
            refused.append(Problem(str(path), 0, exc.message, exc.hint))
            continue
        offered.setdefault((found.name, found.version), found)
    return offered, refused


def check_archive(path: Path) -> Offered:
    """One packaged chart, read (not through a link) and checked; `ChartError` says why not."""
    content = _read_regular(path)
    stem = path.name.removesuffix(".tgz").removesuffix(".tar.gz")
    try:
        with tarfile.open(fileobj=io.BytesIO(content), mode="r:gz") as archive:
            top, chart_yaml = _check_members(archive)
            extracted = archive.extractfile(chart_yaml)
            assert extracted is not None  # a regular file (checked)
            text = extracted.read(max_file_bytes() + 1)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ChartError(f"not a gzip tar archive ({type(exc).__name__})") from None
    shown = f"{path.name}:{top}/Chart.yaml"
    if len(text) > max_file_bytes():
        raise ChartError(f"{shown} is larger than {max_file_bytes()} bytes")
    try:
        data = load_data(decode_text(text, shown), shown)
    except ConfigError as exc:
        raise ChartError(f"{shown}: {exc.message}") from None
    name = str(data.get("name") or "") if isinstance(data, dict) else ""
    version = str(data.get("version") or "") if isinstance(data, dict) else ""
    if not name or not version:
        raise ChartError(f"{shown} names no chart name and version")
    if top != name:
        raise ChartError(f"its folder {top}/ is not its chart's name {name!r}")
    if stem != f"{name}-{version}":
        raise ChartError(
            f"its Chart.yaml says {name} {version}, but the file is named {path.name}",
            hint=f"name it {name}-{version}.tgz (as `helm package` does), or use the right one",
        )
    return Offered(name, version, path, content)


def _read_regular(path: Path) -> bytes:
    """The file's bytes, opened without following a link, a regular file, bounded."""
    try:
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        fd = os.open(path, flags)
    except OSError as exc:
        raise ChartError(f"cannot open it: {exc.strerror or exc} (a link?)") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ChartError("not a regular file")
        if info.st_size > MAX_CHART_BYTES:
            raise ChartError(f"larger than {MAX_CHART_BYTES} bytes")
        return handle.read(MAX_CHART_BYTES + 1)


def _check_members(archive: tarfile.TarFile) -> tuple[str, tarfile.TarInfo]:
    """Every member a regular file or folder under one top folder, no escape, bounded;
    (the top folder, its Chart.yaml)."""
    tops: set[str] = set()
    chart_yaml = None
    total = 0
    for count, member in enumerate(archive, start=1):
        if count > MAX_MEMBERS:
            raise ChartError(f"more than {MAX_MEMBERS} members")
        parts = PurePosixPath(member.name).parts
        if member.name.startswith("/") or not parts or ".." in parts:
            raise ChartError(f"member {member.name!r} would land outside the chart's folder")
        if not (member.isreg() or member.isdir()):
            raise ChartError(f"member {member.name!r} is a link or a special file")
        total += member.size
        if total > MAX_CHART_BYTES:
            raise ChartError(f"unpacks to more than {MAX_CHART_BYTES} bytes")
        tops.add(parts[0])
        if len(parts) == 2 and parts[1] == "Chart.yaml" and member.isreg():
            chart_yaml = member
    if len(tops) != 1 or chart_yaml is None:
        raise ChartError("not a packaged chart: one folder holding a Chart.yaml")
    return tops.pop(), chart_yaml


def _archives(cache: Path) -> set[Path]:
    """The remote charts' archives in the cache (not the builds)."""
    if not cache.is_dir():
        return set()
    return {
        path
        for folder in cache.iterdir()
        if folder.is_dir() and folder.name != "built"
        for path in folder.glob("*.tgz")
    }


def _name_version(path: Path) -> tuple[str, str]:
    """(name, version) of a cached archive `<name>-<version>.tgz` (the version from the
    last `-` followed by a digit)."""
    stem = path.name.removesuffix(".tgz")
    for index in range(len(stem) - 1, 0, -1):
        if stem[index] == "-" and stem[index + 1 : index + 2].isdigit():
            return stem[:index], stem[index + 1 :]
    return stem, ""


def describe(result: FillResult) -> Iterable[str]:
    """Lines for people: what was placed, what is missing, what was refused."""
    for item in result.placed:
        yield f"placed {item.name} {item.version} at {item.archive} ({item.source})"
    for miss in result.missing:
        yield f"{miss.where}: still missing: {miss.message} (put at {miss.archive})"
    for problem in (*result.refused, *result.failures):
        yield problem.render()
