"""Version constraints of Chart.yaml dependencies, as helm (Masterminds/semver) reads them."""

from __future__ import annotations

import pytest

from hubfleet.helm.semver import best_match, is_exact, is_version, satisfies


@pytest.mark.parametrize(
    ("version", "constraint", "expected"),
    [
        ("4.2.0", "4.2.0", True),
        ("4.2.1", "4.2.0", False),
        ("4.2.7", "4.2.x", True),
        ("4.3.0", "4.2.x", False),
        ("4.2.7", "4.2", True),
        ("4.2.5", ">=4.0.0", True),
        ("3.9.9", ">=4.0.0", False),
        ("4.9.0", "^4.2", True),
        ("5.0.0", "^4.2", False),
        ("0.2.9", "^0.2.3", True),
        ("0.3.0", "^0.2.3", False),
        ("1.2.9", "~1.2.3", True),
        ("1.3.0", "~1.2.3", False),
        ("1.5.0", ">=1, <2", True),
        ("2.0.0", ">=1.0.0 <2.0.0", False),
        ("1.3.0", "1.2 - 1.4", True),
        ("1.5.0", "1.2 - 1.4", False),
        ("2.1.0", "1.x || 2.x", True),
        ("4.2.1-rc.1", ">=4.0.0", False),  # a pre-release only for a pre-release range
        ("4.2.1-rc.1", ">=4.2.1-0", True),
        ("0.1.0", "*", True),
        ("1.0.0", "not a range", False),
    ],
)
def test_satisfies(version: str, constraint: str, expected: bool) -> None:
    assert satisfies(version, constraint) is expected


def test_best_match_exact_and_version() -> None:
    assert best_match(["4.2.0", "4.2.10", "4.2.9", "4.3.0"], "4.2.x") == "4.2.10"
    assert best_match(["3.0.0"], "4.2.x") is None
    assert is_exact("4.2.0") and is_exact("0.1.0-0.dev.git.336.hca79dc0")
    assert not is_exact("4.2.x") and not is_exact(">=4.0.0")
    assert is_version("0.1") and is_version("v1.2.3") and not is_version("banana")
