"""One broken cluster beside healthy ones (issue 24 point 2, docs/isolation.md).

On a copy of the layout2i2c fixture: a cluster whose cluster.yaml still lists a deleted
secret file (the case of that layout's history), one whose values file does not parse,
one whose folder name is hostile. The plan gives them no jobs and names them with every
error (file:line), in the JSON (read back by its one reader and its schema), the
markdown of the PR comment and the table; every other cluster is planned; the exit code
is 3. A broken hubfleet.yaml, or a problem outside every cluster's folder, still stops
everything (exit 2) and says why (a broken shared chart: tests/validate/test_broken_cluster.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from hubfleet.base.errors import ConfigError
from hubfleet.config.load import FLEET_WIDE, load_isolated
from hubfleet.plan.job import InputError
from hubfleet.plan.plan import read_plan
from hubfleet.plan.schema import check_plan_json
from tests.helpers import git

AWS = "config/clusters/aws-two"
GCP = "config/clusters/gcp-one"
AZURE = "config/clusters/azure-three"
DELETED = f"{AWS}/enc-lis.secret.values.yaml"


def _break_aws(fleet: Path) -> None:
    """aws-two's cluster.yaml still lists a secret file that was deleted."""
    (fleet / DELETED).unlink()


def _line_of(fleet: Path, path: str, text: str) -> int:
    lines = (fleet / path).read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def _plan(run_cli: Any, fleet: Path, changed: list[str], *more: str) -> Any:
    listing = fleet.parent / "changed.txt"
    listing.write_text("\n".join(changed) + "\n")
    return run_cli("--repo", fleet, "plan", "--changed-files", listing, *more)


def test_load_isolated_splits_the_broken_cluster(layout: Path) -> None:
    _break_aws(layout)
    loaded = load_isolated(layout)
    folders = sorted(p.parent.name for p in (layout / "config/clusters").glob("*/cluster.yaml"))
    assert [c.name for c in loaded.fleet.clusters] == [f for f in folders if f != "aws-two"]
    [broken] = loaded.broken
    assert (broken.name, broken.provider, broken.file) == ("aws-two", "aws", f"{AWS}/cluster.yaml")
    [problem] = broken.problems
    line = _line_of(layout, f"{AWS}/cluster.yaml", "enc-lis.secret.values.yaml")
    assert (problem.path, problem.line) == (f"{AWS}/cluster.yaml", line)
    assert "enc-lis.secret.values.yaml" in problem.message


def test_plan_lists_the_broken_cluster_and_plans_the_rest(run_cli: Any, layout: Path) -> None:
    _break_aws(layout)
    changed = [DELETED, f"{AWS}/staging.values.yaml", f"{GCP}/research.values.yaml"]
    result = _plan(run_cli, layout, changed, "--output", "json")
    assert result.exit_code == 3, result.output
    data = json.loads(result.stdout)
    assert data["version"] == 2
    jobs = [
        (j["cluster_name"], j.get("hub_name"))
        for key in ("support_jobs", "staging_jobs", "prod_jobs")
        for j in data[key]
    ]
    # gcp-one's research hub, and its staging hubs as canaries; nothing of aws-two
    assert ("gcp-one", "research") in jobs
    assert {c for c, _ in jobs} == {"gcp-one"}
    [broken] = data["broken"]
    assert broken["cluster_name"] == "aws-two"
    assert broken["provider"] == "aws"
    [problem] = broken["problems"]
    assert problem["path"] == f"{AWS}/cluster.yaml"
    assert problem["line"] == _line_of(layout, f"{AWS}/cluster.yaml", "enc-lis.secret")
    # a changed file of the broken cluster is not "nothing depends on it"
    assert data["unmatched_files"] == []
    assert "aws-two" in result.stderr and "enc-lis.secret.values.yaml" in result.stderr
    # the plan file is valid against its schema and read back whole by its one reader
    assert check_plan_json(data, "plan.json") == []
    saved = layout.parent / "plan.json"
    saved.write_text(result.stdout)
    plan = read_plan(saved, schema=True)
    assert [c.name for c in plan.broken] == ["aws-two"]
    assert plan.broken[0].problems[0].line == problem["line"]


