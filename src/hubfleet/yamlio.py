"""YAML loading that remembers where every value came from.

`load_yaml` parses one document with PyYAML's C loader and returns the plain data
plus a `LineMap`: the 1-based line of every mapping key and sequence item, keyed
by its path (a tuple of keys and indexes). Errors become `ConfigError`s naming
the file and line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from hubfleet.errors import ConfigError, Problem

try:
    FAST_LOADER: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment,unused-ignore]
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    FAST_LOADER = yaml.SafeLoader

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class LineMap:
    """Lines of a loaded document's keys and items."""

    lines: Mapping[PathKey, int] = field(default_factory=dict)

    def line(self, path: PathKey) -> int:
        """The line of `path`, or of its nearest ancestor that has one (1 at worst)."""
        while path:
            found = self.lines.get(path)
            if found is not None:
                return found
            path = path[:-1]
        return self.lines.get((), 1)


@dataclass(frozen=True)
class Document:
    path: str
    data: Any
    lines: LineMap


def load_yaml(text: str, path: str) -> Document:
    """Parse one YAML document; `path` is only used in error messages."""
    try:
        node = yaml.compose(text, Loader=FAST_LOADER)
    except yaml.YAMLError as exc:
        raise ConfigError([_syntax_problem(exc, path)]) from None
    if node is None:
        return Document(path, None, LineMap({(): 1}))
    lines: dict[PathKey, int] = {(): node.start_mark.line + 1}
    constructor = FAST_LOADER("")
    try:
        data = _build(node, (), lines, path, constructor)
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(path, 1, f"YAML error: {exc}")]) from None
    return Document(path, data, LineMap(lines))


def load_data(text: str, path: str) -> Any:
    """Parse one YAML document fast, without a line map; a syntax error names its line.

    PyYAML keeps the last of duplicate keys here: `load_yaml` reports them.
    """
    try:
        return yaml.load(text, Loader=FAST_LOADER)
    except yaml.YAMLError as exc:
        raise ConfigError([_syntax_problem(exc, path)]) from None


def _syntax_problem(exc: yaml.YAMLError, path: str) -> Problem:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        message = (exc.problem or exc.context or "invalid YAML").strip()
        return Problem(path, mark.line + 1 if mark else 1, f"YAML syntax error: {message}")
    return Problem(path, 1, f"YAML syntax error: {exc}")


def _build(
    node: yaml.Node,
    here: PathKey,
    lines: dict[PathKey, int],
    path: str,
    constructor: yaml.SafeLoader,
) -> Any:
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in _flatten_merge(node):
            key = constructor.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                raise ConfigError([Problem(path, key_node.start_mark.line + 1, "unhashable key")])
            if key in result:
                raise ConfigError(
                    [Problem(path, key_node.start_mark.line + 1, f"duplicate key {key!r}")]
                )
            child = (*here, key)
            lines[child] = key_node.start_mark.line + 1
            result[key] = _build(value_node, child, lines, path, constructor)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            child = (*here, index)
            lines[child] = item.start_mark.line + 1
            items.append(_build(item, child, lines, path, constructor))
        return items
    return constructor.construct_object(node, deep=True)


def _flatten_merge(node: yaml.MappingNode) -> list[tuple[yaml.Node, yaml.Node]]:
    """Key/value pairs of a mapping, with `<<: *anchor` merges expanded (own keys win)."""
    own: list[tuple[yaml.Node, yaml.Node]] = []
    merged: list[tuple[yaml.Node, yaml.Node]] = []
    for key_node, value_node in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            sources = (
                value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            )
            for source in sources:
                if isinstance(source, yaml.MappingNode):
                    merged.extend(_flatten_merge(source))
        else:
            own.append((key_node, value_node))
    own_keys = {k.value for k, _ in own}
    return [(k, v) for k, v in merged if k.value not in own_keys] + own


def dump_yaml(data: Any) -> str:
    """Deterministic block YAML (keys in insertion order, no aliases)."""

    class _NoAliases(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

    return yaml.dump(data, Dumper=_NoAliases, sort_keys=False, default_flow_style=False)
