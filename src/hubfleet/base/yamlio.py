"""YAML loading that remembers where every value came from, bounded for hostile input.

Fleet files come from untrusted pull requests (the CI plan job loads them), so
everything here is bounded:

- `read_fleet_file` is the one way a fleet file is read: it opens the path
  component by component from the repository's root without following a link
  that leaves it (`hubfleet.base.confined`), never under `.git/`, and checks the
  opened file (a regular file, not a FIFO, device or folder, at most
  `MAX_FILE_BYTES`) before reading it: the file checked is the file read.
  `read_fleet_text` adds strict UTF-8.
- `load_yaml` and `load_data` refuse a document larger than `MAX_FILE_BYTES`,
  with more than `MAX_ALIASES` alias uses, whose aliases expand to more than
  `MAX_NODES` nodes (a "billion laughs" bomb), with a recursive alias, or with a
  mapping key that is not a scalar (`? [a, b]`) or that appears twice in one
  mapping, before anything walks the data.

`load_yaml` parses one document with PyYAML's C loader and returns the plain data
plus a `LineMap`: the 1-based line of every mapping key and sequence item, keyed
by its path (a tuple of keys and indexes). Errors become `ConfigError`s naming
the file and line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hubfleet.base.confined import OUTSIDE_HINT, Confinement, Root, size_text
from hubfleet.base.errors import ConfigError, Problem

try:
    FAST_LOADER: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment,unused-ignore]
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    FAST_LOADER = yaml.SafeLoader

PathKey = tuple[str | int, ...]

# Limits of fleet input (documented here and in the messages that cite them). A values file of a
# large public fleet is a few KiB, z2jh's own values.yaml 30 KiB.
MAX_FILE_BYTES = 1024 * 1024
# Alias uses (`*name`, `<<: *name`) in one document, and the number of nodes the
# document has once every alias is expanded (what consumers of the data walk).
MAX_ALIASES = 10_000
MAX_NODES = 250_000
LIMIT_ENV = "HUBFLEET_MAX_FILE_BYTES"

_OUTSIDE_HINT = OUTSIDE_HINT


def max_file_bytes() -> int:
    """The size limit of one fleet file: MAX_FILE_BYTES, or HUBFLEET_MAX_FILE_BYTES if set."""
    raw = os.environ.get(LIMIT_ENV, "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else MAX_FILE_BYTES


def _size(count: int) -> str:
    return size_text(count)


def _problem_of(exc: Confinement, relative: str) -> ConfigError:
    hint = exc.hint
    if exc.kind == "large":
        limit = _size(max_file_bytes())
        hint = f"fleet files are at most {limit} (set {LIMIT_ENV} to change the limit)"
        if "grew over" in exc.message:
            hint = f"fleet files are at most {limit}"
    return ConfigError([Problem(relative, 1, exc.message, hint)])


def fleet_file_problem(root: Path, relative: str) -> tuple[str, str] | None:
    """Why the repository-relative `relative` may not be read (message, hint), or None.

    Opens it as `read_fleet_file` does (confined, see `hubfleet.base.confined`) and
    checks the opened file, without reading it.
    """
    try:
        opened = Root(root).open_file(relative, limit=max_file_bytes())
    except Confinement as exc:
        problem = _problem_of(exc, relative).problems[0]
        return problem.message, problem.hint or _OUTSIDE_HINT
    os.close(opened.fd)
    return None


def read_fleet_file(root: Path, relative: str) -> bytes:
    """The bytes of the fleet file `relative` (repository-relative), opened confined to the
    repository (no link leaving it, never under .git/) and checked as opened: a regular
    file within the size limit. A refused file raises ConfigError and is never read."""
    try:
        return Root(root).read_file(relative, limit=max_file_bytes())
    except Confinement as exc:
        raise _problem_of(exc, relative) from None


def decode_text(content: bytes, path: str) -> str:
    """`content` as UTF-8 text; anything else is a ConfigError at the line of the first bad byte
    (the bytes themselves are never shown: the file may hold secrets)."""
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError(
            [Problem(path, 1, "file is UTF-16 encoded", "save it as UTF-8 (fleet files are UTF-8)")]
        )
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = content.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            [
                Problem(
                    path, line, "file is not UTF-8 text", "save it as UTF-8 (fleet files are UTF-8)"
                )
            ]
        ) from None


def read_fleet_text(root: Path, relative: str) -> str:
    """`read_fleet_file` decoded as UTF-8."""
    return decode_text(read_fleet_file(root, relative), relative)


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
    node = _compose(text, path)
    if node is None:
        return Document(path, None, LineMap({(): 1}))
    lines: dict[PathKey, int] = {(): node.start_mark.line + 1}
    constructor = FAST_LOADER("")
    try:
        data = _build(node, (), lines, path, constructor)
    except yaml.YAMLError as exc:
        raise ConfigError([_syntax_problem(exc, path)]) from None
    return Document(path, data, LineMap(lines))


def load_data(text: str, path: str) -> Any:
    """Parse one YAML document fast, without a line map; a syntax error or a duplicate
    key names its line."""
    node = _compose(text, path)
    if node is None:
        return None
    constructor = FAST_LOADER("")
    try:
        return constructor.construct_document(node)
    except yaml.YAMLError as exc:
        raise ConfigError([_syntax_problem(exc, path)]) from None


def _compose(text: str, path: str) -> yaml.Node | None:
    """The document's node graph, checked against the limits before anyone walks it."""
    limit = max_file_bytes()
    if len(text) > limit:
        raise ConfigError(
            [
                Problem(
                    path,
                    1,
                    f"YAML document of {len(text)} characters, over the limit of {_size(limit)}",
                    f"fleet files are at most {_size(limit)} (set {LIMIT_ENV} to change the limit)",
                )
            ]
        )
    try:
        node = yaml.compose(text, Loader=FAST_LOADER)
    except yaml.reader.ReaderError as exc:
        code = exc.character if isinstance(exc.character, int) else ord(exc.character or "\0")
        line = text.count("\n", 0, max(0, exc.position)) + 1
        message = f"YAML syntax error: character #x{code:04x} is not allowed"
        hint = "fleet files are UTF-8 text without control characters"
        raise ConfigError([Problem(path, line, message, hint)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([_syntax_problem(exc, path)]) from None
    except (ValueError, RecursionError) as exc:  # e.g. a NUL character, libyaml's own limits
        raise ConfigError([Problem(path, 1, f"YAML syntax error: {type(exc).__name__}")]) from None
    if node is not None:
        _check_graph(node, path)
    return node


def _check_graph(root: yaml.Node, path: str) -> None:
    """Refuse recursive aliases, complex keys, too many aliases and too large an expansion.

    One iterative depth-first pass over the distinct nodes (an alias is a second
    reference to a node already composed), computing each node's expanded size
    bottom-up: linear in the document, however large its expansion.
    """
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    aliases = 0
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        ident = id(node)
        if done:
            on_path.discard(ident)
            size = 1 + sum(sizes[id(child)] for child in _children(node))
            if size > MAX_NODES:
                raise ConfigError([_problem(path, node, _EXPANSION)])
            sizes[ident] = size
            continue
        if ident in on_path:
            raise ConfigError([_problem(path, node, _RECURSIVE)])
        if ident in sizes:
            aliases += 1
            if aliases > MAX_ALIASES:
                raise ConfigError([_problem(path, node, _ALIASES)])
            continue
        if isinstance(node, yaml.MappingNode):
            _check_keys(node, path)
        on_path.add(ident)
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(_children(node)))


def _check_keys(node: yaml.MappingNode, path: str) -> None:
    """Plain keys only, each once: a duplicate key is refused by every command (the
    loaders would keep the last one silently), at the line of its second use."""
    seen: set[Any] = set()
    constructor = FAST_LOADER("")
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode):
            raise ConfigError([_problem(path, key, _COMPLEX_KEY)])
        if key.tag == "tag:yaml.org,2002:merge":
            continue
        try:
            value = constructor.construct_object(key, deep=True)
        except yaml.YAMLError:
            continue  # the constructor names it when the document is built
        if value in seen:
            raise ConfigError([Problem(path, key.start_mark.line + 1, f"duplicate key {value!r}")])
        seen.add(value)


