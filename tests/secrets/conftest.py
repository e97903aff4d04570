"""Fixtures of the secrets tests: the committed test age keys and sops environments.

(`age_identity` rather than the root conftest's `age_key`: these tests need the
public key too, and set SOPS_AGE_KEY_FILE only where they say so.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import AGE_KEY, OTHER_AGE_KEY, public_key


@dataclass(frozen=True)
class AgeKey:
    file: Path
    public: str


def _key(path: Path) -> AgeKey:
    return AgeKey(path, public_key(path))


@pytest.fixture
def age_identity() -> AgeKey:
    return _key(AGE_KEY)


@pytest.fixture
def other_age_identity() -> AgeKey:
    return _key(OTHER_AGE_KEY)


@pytest.fixture
def no_default_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No SOPS_AGE_* variable and an empty HOME, so sops finds no key anywhere."""
    for name in ("SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    return home


@pytest.fixture
def with_key(no_default_key: Path, age_identity: AgeKey, monkeypatch: pytest.MonkeyPatch) -> AgeKey:
    """SOPS_AGE_KEY_FILE set to the test key."""
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(age_identity.file))
    return age_identity
