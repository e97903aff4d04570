"""The release backends: one per target kind of the provider table, and an
orchestrator that looks them up instead of naming a kind."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

import hubfleet.deploy.canary
import hubfleet.deploy.orchestrator
import hubfleet.deploy.run
from hubfleet.config.providers import TABLE, Target
from hubfleet.deploy import kubernetes, local
from hubfleet.deploy.kinds import BACKENDS, PREFLIGHTS


def test_every_target_kind_has_its_backend() -> None:
    assert set(BACKENDS) == set(get_args(Target)) == {facts.target for facts in TABLE}
    assert BACKENDS["kubernetes"] is kubernetes.backend
    assert BACKENDS["local"] is local.backend
    assert set(PREFLIGHTS) == set(BACKENDS)
    assert PREFLIGHTS["kubernetes"] is kubernetes.preflight
    assert PREFLIGHTS["local"] is local.preflight


def test_the_orchestrator_and_the_gate_name_no_kind_and_no_provider() -> None:
    """Adding a target kind or a provider touches none of them: they ask the table."""
    names = set(get_args(Target)) | {facts.name for facts in TABLE}
    for module in (hubfleet.deploy.orchestrator, hubfleet.deploy.canary, hubfleet.deploy.run):
        tree = ast.parse(Path(str(module.__file__)).read_text())
        named = {
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        }
        assert named & names == set(), module.__name__
