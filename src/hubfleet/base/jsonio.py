"""The one bounded JSON reader for files handed to hubfleet (plan, report, event, reviews)
and JSON given on the command line (`--labels`, `--matrix`).

These come from other jobs and from pull requests: a document larger than
`MAX_JSON_BYTES`, nested deeper than `MAX_JSON_DEPTH`, with a duplicate key in one
object, a non-standard constant (`NaN`, `Infinity`), a number Python refuses or a
lone surrogate escape is an `InputError` (exit 2) naming the file and the line,
never a RecursionError or a silently dropped value.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any

from hubfleet.base.confined import Confinement, read_bounded
from hubfleet.base.errors import HubfleetError

MAX_JSON_BYTES = 64 * 1024 * 1024
MAX_JSON_DEPTH = 64

_STRING = r'"[^"\\]*+(?:\\.[^"\\]*+)*+"'
# A string (skipped whole; `(\s*:)?` marks an object key) or a bracket.
_TOKEN = re.compile(_STRING + r"(\s*:)?|[\[\]{}]")
_STRINGS = re.compile(_STRING)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_DEPTH = {"[": 1, "{": 1, "]": -1, "}": -1}
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class InputError(HubfleetError):
    """A plan, report, event or other handed-over file that cannot be used (exit 2)."""


@dataclass(frozen=True)
class JsonText:
    """A JSON document as read: where it came from (a file, `stdin`, an option) and its text."""

    where: str
    text: str
    data: Any


class _Duplicate(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Duplicate(key)
            seen.add(key)
    return found


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read_json_file(
    path: Path, what: str, *, stdin_text: str | None = None, max_bytes: int = MAX_JSON_BYTES
) -> JsonText:
    """The JSON document in `path` (`-`: `stdin_text`); `what` names it in errors."""
    from_stdin = str(path) == "-"
    where = "stdin" if from_stdin else str(path)
    if from_stdin:
        text = stdin_text or ""
        if len(text) > max_bytes:
            raise _too_large(what, where, max_bytes)
        return parse_json(text, where, what)
    try:  # a regular file within the limit, opened non-blocking (a FIFO cannot hang it)
        content = read_bounded(path, limit=max_bytes, shown=where)
    except Confinement as exc:
        if exc.kind == "large":
            raise _too_large(what, where, max_bytes) from None
        raise InputError(
            f"cannot read the {what}: {exc.message}", path=where, hint=exc.hint
        ) from None
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = content.count(b"\n", 0, exc.start) + 1
        raise InputError(
            f"the {what} is not UTF-8 text: {exc.reason}", path=where, line=line
        ) from None
    return parse_json(text, where, what)


def _too_large(what: str, where: str, limit: int) -> InputError:
    return InputError(
        f"the {what} is larger than {limit // (1024 * 1024)} MiB",
        path=where,
        hint=f"a {what} hubfleet reads is at most {limit} bytes",
    )


def parse_json(text: str, where: str, what: str, *, max_depth: int = MAX_JSON_DEPTH) -> JsonText:
    """`text` parsed; errors name `where` and the line."""
    deep = _too_deep(text, max_depth)
    if deep is not None:
        raise InputError(
            f"the {what} is nested more than {max_depth} levels deep",
            path=where,
            line=_line(text, deep),
            hint=f"a {what} from hubfleet or GitHub is a few levels deep; this one is not one",
        )
    try:
        data = json.loads(text, object_pairs_hook=_unique, parse_constant=_constant)
    except _Duplicate as dup:
        raise InputError(
            f"duplicate key {dup.key!r} in the {what}",
            path=where,
            line=_duplicate_line(text, dup.key),
            hint="each key may appear once per object (a second one would silently win)",
        ) from None
    except json.JSONDecodeError as exc:
        raise InputError(
            f"the {what} is not JSON: {exc.msg}", path=where, line=exc.lineno
        ) from None
    except (ValueError, RecursionError) as exc:
        raise InputError(f"the {what} is not usable JSON: {exc}", path=where) from None
    if _SURROGATE_ESCAPE.search(text) and not _encodable(data):
        raise InputError(
            f"the {what} holds a lone surrogate escape (\\ud800-\\udfff): not Unicode text",
            path=where,
            line=_line(text, _SURROGATE_ESCAPE.search(text).start()),  # type: ignore[union-attr]
        )
    return JsonText(where, text, data)


def _too_deep(text: str, limit: int) -> int | None:
    """The position where brackets (outside strings) first nest deeper than `limit`."""
    if text.count("[") + text.count("{") <= limit:
        return None
    brackets = _NOT_BRACKETS.sub("", _STRINGS.sub("", text))
    if max(accumulate(map(_DEPTH.__getitem__, brackets)), default=0) <= limit:
        return None
    depth = 0
    for match in _TOKEN.finditer(text):
        char = text[match.start()]
        if char in "[{":
            depth += 1
            if depth > limit:
                return match.start()
        elif char in "]}":
            depth -= 1
    return None


def _duplicate_line(text: str, key: str) -> int | None:
    """The line of the second `key` in one object (the document parsed, so valid)."""
    stack: list[set[str] | None] = []
    for match in _TOKEN.finditer(text):
        char = text[match.start()]
        if char in "[{":
            stack.append(set() if char == "{" else None)
        elif char in "]}":
            stack.pop()
        elif match.group(1) is not None and stack and stack[-1] is not None:
            name = json.loads(match.group(0)[: -len(match.group(1))])
            if name in stack[-1] and name == key:
                return _line(text, match.start())
            stack[-1].add(name)
    return None


def _encodable(data: Any) -> bool:
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _line(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1
