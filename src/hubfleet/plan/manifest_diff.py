"""A hub's rendered change: the resources that differ at base and head, as reasons
and as unified YAML diffs (`plan --rendered`, `plan --diff`).

Everything here works on manifests that are already masked (the data of every
Secret replaced by a keyed digest, `hubfleet.helm.masking`; encrypted values
replaced by placeholders before rendering, `hubfleet.plan.rendered`): nothing in
it can hold a decrypted value. Fields the chart randomises (`hubfleet.helm.
stability`) are shown as one marker on both sides and named once per hub.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from hubfleet.config.fleet import release_label
from hubfleet.helm.stability import MISSING, FieldDiff, FieldRef

RANDOMISED = "<randomised by the chart: not compared>"
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's when there: ~10x faster
_REASON_RESOURCES = 6  # resources named in a hub's reasons; the rest are counted
_REASON_FIELDS = 3  # fields named per resource


def resource_label(resource: str) -> str:
    """`Deployment/-/hub` -> `Deployment/hub`; a namespaced one keeps its namespace."""
    kind, _, rest = resource.partition("/")
    namespace, _, name = rest.partition("/")
    return f"{kind}/{name}" if namespace == "-" else resource


@dataclass(frozen=True)
class ResourceChange:
    """One resource that differs: its label, the fields that differ, its diff."""

    resource: str  # Kind/name (Kind/namespace/name when namespaced)
    fields: tuple[str, ...]  # "" for a resource only one side has
    diff: str  # unified diff of its YAML, base -> head

    def reason(self) -> str:
        if self.fields == ("(added)",) or self.fields == ("(removed)",):
            return f"rendered: {self.resource} {self.fields[0][1:-1]}"
        shown = ", ".join(self.fields[:_REASON_FIELDS])
        more = len(self.fields) - _REASON_FIELDS
        return f"rendered: {self.resource}: {shown}" + (f" and {more} more" if more > 0 else "")


@dataclass(frozen=True)
class HubChange:
    """What rendering a hub at base and head found (verdict "different")."""

    cluster: str
    hub: str
    resources: tuple[ResourceChange, ...]
    randomised: tuple[str, ...] = ()  # the fields ignored (random at both revisions)
    notes: tuple[str, ...] = ()  # e.g. "compared without a key: a re-encryption shows"

    @property
    def label(self) -> str:
        return release_label(self.cluster, self.hub)

    def reasons(self) -> list[str]:
        shown = [change.reason() for change in self.resources[:_REASON_RESOURCES]]
        more = len(self.resources) - _REASON_RESOURCES
        if more > 0:
            shown.append(f"rendered: and {more} more resource(s) (see the diff)")
        return [*shown, *self.notes]

    def signature(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """What the change is, without the hub's own context lines: hubs whose changed
        lines are the same make one group ("the same change as ...")."""
        return tuple(
            (change.resource, tuple(_changed_lines(change.diff))) for change in self.resources
        )

    def diff_text(self) -> str:
        return "".join(change.diff for change in self.resources)


def _changed_lines(diff: str) -> list[str]:
    return [
        line
        for line in diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def hub_change(
    cluster: str,
    hub: str,
    base: Mapping[str, Any],
    head: Mapping[str, Any],
    differences: Sequence[FieldDiff],
    ignored: Collection[FieldRef],
    notes: Sequence[str] = (),
) -> HubChange:
    """The change of one hub from its resources at base and head (by `Kind/ns/name`,
    masked) and their field differences outside the `ignored` (random) fields."""
    fields: dict[str, list[str]] = {}
    for difference in differences:
        ref = difference.ref
        entry = fields.setdefault(ref.resource, [])
        if not ref.path:
            entry.append("(added)" if difference.left is MISSING else "(removed)")
        elif ref.field not in entry:
            entry.append(ref.field)
    changes = []
    for resource in sorted(fields):
        label = resource_label(resource)
        left = _shown(base.get(resource, MISSING), resource, ignored)
        right = _shown(head.get(resource, MISSING), resource, ignored)
        changes.append(ResourceChange(label, tuple(fields[resource]), unified(label, left, right)))
    randomised = tuple(str(ref) for ref in sorted(ignored, key=FieldRef.sort_key))
    return HubChange(cluster, hub, tuple(changes), randomised, tuple(notes))


def _shown(document: Any, resource: str, ignored: Collection[FieldRef]) -> str:
    if document is MISSING:
        return ""
    paths = [ref.path for ref in ignored if ref.resource == resource and ref.path]
    return yaml.dump(
        _hidden(document, paths),
        Dumper=_Dumper,
        sort_keys=True,
        default_flow_style=False,
        width=2**16,
        allow_unicode=False,
    )


def _hidden(document: Any, paths: Sequence[tuple[str | int, ...]]) -> Any:
    """A copy of `document` with each of `paths` (that exists) replaced by the marker."""
    if not paths:
        return document
    if any(not path for path in paths):
        return RANDOMISED
    if isinstance(document, dict):
        return {
            key: _hidden(value, [p[1:] for p in paths if p[0] == str(key)])
            for key, value in document.items()
        }
    if isinstance(document, list):
        return [
            _hidden(item, [p[1:] for p in paths if p[0] == index])
            for index, item in enumerate(document)
        ]
    return document


def unified(label: str, left: str, right: str) -> str:
    """The unified diff of one resource's YAML (`a/<label>` -> `b/<label>`)."""
    lines = difflib.unified_diff(
        left.splitlines(keepends=True),
        right.splitlines(keepends=True),
        fromfile=f"a/{label}" if left else "/dev/null",
        tofile=f"b/{label}" if right else "/dev/null",
        n=3,
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


@dataclass(frozen=True)
class Group:
    """Hubs whose rendered changes are the same: the first one's diff stands for all."""

    first: HubChange
    others: tuple[HubChange, ...]

    @property
    def hubs(self) -> tuple[HubChange, ...]:
        return (self.first, *self.others)


def grouped(changes: Sequence[HubChange]) -> list[Group]:
    """Hubs with the same change grouped, largest group first (then by first hub)."""
    by_signature: dict[Any, list[HubChange]] = {}
    for change in sorted(changes, key=lambda c: (c.cluster, c.hub)):
        by_signature.setdefault(change.signature(), []).append(change)
    groups = [Group(members[0], tuple(members[1:])) for members in by_signature.values()]
    return sorted(groups, key=lambda g: (-len(g.hubs), g.first.cluster, g.first.hub))


def full_text(changes: Sequence[HubChange]) -> str:
    """The whole diff of every hub (the artifact): each hub's diff in full, its
    randomised fields named once."""
    parts: list[str] = []
    for change in sorted(changes, key=lambda c: (c.cluster, c.hub)):
        parts.append(f"# hub {change.label}: {len(change.resources)} resource(s) changed\n")
        for note in change.notes:
            parts.append(f"# {note}\n")
        if change.randomised:
            parts.append(
                f"# {len(change.randomised)} field(s) the chart randomises, shown as "
                f"{RANDOMISED}: {', '.join(change.randomised)}\n"
            )
        parts.append(change.diff_text())
        parts.append("\n")
    return "".join(parts)
