"""Manifests compared by resource (kind/namespace/name) and field path."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from hubfleet.helm.manifests import split_documents
from hubfleet.helm.values import format_key_path

_SHOWN = 80


@dataclass(frozen=True, order=True)
class Difference:
    """One field that differs; `expected` is hubfleet's, `actual` the export's
    (short text; may hold secret values: print it only through the redactor)."""

    resource: str  # Kind/namespace/name
    field: str  # e.g. spec.template.spec.containers[0].image ("" = the whole resource)
    expected: str
    actual: str

    def render(self) -> str:
        where = f"{self.resource}: {self.field}" if self.field else self.resource
        return f"{where}: hubfleet renders {self.expected}, the export renders {self.actual}"


def resources(manifests: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Every rendered object by `Kind/namespace/name` (namespace `-` when unset)."""
    found: dict[str, dict[str, Any]] = {}
    for document in split_documents(manifests):
        metadata = document.get("metadata") if isinstance(document.get("metadata"), dict) else {}
        assert isinstance(metadata, dict)
        key = "/".join(
            (
                str(document.get("kind") or "?"),
                str(metadata.get("namespace") or "-"),
                str(metadata.get("name") or "?"),
            )
        )
        name, count = key, 1
        while name in found:  # the same object rendered twice: keep both
            count += 1
            name = f"{key}#{count}"
        found[name] = document
    return found


def compare_resources(
    left: Mapping[str, dict[str, Any]], right: Mapping[str, dict[str, Any]]
) -> list[Difference]:
    """Every difference between two renders' `resources`, sorted (empty: the same objects)."""
    differences: list[Difference] = []
    for key in sorted(left.keys() | right.keys()):
        if key not in right:
            differences.append(Difference(key, "", "this resource", "no such resource"))
        elif key not in left:
            differences.append(Difference(key, "", "no such resource", "this resource"))
        else:
            differences.extend(
                Difference(key, format_key_path(path), _show(a), _show(b))
                for path, a, b in _diff(left[key], right[key], ())
            )
    return sorted(differences)


_MISSING = object()


def _diff(
    a: Any, b: Any, path: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], Any, Any]]:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(a.keys() | b.keys(), key=str):
            yield from _diff(a.get(key, _MISSING), b.get(key, _MISSING), (*path, str(key)))
    elif isinstance(a, list) and isinstance(b, list):
        for index in range(max(len(a), len(b))):
            left = a[index] if index < len(a) else _MISSING
            right = b[index] if index < len(b) else _MISSING
            yield from _diff(left, right, (*path, index))
    elif a != b or type(a) is not type(b):
        yield path, a, b


def _show(value: Any) -> str:
    if value is _MISSING:
        return "(absent)"
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."
