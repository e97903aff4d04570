"""Go durations (`time.ParseDuration`), as helm's `--timeout` and the fleet's settings
take them: a sequence of decimal numbers, each with an optional fraction and a unit
(`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), such as `10m`, `300s`, `1h30m` or `1.5h`.
"0" alone is zero; any other number needs its unit (helm refuses `300`).
"""

from __future__ import annotations

import re

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)"
_WHOLE = re.compile(rf"(?:{_PART})+")
_PARTS = re.compile(_PART)
HINT = "write e.g. 10m, 300s or 1h30m"


def seconds(text: str) -> float:
    """The Go duration `text` in seconds; ValueError (naming it) when it is not one."""
    if text == "0":
        return 0.0
    if not _WHOLE.fullmatch(text):
        raise ValueError(f"{text!r} is not a duration ({HINT})")
    return sum(float(number) * _UNITS[unit] for number, unit in _PARTS.findall(text))
