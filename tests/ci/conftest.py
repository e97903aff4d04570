"""The generated workflows, loaded once per test module."""

from __future__ import annotations

from typing import Any

import pytest

from tests.ci.ci_helpers import CLUSTER, COMMENT, DEPLOY, load, rendered


@pytest.fixture(scope="module")
def deploy() -> dict[str, Any]:
    return load(rendered()[DEPLOY])


@pytest.fixture(scope="module")
def comment() -> dict[str, Any]:
    return load(rendered()[COMMENT])


@pytest.fixture(scope="module")
def cluster() -> dict[str, Any]:
    return load(rendered()[CLUSTER])
