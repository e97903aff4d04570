"""The embedded Helm engine (helm_python): render charts and check values, offline.

Findings about helm_python 0.2.x that shape this module:

- `Chart.render` validates the coalesced values against the chart's
  `values.schema.json` and its enabled subcharts' schemas (aliases and
  `condition`s applied), and fails with HelmValuesError before any template runs.
- `Chart.validate_schema` does NOT process dependencies: it ignores an aliased
  subchart's schema and checks disabled subcharts. So `check_values` relies on
  the render path's validation, which is what an install does.
- Helm's messages are `<chart>:\\n- at '/json/pointer': message`, where `<chart>` is
  the (aliased) chart name and the pointer is relative to that chart's values;
  we map them back to the key path in the parent's values.
- An explicit `null` in the values removes the chart default (coalescing).
- The library logs through Go's default logger, straight to file descriptor 2
  (`2026/01/01 10:00:00 INFO found symbolic link in path ...`), whatever
  `helm_python.enable_logging` says: `hubfleet.helm.liblog` holds fd 2 around
  native calls and drops those lines unless shown (`--debug`).
"""

from __future__ import annotations

import datetime
import os
import re
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python
from helm_python import Chart

from hubfleet.base.errors import ChartError
from hubfleet.base.redact import MIN_LENGTH, text_forms
from hubfleet.base.yamlio import format_key_path
from hubfleet.helm.liblog import library_output

KeyPath = tuple[str | int, ...]

_SCHEMA_PREFIX = "values don't meet the specifications"


@dataclass(frozen=True)
class ChartDependency:
    name: str
    version: str
    repository: str | None = None
    alias: str | None = None
    condition: str | None = None


@dataclass(frozen=True)
class ChartInfo:
    name: str
    version: str
    app_version: str | None
    dependencies: tuple[ChartDependency, ...] = ()


class ValuesSchemaError(ChartError):
    """The values break the chart's values.schema.json; `problems` says where."""

    def __init__(self, message: str, problems: list[ValuesProblem], hint: str | None = None):
        super().__init__(message, hint=hint)
        self.problems = problems


@dataclass(frozen=True)
class ValuesProblem:
    """One schema violation: the key path in the (parent chart's) values and a message."""

    path: KeyPath
    message: str
    chart: str

    def render(self) -> str:
        where = format_key_path(self.path) or "(top level)"
        return f"{where}: {self.message}"


# ---------------------------------------------------------------- chart cache


@dataclass(frozen=True)
class _Loaded:
    fingerprint: tuple[int, int, int]
    chart: Chart  # pristine: never rendered, only read (metadata, dependencies)
    archive: bytes  # the chart as a .tgz, for a fresh copy per render


_charts: dict[str, _Loaded] = {}
_charts_lock = threading.Lock()
_chart_locks: dict[str, threading.Lock] = {}


def _fingerprint(path: Path) -> tuple[int, int, int]:
    """(newest mtime, file count, total size) of a chart archive or folder."""
    if path.is_file():
        stat = path.stat()
        return stat.st_mtime_ns, 1, stat.st_size
    newest, count, size = path.stat().st_mtime_ns, 0, 0
    for folder, _dirs, files in os.walk(path):
        newest = max(newest, os.stat(folder).st_mtime_ns)
        for name in files:
            stat = os.stat(os.path.join(folder, name))
            newest = max(newest, stat.st_mtime_ns)
            count += 1
            size += stat.st_size
    return newest, count, size


def _loaded(chart_path: Path) -> _Loaded:
    """The chart read once per process (re-read when a file of it changes)."""
    resolved = Path(chart_path).resolve()
    key = str(resolved)
    if not resolved.exists():
        raise ChartError(f"chart not found: {chart_path}")
    fingerprint = _fingerprint(resolved)
    with _charts_lock:
        cached = _charts.get(key)
        if cached is not None and cached.fingerprint == fingerprint:
            return cached
        # One lock per chart: threads loading different charts at once (the first
        # renders of a run) do not wait for each other, only for their own chart.
        chart_lock = _chart_locks.setdefault(key, threading.Lock())
    with chart_lock:
        with _charts_lock:
            cached = _charts.get(key)
        if cached is not None and cached.fingerprint == fingerprint:
            return cached
        try:
            with library_output():
                chart = helm_python.Chart.load(resolved)
                if resolved.is_file():
                    archive = resolved.read_bytes()
                else:
                    with tempfile.TemporaryDirectory(prefix="hubfleet-chart-") as folder:
                        archive = Path(chart.save(folder)).read_bytes()
        except helm_python.HelmError as exc:
            raise ChartError(f"cannot load chart {chart_path}: {_detail(exc)}") from None
        # A replaced handle may still be in use by another thread: it is
        # released by garbage collection, not closed here.
        entry = _Loaded(fingerprint, chart, archive)
        with _charts_lock:
            _charts[key] = entry
        return entry


def load_chart(chart_path: Path) -> Chart:
    """The chart as loaded (cached): read it, never render it.

    helm_python's `Chart.render` mutates the chart it renders (disabled
    subcharts are removed for good, aliased ones renamed), so every render here
    works on a fresh copy loaded from the cached archive bytes (~0.3 ms).
    """
    return _loaded(chart_path).chart


