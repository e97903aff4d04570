"""Semantic versions and the version constraints of a Chart.yaml's dependencies.

Helm reads `dependencies[].version` as a Masterminds/semver constraint: `4.2.0`
(exact), `4.2.x` / `4.2` / `4.2.*` (a wildcard), `~4.2.1`, `^4.2`, `>=4.0.0 <5`,
`>=1, <2`, `1.2 - 1.4`, alternatives joined by `||`. A pre-release version only
satisfies a constraint group that names a pre-release itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

_VERSION = re.compile(
    r"^v?(\d+)(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?"
    r"(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$"
)
_FULL = re.compile(r"^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
_TERM = re.compile(r"^(!=|>=|=>|<=|=<|>|<|=|~>|~|\^)?\s*(\S+)$")
_WILD = frozenset({"x", "X", "*"})


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int
    patch: int
    # () for a release, which sorts after every pre-release of the same numbers.
    release: bool
    pre: tuple[tuple[int, int | str], ...]

    @property
    def prerelease(self) -> bool:
        return not self.release


def parse_version(text: str) -> Version | None:
    """A full version (`1.2.3`, `v1.2.3-rc.1+build`), None if `text` is not one."""
    text = text.strip()
    if not _FULL.match(text):
        return None
    found = _VERSION.match(text)
    assert found is not None
    return _version(found.group(1), found.group(2), found.group(3), found.group(4))


def is_version(text: str) -> bool:
    """A version as helm accepts one in a Chart.yaml (`1`, `1.2` and `v1.2.3` too)."""
    found = _VERSION.match(text.strip())
    return found is not None and not any(part in _WILD for part in found.groups()[1:3])


def is_exact(constraint: str) -> bool:
    """The constraint names one version (no operator, no wildcard)."""
    return parse_version(constraint.strip().removeprefix("=").strip()) is not None


def satisfies(version: str, constraint: str) -> bool:
    """`version` meets the `constraint`; False when either does not parse."""
    parsed = parse_version(version)
    if parsed is None:
        return False
    try:
        groups = _parse_constraint(constraint)
    except ValueError:
        return False
    for terms, allows_pre in groups:
        if parsed.prerelease and not allows_pre:
            continue
        if all(term(parsed) for term in terms):
            return True
    return False


def best_match(versions: Iterable[str], constraint: str) -> str | None:
    """The highest of `versions` that meets `constraint`."""
    matching = [v for v in versions if satisfies(v, constraint)]
    if not matching:
        return None
    return max(matching, key=lambda v: parse_version(v) or Version(0, 0, 0, False, ()))


def valid_constraint(constraint: str) -> bool:
    try:
        _parse_constraint(constraint)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------ parsing

Term = Callable[[Version], bool]


def _version(major: str, minor: str | None, patch: str | None, pre: str | None) -> Version:
    return Version(
        int(major),
        int(minor) if minor and minor not in _WILD else 0,
        int(patch) if patch and patch not in _WILD else 0,
        pre is None,
        tuple(_identifier(part) for part in pre.split(".")) if pre else (),
    )


def _identifier(part: str) -> tuple[int, int | str]:
    # Numeric identifiers sort before alphanumeric ones, numerically.
    return (0, int(part)) if part.isdigit() else (1, part)


def _parse_constraint(constraint: str) -> list[tuple[list[Term], bool]]:
    groups: list[tuple[list[Term], bool]] = []
    for group in constraint.split("||"):
        text = re.sub(r"\s*,\s*", " ", group.strip())
        text = re.sub(r"(!=|>=|=>|<=|=<|>|<|=|~>|~|\^)\s+", r"\1", text)
        words = text.split()
        terms: list[Term] = []
        allows_pre = False
        index = 0
        while index < len(words):
            if index + 2 < len(words) and words[index + 1] == "-":  # a hyphen range
                low, high = words[index], words[index + 2]
                terms += _terms(">=", low) + _terms("<=", high)
                allows_pre = allows_pre or "-" in low or "-" in high
                index += 3
                continue
            found = _TERM.match(words[index])
            if not found:
                raise ValueError(words[index])
            operator, operand = found.group(1) or "=", found.group(2)
            allows_pre = allows_pre or "-" in operand
            terms += _terms(operator, operand)
            index += 1
        groups.append((terms or [lambda _v: True], allows_pre))
    return groups


def _terms(operator: str, operand: str) -> list[Term]:
    if operand in _WILD:
        return [lambda _v: True] if operator in ("=", ">=", "=>", "~", "~>", "^") else []
    found = _VERSION.match(operand)
    if not found:
        raise ValueError(operand)
    major, minor, patch, pre = found.groups()
    low = _version(major, minor, patch, pre)
    # How many parts were given (wildcards count as missing).
    given = 1 + sum(1 for p in (minor, patch) if p is not None and p not in _WILD)
    if operator == "!=":
        return [lambda v: v != low] if given == 3 else [lambda v: not _within(v, low, given)]
    if operator == "=":
        if given == 3:
            return [lambda v: v == low]
        return [lambda v: _within(v, low, given)]
    if operator in ("~", "~>"):
        # ~1.2.3 := >=1.2.3 <1.3.0; ~1 := >=1.0.0 <2.0.0
        upper = _bump(low, 1 if given == 1 else 2)
        return [lambda v: v >= low, lambda v: v < upper]
    if operator == "^":
        if low.major > 0 or given == 1:
            upper = _bump(low, 1)
        elif low.minor > 0 or given == 2:
            upper = _bump(low, 2)
        else:
            upper = _bump(low, 3)
        return [lambda v: v >= low, lambda v: v < upper]
    if operator in (">=", "=>"):
        return [lambda v: v >= low]
    if operator == ">":
        if given == 3:
            return [lambda v: v > low]
        upper = _bump(low, given)
        return [lambda v: v >= upper]
    if operator in ("<=", "=<"):
        if given == 3:
            return [lambda v: v <= low]
        upper = _bump(low, given)
        return [lambda v: v < upper]
    return [lambda v: v < low]  # "<"


def _within(version: Version, low: Version, given: int) -> bool:
    return version >= low and version < _bump(low, given)


def _bump(version: Version, part: int) -> Version:
    """The smallest version past every version that shares the first `part` parts."""
    if part <= 1:
        return Version(version.major + 1, 0, 0, False, ((0, 0),))
    if part == 2:
        return Version(version.major, version.minor + 1, 0, False, ((0, 0),))
    return Version(version.major, version.minor, version.patch + 1, False, ((0, 0),))