_EXPANSION = (
    f"the document expands to more than {MAX_NODES} values, aliases included (a YAML alias bomb?)",
    "use fewer aliases (*name) of large anchors, or split the file",
)
_RECURSIVE = (
    "recursive alias: the anchor defined here is used inside itself",
    "an alias (*name) may only refer to an anchor (&name) outside it",
)
_ALIASES = (
    f"more than {MAX_ALIASES} alias uses in one document",
    "expand the aliases by hand, or split the file",
)
_COMPLEX_KEY = (
    "a mapping key must be a plain value, not a list or mapping",
    "write keys as strings; complex keys (`? [a, b]`) are not supported",
)


def _problem(path: str, node: yaml.Node, what: tuple[str, str]) -> Problem:
    return Problem(path, node.start_mark.line + 1, what[0], what[1])


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _syntax_problem(exc: yaml.YAMLError, path: str) -> Problem:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        message = (exc.problem or exc.context or "invalid YAML").strip()
        return Problem(path, mark.line + 1 if mark else 1, f"YAML syntax error: {message}")
    return Problem(path, 1, f"YAML syntax error: {str(exc).splitlines()[0]}")


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
    try:
        return constructor.construct_object(node, deep=True)
    except (ValueError, OverflowError) as exc:  # e.g. a timestamp 2025-13-01: no such date
        line = node.start_mark.line + 1
        raise ConfigError(
            [Problem(path, line, f"invalid value {node.value!r}: {exc}", "quote it as a string")]
        ) from None


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


def format_key_path(path: Sequence[str | int]) -> str:
    """`("hub", "extraEnv", "A")` -> `hub.extraEnv.A`; list indexes as `[0]`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text
