"""What the community checks find, and the value readers they share: Kubernetes
quantities, image references, integers and booleans written as strings."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hubfleet.base.yamlio import PathKey


@dataclass(frozen=True)
class Finding:
    """A key or value outside the policy, and the rule that refused it
    (`policy.not-allowed`, `policy.denied`, `policy.constraint`, `pod.*`)."""

    key: PathKey
    message: str
    hint: str
    rule: str = "policy.not-allowed"


def dotted(key: PathKey) -> str:
    return ".".join(str(k) for k in key) or "(top)"


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
    if not isinstance(value, str) or len(value) > 64:
        return None
    found = _QUANTITY.fullmatch(value.strip())
    if found is None:
        return None
    number, suffix = float(found.group(1)), found.group(2) or ""
    if suffix.startswith("e"):
        return number * 10.0 ** min(int(suffix[1:]), 300)
    return number * _FACTORS[suffix]


def as_int(value: Any) -> int | None:
    """An integer, also when written as a string (`"0"`) or an integral float; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?[0-9]{1,30}\s*", value):
        return int(value)
    return None


_TRUE = {"true", "yes", "on", "y", "1"}
_FALSE = {"false", "no", "off", "n", "0"}


def truthy(value: Any) -> bool:
    """Whether `value` is true, also when written as a string or a number."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    return isinstance(value, str) and value.strip().lower() in _TRUE


def falsy(value: Any) -> bool:
    """Whether `value` is explicitly false (null and absent are not)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value == 0
    return isinstance(value, str) and value.strip().lower() in _FALSE


def _normal_image(image: str) -> str:
    """`image` with its registry host in lower case and docker.io's implicit parts written."""
    first, _, rest = image.partition("/")
    if not rest or not ("." in first or ":" in first or first.lower() == "localhost"):
        return f"docker.io/{image if rest else 'library/' + image}"
    return f"{first.lower()}/{rest}"


def image_registry_ok(image: str, registries: Sequence[str]) -> bool:
    """Whether `image` comes from one of `registries` (prefixes such as `quay.io` or
    `docker.io/jupyter`); an image without a registry host is from docker.io; hosts
    ignore case. A templated image (`quay.io/jupyter/{value}`, a profile's unlisted
    choice) counts by its literal part before the first `{`, which must hold a whole
    allowed prefix."""
    image = image.strip()
    if "{" in image:
        image = image[: image.index("{")]
        if "/" not in image:
            return False
    normal = _normal_image(image)
    return any(normal.startswith(_normal_prefix(p.strip().rstrip("/")) + "/") for p in registries)


def _normal_prefix(prefix: str) -> str:
    first, _, rest = prefix.partition("/")
    if "." in first or ":" in first or first.lower() == "localhost":
        return first.lower() + (f"/{rest}" if rest else "")
    return f"docker.io/{prefix}"