def test_every_error_of_every_broken_cluster(run_cli: Any, layout: Path) -> None:
    """Two broken clusters, one with two errors: all listed, the healthy one planned."""
    _break_aws(layout)
    (layout / f"{AWS}/enc-staging.secret.values.yaml").unlink()
    (layout / f"{GCP}/research.values.yaml").write_text("jupyterhub: [\n")
    # A values file is parsed when the change set touches it (the change that broke it):
    # untouched, the cluster plans as its cluster.yaml says (validate parses every file).
    untouched = _plan(run_cli, layout, [f"{AZURE}/staging.values.yaml"], "--output", "json")
    assert [b["cluster_name"] for b in json.loads(untouched.stdout)["broken"]] == ["aws-two"]
    changed = [f"{AZURE}/staging.values.yaml", f"{GCP}/research.values.yaml"]
    result = _plan(run_cli, layout, changed, "--output", "json")
    assert result.exit_code == 3, result.output
    data = json.loads(result.stdout)
    broken = {b["cluster_name"]: b["problems"] for b in data["broken"]}
    assert sorted(broken) == ["aws-two", "gcp-one"]
    assert len(broken["aws-two"]) == 2
    [parse] = broken["gcp-one"]
    assert parse["path"] == f"{GCP}/research.values.yaml" and parse["line"] >= 1
    assert [j["cluster_name"] for j in data["staging_jobs"]] == ["azure-three"]


def test_a_shared_values_file_breaks_each_cluster_using_it(run_cli: Any, layout: Path) -> None:
    shared = layout / "config" / "shared.values.yaml"
    shared.write_text("a: [\n")
    cluster_yaml = layout / AZURE / "cluster.yaml"
    data = yaml.safe_load(cluster_yaml.read_text())
    data["hubs"][0]["helm_chart_values_files"].insert(0, "../../shared.values.yaml")
    cluster_yaml.write_text(yaml.safe_dump(data, sort_keys=False))
    result = _plan(run_cli, layout, ["config/shared.values.yaml"], "--output", "json")
    assert result.exit_code == 3, result.output
    [broken] = json.loads(result.stdout)["broken"]
    assert broken["cluster_name"] == "azure-three"
    assert "config/shared.values.yaml" in broken["problems"][0]["message"]


def test_markdown_comment_and_table_carry_the_broken_cluster(run_cli: Any, layout: Path) -> None:
    _break_aws(layout)
    md = _plan(run_cli, layout, [f"{GCP}/research.values.yaml"], "--output", "markdown")
    assert md.exit_code == 3
    text = md.stdout
    assert "### Broken clusters (not planned, not deployed): 1" in text
    row = next(line for line in text.splitlines() if line.startswith("| aws-two |"))
    assert f"{AWS}/cluster.yaml:" in row and "enc-lis.secret.values.yaml" in row
    assert "### Production hubs" in text
    table = _plan(run_cli, layout, [f"{GCP}/research.values.yaml"], "--output", "table")
    assert table.exit_code == 3
    assert "cluster aws-two: configuration broken, not planned" in table.stdout
    assert "not planned, its configuration broken: aws-two" in " ".join(table.stdout.split())


def test_hostile_folder_name_stays_text_in_the_comment(run_cli: Any, layout: Path) -> None:
    """A folder named like a link and a mention: a broken cluster (not a valid name),
    shown as inert text in the comment."""
    hostile = "[x](https:--evil.example) @org-team <img src=x>"
    target = layout / "config" / "clusters" / hostile
    target.mkdir()
    (target / "cluster.yaml").write_text("name: x\nprovider: aws\n")
    result = _plan(run_cli, layout, [f"{GCP}/research.values.yaml"], "--output", "markdown")
    assert result.exit_code == 3, result.output
    assert "](https:" not in result.stdout
    assert "<img" not in result.stdout
    assert "@org-team" not in result.stdout  # a mention is broken up
    data = json.loads(_plan(run_cli, layout, [f"{AZURE}/ai.values.yaml"], "-o", "json").stdout)
    assert [b["cluster_name"] for b in data["broken"]] == [hostile]
    assert [j["cluster_name"] for j in data["prod_jobs"]] == ["azure-three"]


