"""Shared helpers of the CI tests: the generated workflows, loaded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from hubfleet.ci.workflows import PROVIDERS, render_workflows
from tests.helpers import git as git  # the CI tests import them from here
from tests.helpers import hubfleet as hubfleet

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PLAN = HERE / "plan.json"
BIN = Path(sys.executable).parent
TEST_FLEET = ROOT / "tests" / "fixtures" / "fleet"
EXAMPLE_FLEET = ROOT / "examples" / "fleet"

DEPLOY = ".github/workflows/hubfleet-deploy.yaml"
CLUSTER = ".github/workflows/hubfleet-cluster.yaml"  # called by DEPLOY once per cluster
COMMENT = ".github/workflows/hubfleet-plan-comment.yaml"
ACTION = ".github/actions/hubfleet-setup/action.yaml"
HEALTH = ".github/workflows/hubfleet-health.yaml"  # scheduled checks, incidents

ALL = ("gcp", "aws", "azure", "kubeconfig")
VARIANTS = [ALL, (), ("gcp",), ("aws",), ("azure",), ("kubeconfig",), PROVIDERS]


def rendered(providers: tuple[str, ...] = ALL) -> dict[str, str]:
    return render_workflows(providers, "0.1.0")


def load(text: str) -> dict[str, Any]:
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    if True in data:  # PyYAML reads the key `on` as a boolean
        data["on"] = data.pop(True)
    return data


def step(job: dict[str, Any], *, name: str | None = None, id: str | None = None) -> dict[str, Any]:
    for s in job["steps"]:
        if (name is not None and s.get("name") == name) or (id is not None and s.get("id") == id):
            return s
    raise AssertionError(f"no step {name or id}")


def run_steps(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every step of a workflow or composite action."""
    if "runs" in data:
        return list(data["runs"]["steps"])
    return [s for job in data["jobs"].values() for s in job.get("steps", [])]


def write_repo(root: Path, files: dict[str, str]) -> None:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


def bash(
    script: str, *, cwd: Path, env: dict[str, str], path_first: list[Path] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a `run:` script the way GitHub's runner does (`bash -e`)."""
    dirs = [*(path_first or []), BIN]
    full = {
        "PATH": os.pathsep.join([*map(str, dirs), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(cwd),
        **env,
    }
    script_file = cwd / ".step.sh"
    script_file.write_text(script)
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-e", str(script_file)],
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
    )