def _fresh_chart(chart_path: Path) -> tuple[Chart, Chart]:
    """(pristine cached chart, a private copy to render)."""
    entry = _loaded(chart_path)
    try:
        with library_output():
            return entry.chart, helm_python.Chart.load_archive(entry.archive)
    except helm_python.HelmError as exc:
        raise ChartError(f"cannot load chart {chart_path}: {_detail(exc)}") from None


def _detail(exc: BaseException) -> str:
    return str(getattr(exc, "detail", None) or exc).strip()


# ---------------------------------------------------------------- values to JSON


def _jsonable(value: Any) -> Any:
    """Plain JSON data for the engine: YAML dates as strings, keys as strings."""
    if isinstance(value, Mapping):
        return {_key(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return key if isinstance(key, str) else str(key)


# ---------------------------------------------------------------- public API


def chart_info(chart_path: Path) -> ChartInfo:
    """Name, version, appVersion and declared dependencies of a chart."""
    metadata = load_chart(chart_path).metadata
    dependencies = tuple(
        ChartDependency(
            name=str(dep.get("name", "")),
            version=str(dep.get("version", "")),
            repository=dep.get("repository") or None,
            alias=dep.get("alias") or None,
            condition=dep.get("condition") or None,
        )
        for dep in metadata.get("dependencies") or []
    )
    app_version = metadata.get("appVersion")
    return ChartInfo(
        name=str(metadata.get("name", "")),
        version=str(metadata.get("version", "")),
        app_version=None if app_version is None else str(app_version),
        dependencies=dependencies,
    )


def render(
    chart_path: Path, values: Mapping[str, Any], *, release: str, namespace: str
) -> dict[str, str]:
    """Render a chart offline: template path -> manifest, sorted by path.

    Empty manifests and NOTES.txt are dropped. Raises `ChartError` naming the
    template (render failure) or the values key paths (schema violation).
    """
    chart, private = _fresh_chart(chart_path)
    try:
        with library_output():
            rendered = private.render(_jsonable(values), name=release, namespace=namespace)
    except helm_python.HelmValuesError as exc:
        problems = _schema_problems(chart, exc, values)
        if problems:
            raise ValuesSchemaError(
                f"chart {chart.name}: values do not match the chart's values.schema.json: "
                + "; ".join(p.render() for p in problems),
                problems,
                hint="`hubfleet validate` names the values file and line of each key",
            ) from None
        detail = f"invalid values: {_detail(exc)}"
        raise ValuesSchemaError(
            f"chart {chart.name}: {detail}", [ValuesProblem((), detail, chart.name)]
        ) from None
    except helm_python.HelmRenderError as exc:
        detail = _detail(exc)
        template = _template_in(detail)
        where = f"template {template}" if template else "a template"
        raise ChartError(f"chart {chart.name}: {where} failed to render: {detail}") from None
    except helm_python.HelmError as exc:
        raise ChartError(f"chart {chart.name}: render failed: {_detail(exc)}") from None
    finally:
        private.close()
    return {
        name: text
        for name, text in sorted(rendered.items())
        if text.strip() and not name.endswith("NOTES.txt")
    }


def coalesced_values(chart_path: Path, values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` over the chart's default values (its subcharts' under their keys), as
    an install coalesces them: mappings merge, the user's value wins, an explicit
    `null` removes the default."""
    _, private = _fresh_chart(chart_path)
    try:
        merged: dict[str, Any] = private.merge_values(_jsonable(values))
    except helm_python.HelmError as exc:
        raise ChartError(
            f"cannot read the default values of {chart_path}: {_detail(exc)}"
        ) from None
    finally:
        private.close()
    return merged


def check_values(chart_path: Path, values: Mapping[str, Any]) -> list[str]:
    """Schema violations of `values` (coalesced with the chart's defaults), as
    `key.path: message` strings; the chart's subcharts' schemas included."""
    return [problem.render() for problem in values_problems(chart_path, values)]


def values_problems(chart_path: Path, values: Mapping[str, Any]) -> list[ValuesProblem]:
    """Like `check_values`, with each key path as a tuple (for line lookup).

    Helm checks the schema while rendering (after applying subchart aliases and
    conditions, which `Chart.validate_schema` does not), so this renders; a caller
    that wants the manifests too should call `render` and catch `ValuesSchemaError`.
    """
    try:
        render(chart_path, values, release="schema-check", namespace="schema-check")
    except ValuesSchemaError as exc:
        return exc.problems
    except ChartError:
        return []  # a template failure, not a values one: `render` reports it
    return []


# ---------------------------------------------------------------- schema messages

_HEADER = re.compile(r"^(\S[^:]*):\s*$")
_ITEM = re.compile(r"^\s*- at '((?:[^']|'')*)': (.*)$")
_NAMES = re.compile(r"'((?:[^'\\]|\\.)*)'")
_GOT_WANT = re.compile(r"^got (.+?), want (.+)$")


def _schema_problems(
    chart: Chart, exc: BaseException, values: Mapping[str, Any]
) -> list[ValuesProblem]:
    text = _detail(exc)
    prefixes = _chart_prefixes(chart)
    problems: list[ValuesProblem] = []
    current: str | None = None
    lines = [line for line in text.splitlines() if not line.startswith(_SCHEMA_PREFIX)]
    for number, line in enumerate(lines):
        item = _ITEM.match(line)
        if item and current is not None:
            if item.group(2).strip() == "validation failed" and _has_children(lines, number):
                continue  # a parent of more precise messages that follow
            prefix = prefixes.get(current, (current,))
            pointer = [_unescape(p) for p in item.group(1).split("/")[1:]]
            problems.extend(_problems_for(current, prefix, pointer, item.group(2).strip()))
            continue
        header = _HEADER.match(line)
        if header and not line.startswith(" "):
            current = header.group(1)
            continue
        if problems and line.strip():  # continuation of a multi-line message
            last = problems[-1]
            problems[-1] = ValuesProblem(last.path, f"{last.message} {line.strip()}", last.chart)
    found = [_without_value(_with_indexes(problem, values), values) for problem in problems]
    # Go map order is random: sort for deterministic output.
    return sorted(set(found), key=lambda p: (format_key_path(p.path), p.message, p.chart))


def _has_children(lines: list[str], number: int) -> bool:
    indent = len(lines[number]) - len(lines[number].lstrip())
    following = lines[number + 1] if number + 1 < len(lines) else ""
    return bool(following.strip()) and len(following) - len(following.lstrip()) > indent


def _unescape(segment: str) -> str:
    return segment.replace("~1", "/").replace("~0", "~")


def _problems_for(
    chart: str, prefix: KeyPath, pointer: list[str], message: str
) -> list[ValuesProblem]:
    base: KeyPath = (*prefix, *pointer)
    for pattern, text in (
        (
            r"^additional propert(?:y|ies) (.*) not allowed$",
            "unknown key (not in the chart's schema)",
        ),
        (r"^missing propert(?:y|ies) (.*)$", "required key is missing"),
    ):
        found = re.match(pattern, message)
        if found:
            names = _NAMES.findall(found.group(1)) or [found.group(1)]
            return [ValuesProblem((*base, name), text, chart) for name in names]
    got_want = _GOT_WANT.match(message)
    if got_want:
        message = f"expected {got_want.group(2)}, got {got_want.group(1)}"
    return [ValuesProblem(base, message, chart)]


def _with_indexes(problem: ValuesProblem, values: Mapping[str, Any]) -> ValuesProblem:
    """Turn digit segments that index a list in `values` into ints."""
    node: Any = values
    path: list[str | int] = []
    for part in problem.path:
        if isinstance(node, list) and isinstance(part, str) and part.isdigit():
            index = int(part)
            path.append(index)
            node = node[index] if index < len(node) else None
        else:
            path.append(part)
            node = node.get(part) if isinstance(node, Mapping) else None
    return ValuesProblem(tuple(path), problem.message, problem.chart)


_VALUE_SHOWN = "(value not shown)"


def _without_value(problem: ValuesProblem, values: Mapping[str, Any]) -> ValuesProblem:
    """The problem with the offending value left out of its message (helm quotes it
    for a pattern or a format): it may be a decrypted secret. The key path, and the
    values file and line that `validate` finds for it, say where it is."""
    node: Any = values
    for part in problem.path:
        if isinstance(node, Mapping):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return problem
    if isinstance(node, bool) or not isinstance(node, str | int | float):
        return problem
    text = str(node)
    if len(text) < MIN_LENGTH:
        return problem
    message = problem.message
    for form in sorted(text_forms(text), key=len, reverse=True):
        if len(form) >= MIN_LENGTH:
            message = message.replace(form, _VALUE_SHOWN)
    return ValuesProblem(problem.path, message, problem.chart)


def _chart_prefixes(chart: Chart) -> dict[str, KeyPath]:
    """Chart name as helm names it in messages -> its values' key path."""
    metadata = chart.metadata
    prefixes: dict[str, KeyPath] = {str(metadata.get("name", "")): ()}
    loaded = {str(dep.get("name")): dep for dep in chart.dependencies}

    def add(declared: list[Any], parent: KeyPath, sub_metadata: Mapping[str, Any] | None) -> None:
        for dep in declared:
            if not isinstance(dep, Mapping):
                continue
            key = str(dep.get("alias") or dep.get("name") or "")
            prefixes.setdefault(key, (*parent, key))
            child = loaded.get(str(dep.get("name"))) if sub_metadata is None else None
            if child is not None:
                add(child.get("dependencies") or [], (*parent, key), child)

    add(metadata.get("dependencies") or [], (), None)
    return prefixes


_TEMPLATE = re.compile(r"([\w.@+-]+(?:/[\w.@+-]+)*/templates/[\w./@+-]+?\.(?:ya?ml|tpl|txt|json))")


def _template_in(detail: str) -> str | None:
    found = _TEMPLATE.search(detail)
    return found.group(1) if found else None