def test_github_output_names_the_broken_clusters(
    run_cli: Any, layout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _break_aws(layout)
    out = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    result = _plan(run_cli, layout, [f"{GCP}/research.values.yaml"], "--output", "github")
    assert result.exit_code == 3
    outputs = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert json.loads(outputs["broken-clusters"]) == ["aws-two"]


def test_broken_hubfleet_yaml_still_stops_everything(run_cli: Any, layout: Path) -> None:
    (layout / "hubfleet.yaml").write_text("default_chart: [unclosed\n")
    result = _plan(run_cli, layout, [f"{GCP}/research.values.yaml"], "--output", "json")
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert "hubfleet.yaml:2: YAML syntax error" in result.stderr
    assert "every cluster depends on them" in result.stderr
    assert "Traceback" not in result.output
    with pytest.raises(ConfigError) as raised:
        load_isolated(layout)
    assert raised.value.problems[-1].message == FLEET_WIDE


def test_plan_from_git_history(run_cli: Any, layout: Path) -> None:
    """The case of that layout's history: one commit deletes a secret file a cluster
    still lists and changes another cluster: the other is planned with history."""
    if shutil.which("git") is None:
        pytest.skip("no git")
    git(layout, "init", "-q")
    git(layout, "add", "-A")
    git(layout, "commit", "-q", "-m", "base")
    base = git(layout, "rev-parse", "HEAD")
    _break_aws(layout)
    cluster_yaml = layout / AWS / "cluster.yaml"
    cluster_yaml.write_text(cluster_yaml.read_text().replace("Hub lis", "Hub LIS"))
    values = layout / f"{GCP}/research.values.yaml"
    values.write_text(values.read_text() + "# a change\n")
    git(layout, "add", "-A")
    git(layout, "commit", "-q", "-m", "head")
    result = run_cli(
        "--repo", layout, "plan", "--base", base, "--head", "HEAD", "--output", "json"
    )  # fmt: skip
    assert result.exit_code == 3, result.output
    data = json.loads(result.stdout)
    assert [b["cluster_name"] for b in data["broken"]] == ["aws-two"]
    assert ("gcp-one", "research") in {
        (j["cluster_name"], j["hub_name"]) for j in data["prod_jobs"]
    }
    # its hubs are not "removed" (its cluster.yaml changed, it could not be read)
    assert data["removed_hubs"] == []
    assert all(j["cluster_name"] != "aws-two" for j in data["skipped"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": 4}, "newer than this hubfleet reads"),
        ({"version": "2"}, "version must be a positive integer"),
        ({"broken": [{"cluster_name": "", "provider": "", "file": "", "problems": []}]}, "name"),
        (
            {"broken": [{"cluster_name": "a", "provider": "", "file": "", "problems": [{}]}]},
            "broken[0].problems[0].line",
        ),
        (
            {
                "broken": [
                    {"cluster_name": "a", "provider": "", "file": "", "problems": []},
                    {"cluster_name": "a", "provider": "", "file": "", "problems": []},
                ]
            },
            "twice",
        ),
    ],
)
def test_plan_reader_checks_version_and_broken(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    plan = {"support_jobs": [], "staging_jobs": [], "prod_jobs": [], **change}
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan, indent=1))
    with pytest.raises(InputError) as raised:
        read_plan(path)
    assert message in str(raised.value)


def test_a_version_1_plan_is_still_read(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"support_jobs": [], "staging_jobs": [], "prod_jobs": []}))
    plan = read_plan(path, schema=True)
    assert plan.broken == ()
