"""The policy of a community file: which key paths it may set, and what values.

A key path is the tuple of keys (and list indexes) from the top of a values file
to a value. A pattern is dot-separated segments: a segment is matched as a glob
(`*` any one key or index, `*Secret*` part of one), and `**` matches any number
of keys. Patterns are written in z2jh's terms (`singleuser.image`) and matched at
the nesting where the hub's chart keeps z2jh's keys (`jupyterhub.` for a
basehub-like chart); a pattern starting with `/` is matched from the top of the
file (a wrapper chart's own keys, e.g. `/dask-gateway.gateway`).

Deny by default: a key is refused unless an allow entry allows it (the entry's key
and everything under it). A deny entry refuses the key it matches and everything
under it, and wins over allow. A constraint applies to every value whose path its
pattern matches. Allow entries match keys as written (Helm's keys are
case-sensitive: `Singleuser` is another key, which is not allowed); deny entries and
constraints ignore case, so that no spelling slips past them. The built-in pod
checks (`hubfleet.community.pod`) then judge what the file makes of a user pod.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

from hubfleet.base.yamlio import PathKey
from hubfleet.community.findings import Finding, dotted, image_registry_ok, quantity
from hubfleet.community.pod import Limits, check_pods
from hubfleet.config.community import PodBounds, ValueConstraint

__all__ = [
    "Constraint",
    "Entry",
    "Finding",
    "Policy",
    "check_data",
    "dotted",
    "image_registry_ok",
    "matches",
    "quantity",
]


@dataclass(frozen=True)
class Entry:
    """One policy entry and where it is written (for messages)."""

    pattern: str
    origin: str  # e.g. "hubfleet.yaml:12" or "built-in default"

    @cached_property
    def absolute(self) -> bool:
        """Matched from the top of the values file, not at the chart's z2jh nesting."""
        return self.pattern.startswith("/")

    @cached_property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.pattern.removeprefix("/").split("."))


@dataclass(frozen=True)
class Constraint:
    entry: Entry
    rule: ValueConstraint


@dataclass(frozen=True)
class Policy:
    """A hub's effective policy: the fleet's, plus the hub's additions, and where its
    chart keeps z2jh's keys (`nesting`, `()` at the top)."""

    allow: tuple[Entry, ...]
    deny: tuple[Entry, ...]
    constraints: tuple[Constraint, ...] = ()
    nesting: PathKey = ()
    pod: PodBounds = field(default_factory=PodBounds)

    def to_json(self) -> dict[str, Any]:
        return {
            "z2jh_values_key": ".".join(str(k) for k in self.nesting),
            "allow": [e.pattern for e in self.allow],
            "deny": [e.pattern for e in self.deny],
            "constraints": {
                c.entry.pattern: c.rule.model_dump(exclude_none=True) for c in self.constraints
            },
            "pod": self.pod.model_dump(exclude_none=True),
        }

    def relative(self, key: PathKey) -> PathKey | None:
        """`key` from the z2jh nesting down, None when it is not under it."""
        depth = len(self.nesting)
        return key[depth:] if key[:depth] == self.nesting else None

    def entry_matches(self, entry: Entry, key: PathKey, *, fold: bool = False) -> bool:
        if entry.absolute:
            return matches(entry.segments, key, fold=fold)
        rel = self.relative(key)
        return bool(rel) and rel is not None and matches(entry.segments, rel, fold=fold)

    def could_allow_below(self, entry: Entry, key: PathKey) -> bool:
        """Whether `entry` matches some path strictly under `key`."""
        if entry.absolute:
            return could_match_below(entry.segments, key)
        if len(key) < len(self.nesting):
            return key == self.nesting[: len(key)]
        rel = self.relative(key)
        return rel is not None and could_match_below(entry.segments, rel)

    def pattern_for(self, key: PathKey) -> str:
        """The allow entry that would allow `key`: its path with list indexes as `*`
        (from the z2jh nesting, or from the top with a leading `/`)."""
        rel = self.relative(key)
        shown = rel if rel else key
        text = ".".join("*" if isinstance(k, int) else str(k) for k in shown)
        return text if rel else f"/{text}"

    @cached_property
    def _deny_index(self) -> tuple[re.Pattern[str] | None, tuple[Entry, ...]]:
        """The deny entries `**.<one glob>` (most of them) as one regex over a key's last
        name, and the others: a key is matched against every entry only when one may match."""
        tails = [
            e
            for e in self.deny
            if not e.absolute
            and len(e.segments) == 2
            and e.segments[0] == "**"
            and "**" not in e.segments[1]
        ]
        others = tuple(e for e in self.deny if e not in tails)
        if not tails:
            return None, others
        joined = "|".join(f"(?:{fnmatch.translate(e.segments[1])})" for e in tails)
        return re.compile(joined, re.IGNORECASE), others

    def denied(self, key: PathKey) -> Entry | None:
        """The first deny entry that matches `key` itself, without regard to case."""
        tails, others = self._deny_index
        rel = self.relative(key)
        maybe = bool(rel) and tails is not None and tails.match(str(key[-1])) is not None
        if maybe or _first(self, others, key, fold=True) is not None:
            return _first(self, self.deny, key, fold=True)
        return None

    def limits(self) -> Limits:
        registries = [*self.pod.registries]
        for constraint in self.constraints:
            registries += constraint.rule.registries or []
        return Limits(
            registries=tuple(dict.fromkeys(registries)),
            node_selectors={k: tuple(v) for k, v in self.pod.node_selectors.items()},
            tolerations=tuple(t.model_dump() for t in self.pod.tolerations),
            max_memory=self.pod.max_memory,
            max_cpu=self.pod.max_cpu,
            bounded=self._bounded,
        )

    def _bounded(self, key: PathKey) -> bool:
        return any(
            c.rule.maximum is not None and self.entry_matches(c.entry, key, fold=True)
            for c in self.constraints
        )


