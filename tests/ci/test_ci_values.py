"""The regenerated values after an apply: the apply job's collect step and the values
job's commit step, taken out of the cluster workflow and run with bash against a real
git repository (its `origin` a local bare repository), the real sops (`filestatus`)
and a fake `gh` that records its argv."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.ci.ci_helpers import ROOT, bash, git, step

SECRET = ROOT / "tests/fixtures/fleet/config/clusters/alpha/enc-prod1.secret.values.yaml"
COMMIT = "c0ffee" * 6 + "beef"

FAKE_GH = """#!/bin/bash
printf '%s\\n' "$*" >> "$FAKE_LOG"
case "$1 $2" in
  "pr list") printf '%s' "${FAKE_PR_NUMBER:-}" ;;
  "pr create"|"pr edit")
    while [ $# -gt 0 ]; do
      if [ "$1" = --body-file ]; then cp "$2" "$FAKE_LOG.body"; fi
      shift
    done ;;
esac
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("no git")
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / ".git/info/exclude").write_text(".step.sh\n")  # the script the test runs
    values = work / "config/clusters/c"
    values.mkdir(parents=True)
    (values / "cluster.yaml").write_text("name: c\n")
    (values / "h.terraform.values.yaml").write_text("old: true\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "base")
    git(work, "remote", "add", "origin", str(origin))
    git(work, "push", "-q", "origin", "main")
    return work


def _artifact(tmp_path: Path, files: dict[str, str | Path]) -> Path:
    """RUNNER_TEMP with the downloaded artifact: path -> content (or a file to copy)."""
    runner_temp = tmp_path / "runner-temp"
    for relative, content in files.items():
        path = runner_temp / "hubfleet-terraform-values" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copy(content, path)
        else:
            path.write_text(content)
    (runner_temp / "hubfleet-terraform-values").mkdir(parents=True, exist_ok=True)
    return runner_temp


def _commit_step(
    repo: Path, cluster: dict[str, Any], runner_temp: Path, **env: str
) -> tuple[Any, list[str], Path]:
    values = cluster["jobs"]["values"]
    commit = step(values, name="Open or update the values pull request")
    bindir = repo.parent / "bin"
    bindir.mkdir(exist_ok=True)
    (bindir / "gh").write_text(FAKE_GH)
    (bindir / "gh").chmod(0o755)
    log = repo.parent / "gh.log"
    full = {key: "" for key in commit["env"]}
    full.update(
        GH_TOKEN="t",
        CLUSTER="c",
        COMMIT=COMMIT,
        BASE_BRANCH="main",
        REPOSITORY="org/fleet",
        RUNNER_TEMP=str(runner_temp),
        FAKE_LOG=str(log),
        SOPS_DISABLE_VERSION_CHECK="1",
        GIT_CONFIG_GLOBAL="/dev/null",
    )
    full.update(env)
    result = bash(commit["run"], cwd=repo, env=full, path_first=[bindir])
    calls = log.read_text().splitlines() if log.exists() else []
    return result, calls, log


def _branches(repo: Path) -> str:
    return git(repo, "ls-remote", "--heads", "origin")


def test_the_values_job_commits_and_opens_a_pull_request(
    tmp_path: Path, repo: Path, cluster: dict[str, Any]
) -> None:
    runner_temp = _artifact(
        tmp_path,
        {
            "config/clusters/c/h.terraform.values.yaml": "new: true\n",
            "config/clusters/c/enc-h.terraform.secret.values.yaml": SECRET,
        },
    )
    result, calls, log = _commit_step(repo, cluster, runner_temp)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "refs/heads/hubfleet/terraform-values-c" in _branches(repo)
    shown = git(repo, "show", "--stat", "--format=%s", "origin/hubfleet/terraform-values-c")
    assert f"terraform: regenerated values of c after the apply of {COMMIT}" in shown
    files = git(repo, "show", "--name-only", "--format=", "origin/hubfleet/terraform-values-c")
    assert files.splitlines() == [
        "config/clusters/c/enc-h.terraform.secret.values.yaml",
        "config/clusters/c/h.terraform.values.yaml",
    ]
    assert calls[0].startswith("pr list --repo org/fleet --head hubfleet/terraform-values-c")
    assert calls[1].startswith(
        "pr create --repo org/fleet --base main --head hubfleet/terraform-values-c"
    )
    body = Path(f"{log}.body").read_text()
    assert "`c`" in body and COMMIT in body
    assert "- `config/clusters/c/h.terraform.values.yaml`" in body
    assert "- `config/clusters/c/enc-h.terraform.secret.values.yaml`" in body


def test_an_open_pull_request_is_updated(
    tmp_path: Path, repo: Path, cluster: dict[str, Any]
) -> None:
    runner_temp = _artifact(tmp_path, {"config/clusters/c/h.terraform.values.yaml": "new: 2\n"})
    result, calls, _ = _commit_step(repo, cluster, runner_temp, FAKE_PR_NUMBER="12")
    assert result.returncode == 0, result.stdout + result.stderr
    assert calls[1].startswith("pr edit 12 --repo org/fleet --body-file ")
    assert len(calls) == 2


def test_unchanged_values_commit_nothing(
    tmp_path: Path, repo: Path, cluster: dict[str, Any]
) -> None:
    runner_temp = _artifact(tmp_path, {"config/clusters/c/h.terraform.values.yaml": "old: true\n"})
    result, calls, _ = _commit_step(repo, cluster, runner_temp)
    assert result.returncode == 0, result.stdout + result.stderr
    assert calls == []
    assert "terraform-values" not in _branches(repo)


@pytest.mark.parametrize(
    "relative",
    [
        # a secret's file that sops did not encrypt
        "config/clusters/c/enc-h.terraform.secret.values.yaml",
        # a plaintext secret, by its name
        "config/clusters/c/h.terraform.secret.values.yaml",
        # not a generated values file
        "config/clusters/c/h.values.yaml",
        "config/clusters/c/cluster.yaml",
        # another cluster's, or outside the cluster's folder
        "config/clusters/other/h.terraform.values.yaml",
        "config/clusters/c/sub/h.terraform.values.yaml",
        ".github/workflows/h.terraform.values.yaml",
    ],
)
def test_the_path_guard_commits_nothing_else(
    tmp_path: Path, repo: Path, cluster: dict[str, Any], relative: str
) -> None:
    """One file outside the guard fails the job before anything is added: nothing is
    committed, pushed or opened, not even the allowed files beside it."""
    runner_temp = _artifact(
        tmp_path,
        {"config/clusters/c/h.terraform.values.yaml": "new: true\n", relative: "password: x\n"},
    )
    result, calls, _ = _commit_step(repo, cluster, runner_temp)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"::error::{relative}" in result.stdout
    assert calls == []
    assert "terraform-values" not in _branches(repo)
    assert git(repo, "status", "--porcelain") == ""  # nothing copied in, nothing added


def test_the_apply_job_collects_only_the_changed_values(
    tmp_path: Path, repo: Path, cluster: dict[str, Any]
) -> None:
    collect = step(cluster["jobs"]["apply"], id="values")
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    out = tmp_path / "github_output"
    env = {
        "CLUSTER": "c",
        "RUNNER_TEMP": str(runner_temp),
        "GITHUB_OUTPUT": str(out),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }
    result = bash(collect["run"], cwd=repo, env=env)
    assert result.returncode == 0, result.stderr
    assert out.read_text() == "changed=false\n"  # `apply` regenerated the same files

    (repo / "config/clusters/c/h.terraform.values.yaml").write_text("new: true\n")
    (repo / "config/clusters/c/enc-h.terraform.secret.values.yaml").write_text("sops: {}\n")
    (repo / "elsewhere.txt").write_text("not collected\n")
    out.write_text("")
    result = bash(collect["run"], cwd=repo, env=env)
    assert result.returncode == 0, result.stderr
    assert out.read_text() == "changed=true\n"
    collected = runner_temp / "hubfleet-terraform-values"
    assert sorted(str(p.relative_to(collected)) for p in collected.rglob("*") if p.is_file()) == [
        "config/clusters/c/enc-h.terraform.secret.values.yaml",
        "config/clusters/c/h.terraform.values.yaml",
    ]
    assert "config/clusters/c/h.terraform.values.yaml" in (tmp_path / "summary.md").read_text()
    upload = step(cluster["jobs"]["apply"], name="Upload the regenerated values")
    download = step(cluster["jobs"]["values"], name="Download the regenerated values")
    assert upload["with"]["name"] == download["with"]["name"]
    assert cluster["jobs"]["values"]["if"] == "needs.apply.outputs.values-changed == 'true'"
