"""What a chart randomises, and comparisons of renders blind only to that.

A chart may generate values while it renders (helm's `randAlphaNum`, `randBytes`,
`uuidv4`, ...): z2jh generates its cookie secret, CryptKeeper keys, proxy token
and services' API tokens when the values do not set them, and checksum
annotations follow them. Two renders of one input then differ in exactly those
fields. Instead of a list of any chart's field names, the fields are found by
rendering the same input several times: a field that differs between renders of
one input is decided by the chart, not by the input. Such a field is ignored as a
unit (a whole leaf: a Secret's data key whose base64 text embeds a random value,
a checksum of a document that embeds one, even when that leaf also depends on the
input); every other field is compared exactly, field by field.

When two sides are compared (hubfleet's render and an export's, a base revision
and a head), a field is ignored only when it is random on both sides: random on
one side and fixed on the other (an export that sets a secret the chart would
otherwise generate, a chart change that starts or stops generating one) is a
real difference, reported with a note saying on which side it is random.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from hubfleet.base.errors import ChartError
from hubfleet.base.yamlio import format_key_path
from hubfleet.helm.manifests import split_documents

# Renders of each side when the first renders of the two sides differ. A random
# field with a small range (z2jh's `checksum/auth-token` is 4 hex digits: two
# renders agree once in 65536) is missed only if every render agrees.
RENDERS = 3
_LISTED = 10  # fields named in a note; the rest are counted

KeyPath = tuple[str | int, ...]
Render = Callable[[], Mapping[str, str]]  # one render: template path -> manifest text
Side = Literal["", "left", "right"]


class _Missing:
    def __repr__(self) -> str:
        return "(absent)"


MISSING: Any = _Missing()  # a field (or resource) one side does not have


@dataclass(frozen=True)
class FieldRef:
    """A field of a rendered resource; `path` () is the whole resource."""

    resource: str  # Kind/namespace/name
    path: KeyPath = ()

    @property
    def field(self) -> str:
        return format_key_path(self.path)

    def __str__(self) -> str:
        return f"{self.resource} {self.field}" if self.path else self.resource

    def sort_key(self) -> tuple[str, str]:
        return self.resource, self.field

    def within(self, fields: Collection[FieldRef]) -> bool:
        """This field, or a field (or resource) that contains it, is in `fields`."""
        return any(
            FieldRef(self.resource, self.path[:depth]) in fields
            for depth in range(len(self.path) + 1)
        )


@dataclass(frozen=True)
class FieldDiff:
    ref: FieldRef
    left: Any  # MISSING when absent
    right: Any
    random_on: Side = ""  # random on this side only (fixed on the other)


@dataclass(frozen=True)
class Comparison:
    """Two sides' renders compared: differences outside the ignored fields."""

    differences: tuple[FieldDiff, ...]
    ignored: tuple[FieldRef, ...]  # random on both sides, sorted
    renders: int  # renders made of each side
    resources: int  # resources in the left side's render

    @property
    def same(self) -> bool:
        return not self.differences


def ignored_note(fields: Sequence[FieldRef | str]) -> str:
    """`ignored N field(s) the chart randomises ...: A, B, ...`, or "" when none."""
    return f"ignored {randomised(fields)}" if fields else ""


def randomised(fields: Sequence[FieldRef | str]) -> str:
    """`N field(s) the chart randomises (...): A, B, ...` (the first ten named)."""
    names = ", ".join(str(ref) for ref in fields[:_LISTED])
    more = len(fields) - _LISTED
    return (
        f"{len(fields)} field(s) the chart randomises "
        f"(they differ between renders of the same input): {names}"
        + (f" and {more} more" if more > 0 else "")
    )


def resources(
    manifests: Mapping[str, str], parsed: dict[tuple[str, str], list[dict[str, Any]]] | None = None
) -> dict[str, dict[str, Any]]:
    """Every rendered object by `Kind/namespace/name` (namespace `-` when unset).

    `parsed`: templates already parsed, by (template, text), shared between
    renders (most templates render the same text every time; the objects are
    only read). Raises `ChartError` naming the template when one renders invalid
    YAML (the message has no text of the manifest: it may hold decrypted values).
    """
    parsed = {} if parsed is None else parsed
    found: dict[str, dict[str, Any]] = {}
    for template, text in sorted(manifests.items()):
        documents = parsed.get((template, text))
        if documents is None:
            documents = parsed[(template, text)] = _parse(template, text)
        for document in documents:
            metadata = document.get("metadata")
            if not isinstance(metadata, dict):
                metadata = {}
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


def _parse(template: str, text: str) -> list[dict[str, Any]]:
    try:
        return split_documents({template: text})
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ChartError(f"template {template} renders invalid YAML{where}: {problem}") from None


def field_diffs(
    left: Mapping[str, Any], right: Mapping[str, Any]
) -> Iterator[tuple[FieldRef, Any, Any]]:
    """Every leaf that differs between two renders' `resources`, in resource order
    (a resource only one side has is one difference, at path ())."""
    for key in sorted(left.keys() | right.keys()):
        if key not in right or key not in left:
            yield FieldRef(key), left.get(key, MISSING), right.get(key, MISSING)
            continue
        if left[key] == right[key]:
            continue  # most resources: one comparison, no walk
        for path, a, b in _diff(left[key], right[key], ()):
            yield FieldRef(key, path), a, b


def _diff(a: Any, b: Any, path: KeyPath) -> Iterator[tuple[KeyPath, Any, Any]]:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(a.keys() | b.keys(), key=str):
            yield from _diff(a.get(key, MISSING), b.get(key, MISSING), (*path, str(key)))
    elif isinstance(a, list) and isinstance(b, list):
        for index in range(max(len(a), len(b))):
            left = a[index] if index < len(a) else MISSING
            right = b[index] if index < len(b) else MISSING
            yield from _diff(left, right, (*path, index))
    elif a != b or type(a) is not type(b):
        yield path, a, b


def unstable_fields(renders: Sequence[Mapping[str, Any]]) -> frozenset[FieldRef]:
    """The fields (as `resources`) in which any render differs from the first."""
    if not renders:
        return frozenset()
    first = renders[0]
    return frozenset(ref for other in renders[1:] for ref, _a, _b in field_diffs(first, other))


def compare_renders(left: Render, right: Render, *, renders: int = RENDERS) -> Comparison:
    """Render each side; when the first renders differ, render each side
    `renders` times in all, and compare the first renders field by field,
    ignoring the fields random on both sides (see the module docstring)."""
    first_left, first_right = left(), right()
    if first_left == first_right:
        return Comparison((), (), 1, len(resources(first_left)))
    parsed: dict[tuple[str, str], list[dict[str, Any]]] = {}
    lefts = [resources(first_left, parsed)]
    lefts += [resources(left(), parsed) for _ in range(renders - 1)]
    rights = [resources(first_right, parsed)]
    rights += [resources(right(), parsed) for _ in range(renders - 1)]
    random_left, random_right = unstable_fields(lefts), unstable_fields(rights)
    both = random_left & random_right
    differences = []
    for ref, a, b in field_diffs(lefts[0], rights[0]):
        if ref.within(both):
            continue
        side: Side = (
            "left" if ref.within(random_left) else "right" if ref.within(random_right) else ""
        )
        differences.append(FieldDiff(ref, a, b, side))
    ignored = tuple(sorted(both, key=FieldRef.sort_key))
    return Comparison(tuple(differences), ignored, max(renders, 1), len(lefts[0]))
