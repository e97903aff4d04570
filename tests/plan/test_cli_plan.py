"""`hubfleet plan` through the CLI: inputs, outputs, exit codes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from unittest import mock

import pytest

from hubfleet.cli.main import main
from hubfleet.plan.render import MARKER, NOTHING
from hubfleet.plan.schema import plan_json_schema
from tests.conftest import TEST_FLEET
from tests.plan.conftest import GitFleet

C = "config/clusters"
HUBFLEET = Path(sys.executable).parent / "hubfleet"


def invoke(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
    """`hubfleet --repo TEST_FLEET plan ARGS` in this process, through the entry point."""
    out, err = io.StringIO(), io.StringIO()
    argv = ["hubfleet", "--repo", str(TEST_FLEET), "plan", *args]
    with (
        mock.patch.object(sys, "argv", argv),
        mock.patch.object(sys, "stdin", io.StringIO(stdin or "")),
        mock.patch.dict(os.environ, env or {}),
        redirect_stdout(out),
        redirect_stderr(err),
        pytest.raises(SystemExit) as done,
    ):
        main()
    assert done.value.code == 0, (out.getvalue(), err.getvalue())
    return out.getvalue()


def run_cli(
    *args: str, cwd: Path | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    return subprocess.run(
        [str(HUBFLEET), *args], capture_output=True, text=True, input=stdin, cwd=cwd, env=env
    )


def test_json_output_has_the_design_shape() -> None:
    out = invoke("--changed-files", "-", "--output", "json", stdin=f"{C}/alpha/prod1.values.yaml\n")
    data = json.loads(out)
    assert list(data) == [
        "version",
        "support_jobs",
        "staging_jobs",
        "prod_jobs",
        "removed_hubs",
        "skipped",
        "warnings",
        "unmatched_files",
        "terraform_jobs",
        "broken",
        "planned",
    ]
    assert data["planned"] == {
        "base": None,
        "head": None,
        "changes": [{"path": f"{C}/alpha/prod1.values.yaml", "status": "M"}],
        "labels": [],
    }
    assert data["prod_jobs"] == [
        {
            "cluster_name": "alpha",
            "provider": "gcp",
            "hub_name": "prod1",
            "reasons": [f"values file {C}/alpha/prod1.values.yaml changed"],
            "choice_reason": f"values file {C}/alpha/prod1.values.yaml changed",
        }
    ]
    import jsonschema

    jsonschema.validate(data, plan_json_schema())


def test_changed_files_from_a_file_with_commas(tmp_path: Path) -> None:
    listing = tmp_path / "changed.txt"
    listing.write_text(f"{C}/gamma/prod.values.yaml,{C}/beta/support.values.yaml\n")
    data = json.loads(invoke("--changed-files", str(listing), "-o", "json"))
    assert [j["cluster_name"] for j in data["support_jobs"]] == ["beta"]
    assert [j["hub_name"] for j in data["prod_jobs"]] == ["prod"]
    assert data["warnings"] == [
        "cluster gamma has no staging hub: its production hubs (prod) deploy without a canary"
    ]


def test_output_is_byte_identical_for_the_same_input() -> None:
    stdin = f"requirements-hubfleet.txt\n{C}/alpha/prod1.values.yaml\n"
    for output in ("json", "markdown", "table", "github"):
        first = invoke("--changed-files", "-", "-o", output, stdin=stdin)
        second = invoke("--changed-files", "-", "-o", output, stdin=stdin)
        assert first == second and first


def test_github_output_appends_three_lines_and_a_summary(tmp_path: Path) -> None:
    outputs, summary = tmp_path / "out", tmp_path / "summary.md"
    outputs.write_text("earlier=1\n")
    env = {"GITHUB_OUTPUT": str(outputs), "GITHUB_STEP_SUMMARY": str(summary)}
    invoke("--changed-files", "-", "-o", "github", stdin=f"{C}/delta/prod.values.yaml\n", env=env)
    lines = outputs.read_text().splitlines()
    assert lines[0] == "earlier=1"
    assert lines[1] == "support-jobs=[]"
    staging = json.loads(lines[2].removeprefix("staging-jobs="))
    assert [j["hub_name"] for j in staging] == ["staging-a", "staging-b"]
    assert lines[3].startswith('prod-jobs=[{"cluster_name":"delta","provider":"kubeconfig"')
    assert lines[4] == "terraform-jobs=[]"
    assert lines[5] == "broken-clusters=[]"
    assert len(lines) == 6
    assert summary.read_text().startswith(MARKER)


def test_markdown_comment_with_jobs() -> None:
    out = invoke("--changed-files", "-", "-o", "markdown", stdin=f"{C}/alpha/prod1.values.yaml\n")
    assert out.startswith(MARKER + "\n")
    assert "**0 support releases, 1 staging hub and 1 production hub will be upgraded.**" in out
    assert "### Production hubs: 1" in out
    assert f"| alpha | prod1 | gcp | values file {C}/alpha/prod1.values.yaml changed |" in out


def test_markdown_when_nothing_deploys() -> None:
    out = invoke("--changed-files", "-", "-o", "markdown", stdin="README.md\n")
    assert f"**{NOTHING}**" in out
    assert "| Cluster |" not in out  # no job tables
    assert "- README.md" in out


def test_table_output_names_jobs_and_reasons() -> None:
    out = invoke("--changed-files", "-", "-o", "table", stdin=f"{C}/gamma/prod.values.yaml\n")
    assert "Production hubs: 1" in out
    assert "gamma" in out and "values file" in out
    assert "warning: cluster gamma has no staging hub" in out


def test_labels_option() -> None:
    data = json.loads(
        invoke(
            "--changed-files",
            "-",
            "-o",
            "json",
            "--labels",
            '[{"name": "deployer:deploy-support"}]',
            stdin="",
        )
    )
    assert [j["cluster_name"] for j in data["support_jobs"]] == ["alpha", "beta", "delta", "gamma"]


def test_from_json_renders_a_saved_plan(tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    saved.write_text(
        invoke("--changed-files", "-", "-o", "json", stdin=f"{C}/alpha/prod1.values.yaml\n")
    )
    direct = invoke(
        "--changed-files", "-", "-o", "markdown", stdin=f"{C}/alpha/prod1.values.yaml\n"
    )
    assert invoke("--from-json", str(saved), "-o", "markdown") == direct


def test_from_json_rejects_a_plan_not_matching_the_schema(tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    saved.write_text(json.dumps({"support_jobs": [{"cluster_name": "a"}], "prod_jobs": []}))
    result = run_cli("plan", "--from-json", str(saved), "-o", "markdown")
    assert result.returncode == 2
    assert f"{saved}: (top): 'staging_jobs' is a required property" in result.stderr
    assert f"{saved}: support_jobs/0: 'provider' is a required property" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "nothing to plan from"),
        (("--changed-files", "-", "--base", "HEAD"), "not both"),
        (("--changed-files", "-", "--labels", "not json"), "--labels: not JSON"),
        (("--changed-files", "-", "--rendered"), "--rendered needs --base"),
        (("--changed-files", "/no/such/file"), "--changed-files /no/such/file: cannot read"),
    ],
)
def test_bad_input_exits_2_with_one_line(args: tuple[str, ...], message: str) -> None:
    result = run_cli("--repo", str(TEST_FLEET), "plan", *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_base_and_head_through_the_cli(git_fleet: GitFleet) -> None:
    git_fleet.edit(f"{C}/alpha/cluster.yaml", "domain: prod1.alpha", "domain: one.alpha")
    git_fleet.commit("edit")
    result = run_cli(
        "--repo", str(git_fleet.root), "plan", "--base", "base", "--head", "HEAD", "-o", "json"
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [j["hub_name"] for j in data["prod_jobs"]] == ["prod1"]
    bad = run_cli("--repo", str(git_fleet.root), "plan", "--base", "nope")
    assert bad.returncode == 2
    assert "nope" in bad.stderr and "Traceback" not in bad.stderr
