"""The policy of a community file: which key paths it may set, and what values.

A key path is the tuple of keys (and list indexes) from the top of a values file
to a value. A pattern is dot-separated segments: a segment is matched as a glob
(`*` any one key or index, `*Secret*` part of one), and `**` matches any number
of keys. An allow entry allows the key it matches and everything under it; a
deny entry refuses the key it matches and everything under it, and wins over
allow. A constraint applies to every value whose path its pattern matches.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from hubfleet.base.yamlio import PathKey
from hubfleet.config.community import ValueConstraint


@dataclass(frozen=True)
class Entry:
    """One policy entry and where it is written (for messages)."""

    pattern: str
    origin: str  # e.g. "hubfleet.yaml:12" or "built-in default"

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.pattern.split("."))


@dataclass(frozen=True)
class Constraint:
    entry: Entry
    rule: ValueConstraint


@dataclass(frozen=True)
class Policy:
    """A hub's effective policy: the fleet's, plus the hub's additions."""

    allow: tuple[Entry, ...]
    deny: tuple[Entry, ...]
    constraints: tuple[Constraint, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "allow": [e.pattern for e in self.allow],
            "deny": [e.pattern for e in self.deny],
            "constraints": {
                c.entry.pattern: c.rule.model_dump(exclude_none=True) for c in self.constraints
            },
        }


@dataclass(frozen=True)
class Finding:
    """A key or value outside the policy."""

    key: PathKey
    message: str
    hint: str


def dotted(key: PathKey) -> str:
    return ".".join(str(k) for k in key) or "(top)"


def suggested_pattern(key: PathKey) -> str:
    """The allow entry that would allow `key`: its path with list indexes as `*`."""
    return ".".join("*" if isinstance(k, int) else str(k) for k in key)


def matches(segments: Sequence[str], key: PathKey) -> bool:
    """Whether the pattern matches the whole key path."""
    if not segments:
        return not key
    head, rest = segments[0], segments[1:]
    if head == "**":
        return any(matches(rest, key[i:]) for i in range(len(key) + 1))
    return bool(key) and fnmatchcase(str(key[0]), head) and matches(rest, key[1:])


def could_match_below(segments: Sequence[str], key: PathKey) -> bool:
    """Whether the pattern matches some path strictly under `key`."""
    if not segments:
        return False
    head, rest = segments[0], segments[1:]
    if head == "**":
        return True
    if not key:
        return True
    return fnmatchcase(str(key[0]), head) and could_match_below(rest, key[1:])


def _first(entries: Sequence[Entry], key: PathKey) -> Entry | None:
    """The first entry matching `key` or one of its parents."""
    for entry in entries:
        if any(matches(entry.segments, key[:depth]) for depth in range(1, len(key) + 1)):
            return entry
    return None


def check_data(policy: Policy, data: Any) -> list[Finding]:
    """Every key and value of `data` (a values file's mapping) outside the policy:
    one finding at the shallowest refused key, every value that breaks a constraint."""
    findings: list[Finding] = []
    if isinstance(data, Mapping):
        for name, value in data.items():
            _walk(policy, (name,), value, findings)
    return findings


def _children(value: Any, key: PathKey) -> Iterator[tuple[PathKey, Any]]:
    if isinstance(value, Mapping):
        for name, child in value.items():
            yield (*key, name), child
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield (*key, index), child


def _walk(policy: Policy, key: PathKey, value: Any, findings: list[Finding]) -> None:
    denied = _first(policy.deny, key)
    if denied is not None:
        findings.append(
            Finding(
                key,
                f"{dotted(key)} may not be set by a community file: refused by the policy's "
                f"deny entry {denied.pattern!r} ({denied.origin})",
                "ask the platform team: nothing secret, nothing that changes where the hub "
                "runs or who can reach other hubs",
            )
        )
        return
    allowed = _first(policy.allow, key)
    if allowed is None:
        if (
            isinstance(value, Mapping | list)
            and value
            and any(could_match_below(e.segments, key) for e in policy.allow)
        ):
            for child_key, child in _children(value, key):
                _walk(policy, child_key, child, findings)
            return
        findings.append(
            Finding(
                key,
                f"{dotted(key)} is outside the community policy",
                f"the policy entry that would allow it: {suggested_pattern(key)!r} in the hub's "
                "community.policy.allow (cluster.yaml) or community.policy.allow (hubfleet.yaml)",
            )
        )
        return
    for constraint in policy.constraints:
        if matches(constraint.entry.segments, key):
            problem = value_problem(constraint.rule, value)
            if problem is not None:
                findings.append(
                    Finding(
                        key,
                        f"{dotted(key)}: {problem}",
                        f"constraint {constraint.entry.pattern!r} ({constraint.entry.origin})",
                    )
                )
    for child_key, child in _children(value, key):
        _walk(policy, child_key, child, findings)


# ------------------------------------------------------------------- values

_QUANTITY = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)([KMGTPE]i?|[mk]|e[0-9]+)?")
_FACTORS = {
    "": 1.0,
    "m": 1e-3,
    "k": 1e3,
    "K": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
    "Pi": 2.0**50,
    "Ei": 2.0**60,
}


def quantity(value: Any) -> float | None:
    """A number, or a Kubernetes quantity (`500m`, `4G`, `2Gi`), as a float; None if neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        return None
    found = _QUANTITY.fullmatch(value.strip())
    if found is None:
        return None
    number, suffix = float(found.group(1)), found.group(2) or ""
    if suffix.startswith("e"):
        return number * 10.0 ** int(suffix[1:])
    return number * _FACTORS[suffix]


def image_registry_ok(image: str, registries: Sequence[str]) -> bool:
    """Whether `image` comes from one of `registries` (prefixes such as `quay.io` or
    `docker.io/jupyter`); an image without a registry host is from docker.io."""
    first = image.split("/", 1)[0]
    if "/" not in image or not ("." in first or ":" in first or first == "localhost"):
        image = f"docker.io/{image if '/' in image else 'library/' + image}"
    return any(image.startswith(prefix.rstrip("/") + "/") for prefix in registries)


def value_problem(rule: ValueConstraint, value: Any) -> str | None:
    """Why `value` breaks `rule`, or None."""
    if rule.registries is not None:
        image = value.get("name") if isinstance(value, Mapping) else value
        if isinstance(image, str) and not image_registry_ok(image, rule.registries):
            return f"image {image!r} is not from an allowed registry ({', '.join(rule.registries)})"
    scalar = not isinstance(value, Mapping | list)
    if rule.one_of is not None and scalar and value not in rule.one_of:
        choices = ", ".join(repr(v) for v in rule.one_of)
        return f"{value!r} is not one of {choices}"
    if (
        rule.pattern is not None
        and isinstance(value, str)
        and not re.fullmatch(rule.pattern, value)
    ):
        return f"{value!r} does not match {rule.pattern!r}"
    if rule.minimum is not None or rule.maximum is not None:
        if isinstance(value, Mapping | list) or value is None:
            return None
        number = quantity(value)
        if number is None:
            return f"{value!r} is not a number or quantity"
        low = quantity(rule.minimum) if rule.minimum is not None else None
        high = quantity(rule.maximum) if rule.maximum is not None else None
        if low is not None and number < low:
            return f"{value!r} is below the minimum {rule.minimum!r}"
        if high is not None and number > high:
            return f"{value!r} is above the maximum {rule.maximum!r}"
    return None