@lru_cache(maxsize=4096)
def _glob_regex(pattern: str, fold: bool) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern), re.IGNORECASE if fold else 0)


def _glob(name: Any, pattern: str, fold: bool) -> bool:
    """Whether a key matches a glob segment (`fold`: without regard to case)."""
    return _glob_regex(pattern, fold).match(str(name)) is not None


def matches(segments: Sequence[str], key: PathKey, *, fold: bool = False) -> bool:
    """Whether the pattern matches the whole key path (`fold`: without regard to case)."""
    if not segments:
        return not key
    head, rest = segments[0], segments[1:]
    if head == "**":
        if "**" not in rest:  # the rest matches exactly len(rest) keys: one place to try
            start = len(key) - len(rest)
            return start >= 0 and matches(rest, key[start:], fold=fold)
        return any(matches(rest, key[i:], fold=fold) for i in range(len(key) + 1))
    return bool(key) and _glob(key[0], head, fold) and matches(rest, key[1:], fold=fold)


def could_match_below(segments: Sequence[str], key: PathKey) -> bool:
    """Whether the pattern matches some path strictly under `key`."""
    if not segments:
        return False
    head, rest = segments[0], segments[1:]
    if head == "**":
        return True
    if not key:
        return True
    return _glob(key[0], head, False) and could_match_below(rest, key[1:])


def _first(policy: Policy, entries: Sequence[Entry], key: PathKey, *, fold: bool) -> Entry | None:
    """The first entry matching `key` itself (the walk has judged its parents already)."""
    rel = policy.relative(key)
    for entry in entries:
        target = key if entry.absolute else rel
        if target and matches(entry.segments, target, fold=fold):
            return entry
    return None


def check_data(policy: Policy, data: Any) -> list[Finding]:
    """Every key and value of `data` (a values file's mapping) outside the policy: one
    finding at the shallowest refused key, every value that breaks a constraint, and
    every refusal of the built-in pod checks."""
    findings: list[Finding] = []
    if isinstance(data, Mapping):
        for name, value in data.items():
            _walk(policy, (name,), value, findings, None)
    elif data is not None:
        findings.append(
            Finding(
                (),
                "policy.not-allowed: a community file is a mapping of keys",
                "",
                "policy.not-allowed",
            )
        )
    return findings + check_pods(policy.limits(), data, policy.nesting)


def _children(value: Any, key: PathKey) -> Iterator[tuple[PathKey, Any]]:
    if isinstance(value, Mapping):
        for name, child in value.items():
            yield (*key, name), child
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield (*key, index), child


def _walk(
    policy: Policy, key: PathKey, value: Any, findings: list[Finding], allowed: Entry | None
) -> None:
    """Judge `key` and what is under it; `allowed`: the entry that allowed a parent.
    A parent that a deny entry refused is not walked into, so only `key` itself is
    matched against the entries here."""
    denied = policy.denied(key)
    if denied is not None:
        findings.append(
            Finding(
                key,
                f"policy.denied: {dotted(key)} may not be set by a community file: refused by "
                f"the policy's deny entry {denied.pattern!r} ({denied.origin})",
                "ask the platform team: nothing secret, nothing that changes where the hub "
                "runs or who can reach other hubs",
                "policy.denied",
            )
        )
        return
    allowed = allowed or _first(policy, policy.allow, key, fold=False)
    if allowed is None:
        if (
            isinstance(value, Mapping | list)
            and value
            and any(policy.could_allow_below(e, key) for e in policy.allow)
        ):
            for child_key, child in _children(value, key):
                _walk(policy, child_key, child, findings, None)
            return
        findings.append(
            Finding(
                key,
                f"policy.not-allowed: {dotted(key)} is outside the community policy",
                f"the policy entry that would allow it: {policy.pattern_for(key)!r} in the "
                "hub's community.policy.allow (cluster.yaml) or community.policy.allow "
                "(hubfleet.yaml)",
                "policy.not-allowed",
            )
        )
        return
    for constraint in policy.constraints:
        if policy.entry_matches(constraint.entry, key, fold=True):
            problem = value_problem(constraint.rule, value)
            if problem is not None:
                findings.append(
                    Finding(
                        key,
                        f"policy.constraint: {dotted(key)}: {problem}",
                        f"constraint {constraint.entry.pattern!r} ({constraint.entry.origin})",
                        "policy.constraint",
                    )
                )
    for child_key, child in _children(value, key):
        _walk(policy, child_key, child, findings, allowed)


# ------------------------------------------------------------------- values


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
