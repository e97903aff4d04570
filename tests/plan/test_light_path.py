"""A plan that renders nothing stays light: `hubfleet plan --changed-files` imports
none of the modules that render, diff or ask git (issue #23: they were most of a
plan's start-up), so the light path cannot silently grow back.

Each case runs the real entry point in a fresh interpreter and reads the modules it
imported (as tests/cli/test_lazy.py does); the control shows that the probe does see
the heavy modules when they are imported."""

from __future__ import annotations

import json

import pytest

from tests.conftest import TEST_FLEET
from tests.modules_probe import PROBE, run_fresh

# What a plan from a list of files never needs: rendering and its diffs (`--rendered`,
# `--diff`), git (`--base`), the jsonnet evaluator (the graph only reads imports), the
# values pipeline, the runner of external programs, the schema checkers.
HEAVY = (
    "hubfleet.plan.render_diffs",
    "hubfleet.plan.manifest_diff",
    "hubfleet.plan.diff_report",
    "hubfleet.plan.rendered",
    "hubfleet.plan.revisions",
    "hubfleet.plan.git",
    "hubfleet.plan.replan",
    "hubfleet.helm.engine",
    "hubfleet.helm.manifests",
    "hubfleet.helm.stability",
    "hubfleet.helm.jsonnet",
    "hubfleet.helm.jsonnet_pool",
    "hubfleet.release",
    "hubfleet.base.runner",
    "hubfleet.deploy",
    "jsonschema",
    "jsonschema_rs",
)

CHANGED = "config/clusters/alpha/common.values.yaml\nhelm-charts/testhub/values.yaml\n"


def heavy(modules: set[str]) -> set[str]:
    return {m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)}


@pytest.mark.parametrize("output", ["json", "github", "markdown"])
def test_a_plan_from_files_imports_no_rendering_module(output: str) -> None:
    code, out, modules = run_fresh(
        "--repo", str(TEST_FLEET), "plan", "--changed-files", "-", "--output", output, stdin=CHANGED
    )
    assert code == 0, out
    assert "alpha" in out and "staging" in out  # a real plan: the change selected hubs
    if output == "json":
        plan = json.loads(out)
        assert plan["staging_jobs"] and plan["prod_jobs"]
    assert heavy(modules) == set()
    assert "hubfleet.plan.render" in modules  # what writes the plan is there


def test_the_probe_sees_the_rendering_modules_when_they_are_imported() -> None:
    """The control: the same probe, with the comment-with-diffs module imported first,
    finds the heavy modules (so an empty set above is a finding, not a blind probe)."""
    code = "import hubfleet.plan.render_diffs\n" + PROBE
    status, out, modules = run_fresh(
        "--repo", str(TEST_FLEET), "plan", "--changed-files", "-", "--output", "json",
        stdin=CHANGED, code=code,
    )  # fmt: skip
    assert status == 0, out
    assert {"hubfleet.plan.manifest_diff", "hubfleet.plan.diff_report"} <= heavy(modules)
    assert "hubfleet.helm.stability" in heavy(modules)
