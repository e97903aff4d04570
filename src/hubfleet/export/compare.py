"""The round trip's differences, by resource (kind/namespace/name) and field path.

Which renders are compared, and which fields the chart randomises (ignored), is
`hubfleet.helm.stability`'s; this module words its differences for the export.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from hubfleet.base.redact import MaskKey
from hubfleet.helm.masking import is_secret_data, mask_value
from hubfleet.helm.stability import MISSING, Comparison, FieldDiff

_SHOWN = 80
_RANDOM_ON = {
    "left": "the chart randomises it on hubfleet's side only",
    "right": "the chart randomises it in the export only",
}


@dataclass(frozen=True, order=True)
class Difference:
    """One field that differs; `expected` is hubfleet's, `actual` the export's
    (short text; may hold secret values: print it only through the redactor)."""

    resource: str  # Kind/namespace/name
    field: str  # e.g. spec.template.spec.containers[0].image ("" = the whole resource)
    expected: str
    actual: str
    note: str = ""  # e.g. that the chart randomises it on one side only

    def render(self) -> str:
        where = f"{self.resource}: {self.field}" if self.field else self.resource
        text = f"{where}: hubfleet renders {self.expected}, the export renders {self.actual}"
        return f"{text} ({self.note})" if self.note else text


# A field one side does not have (shown as it is: it holds no value, so nothing to mask).
ABSENT = "(absent)"


def differences(comparison: Comparison) -> list[Difference]:
    """The comparison's differences (hubfleet's render left, the export's right), sorted."""
    return sorted(_difference(diff) for diff in comparison.differences)


def _difference(diff: FieldDiff) -> Difference:
    if not diff.ref.path:  # a resource only one side renders
        expected = "no such resource" if diff.left is MISSING else "this resource"
        actual = "no such resource" if diff.right is MISSING else "this resource"
    else:
        expected, actual = _show(diff.left), _show(diff.right)
    note = _RANDOM_ON.get(diff.random_on, "")
    return Difference(diff.ref.resource, diff.ref.field, expected, actual, note)


def _show(value: Any) -> str:
    if value is MISSING:
        return ABSENT
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def masked(found: Iterable[Difference], key: MaskKey) -> tuple[Difference, ...]:
    """The differences as they may be shown: a Secret's data as its keyed digest (both
    sides under one key, so a change stays visible); a side that lacks the field
    stays `(absent)`, which says which side lacks it."""

    def shown(value: str) -> str:
        return value if value == ABSENT else mask_value(value, key)

    return tuple(
        replace(d, expected=shown(d.expected), actual=shown(d.actual))
        if is_secret_data(d.resource, d.field)
        else d
        for d in found
    )
