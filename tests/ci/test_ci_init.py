"""`hubfleet ci init` and `check`, the rendering they use, and the example fleet's
generated files."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from hubfleet.base.errors import HubfleetError
from hubfleet.ci.workflows import (
    GENERATED_PATHS,
    CiSettings,
    build_matrix,
    check_up_to_date,
    read_settings,
    render,
    render_workflows,
)
from hubfleet.plan.plan import Plan
from tests.ci.ci_helpers import ALL, DEPLOY, EXAMPLE_FLEET, PLAN, load, rendered
from tests.helpers import empty_fleet


def test_rendering_is_deterministic() -> None:
    first = render_workflows(["aws", "gcp"], "1.2.3")
    assert first == render_workflows(("gcp", "aws", "gcp"), "1.2.3")
    assert sorted(first) == sorted(GENERATED_PATHS)
    assert first != render_workflows(["gcp"], "1.2.3")
    assert first != render_workflows(["aws", "gcp"], "1.2.4")
    for text in first.values():
        assert text.endswith("\n")
        assert "#%" not in text
        assert "@HUBFLEET" not in text


def test_header_records_the_settings(tmp_path: Path) -> None:
    settings = CiSettings(("azure", "gcp"), "2.0.0", "trunk")
    for text in render(settings).values():
        assert "hubfleet ci init --provider gcp --provider azure --hubfleet-version 2.0.0" in text
    repo = tmp_path
    for relative, content in render(settings).items():
        (repo / relative).parent.mkdir(parents=True, exist_ok=True)
        (repo / relative).write_text(content)
    assert read_settings(repo) == settings
    assert check_up_to_date(repo) == []


@pytest.mark.parametrize(
    ("providers", "version", "branch"),
    [
        (("openstack",), "0.1.0", "main"),
        (ALL, "0.1.0; rm -rf /", "main"),
        (ALL, "", "main"),
        (ALL, "0.1.0", "main\n  evil: true"),
        (ALL, "0.1.0", "../x"),
    ],
)
def test_bad_settings_are_refused(providers: tuple[str, ...], version: str, branch: str) -> None:
    with pytest.raises(HubfleetError):
        CiSettings(providers, version, branch)


def test_check_up_to_date(tmp_path: Path) -> None:
    assert check_up_to_date(tmp_path) == list(GENERATED_PATHS)  # nothing generated yet
    for relative, content in rendered().items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(content)
    assert check_up_to_date(tmp_path) == []
    deploy = tmp_path / DEPLOY
    deploy.write_text(deploy.read_text().replace("fail-fast: false", "fail-fast: true"))
    assert check_up_to_date(tmp_path) == [DEPLOY]
    (tmp_path / GENERATED_PATHS[0]).unlink()
    assert check_up_to_date(tmp_path) == [GENERATED_PATHS[0], DEPLOY]


# ---------------------------------------------------------------- the CLI


def test_init_writes_then_is_idempotent(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    repo = empty_fleet(tmp_path)
    first = run_cli(
        "--repo", repo, "ci", "init", "--provider", "aws", "--hubfleet-version", "0.1.0"
    )
    assert first.exit_code == 0, first.output
    assert "providers: aws (--provider)" in first.stdout
    for path in GENERATED_PATHS:
        assert f"wrote     {path}" in first.stdout
    contents = {p: (repo / p).read_bytes() for p in GENERATED_PATHS}
    assert contents == {p: t.encode() for p, t in render_workflows(["aws"], "0.1.0").items()}

    again = run_cli(
        "--repo", repo, "ci", "init", "--provider", "aws", "--hubfleet-version", "0.1.0"
    )
    assert again.exit_code == 0, again.output
    assert "wrote" not in again.stdout
    for path in GENERATED_PATHS:
        assert f"unchanged {path}" in again.stdout
    assert {p: (repo / p).read_bytes() for p in GENERATED_PATHS} == contents

    # without options, the settings recorded in the files are kept
    kept = run_cli("--repo", repo, "ci", "init", "--hubfleet-version", "0.1.0")
    assert kept.exit_code == 0, kept.output
    assert "providers: aws (the existing workflows)" in kept.stdout
    assert "wrote" not in kept.stdout

    check = run_cli("--repo", repo, "ci", "check")
    assert check.exit_code == 0, check.output


def test_init_refuses_to_overwrite_changed_files(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    repo = empty_fleet(tmp_path)
    assert run_cli("--repo", repo, "ci", "init", "-p", "gcp").exit_code == 0
    deploy = repo / DEPLOY
    deploy.write_text(deploy.read_text() + "# my edit\n")
    action = repo / GENERATED_PATHS[0]
    before = action.read_bytes()

    refused = run_cli("--repo", repo, "ci", "init", "-p", "gcp", "-p", "aws")
    assert refused.exit_code == 2
    assert DEPLOY in refused.stderr and "--force" in refused.stderr
    assert deploy.read_text().endswith("# my edit\n")  # nothing written, not even the rest
    assert action.read_bytes() == before

    stale = run_cli("--repo", repo, "ci", "check")
    assert stale.exit_code == 1
    assert DEPLOY in stale.stderr

    forced = run_cli("--repo", repo, "ci", "init", "-p", "gcp", "-p", "aws", "--force")
    assert forced.exit_code == 0, forced.output
    assert f"wrote     {DEPLOY}" in forced.stdout
    assert "# my edit" not in deploy.read_text()
    assert read_settings(repo) == CiSettings(("gcp", "aws"))


def test_init_rejects_an_unknown_provider(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("--repo", empty_fleet(tmp_path), "ci", "init", "-p", "openstack")
    assert result.exit_code == 2
    assert "unknown provider 'openstack'" in result.stderr


def test_init_defaults_to_the_fleets_providers(fleet_copy: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("--repo", fleet_copy, "ci", "init")
    assert result.exit_code == 0, result.output
    # the test fleet has one cluster per provider; `local` is not deployed from CI
    assert "providers: gcp, aws, azure, kubeconfig (the fleet's clusters)" in result.stdout


def test_init_without_clusters_defaults_to_every_cloud(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("--repo", empty_fleet(tmp_path), "ci", "init")  # a fleet without clusters
    assert result.exit_code == 0, result.output
    assert "providers: gcp, aws, azure (default: every cloud provider)" in result.stdout


def test_matrix_command(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("ci", "matrix", "--plan", PLAN)
    assert result.exit_code == 0, result.output
    assert (
        json.loads(result.stdout)
        == build_matrix(Plan.from_json(json.loads(PLAN.read_text()))).as_json()
    )
    assert "cluster local uses the local provider: not deployed from CI" in result.stderr


def test_matrix_command_reads_the_plan_from_stdin(run_cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(sys, "stdin", io.StringIO(PLAN.read_text()))
    result = run_cli("ci", "matrix", "--plan", "-")
    assert result.exit_code == 0, result.output
    assert (
        json.loads(result.stdout)
        == build_matrix(Plan.from_json(json.loads(PLAN.read_text()))).as_json()
    )

    monkeypatch.setattr(sys, "stdin", io.StringIO("not json"))
    bad = run_cli("ci", "matrix", "--plan", "-")
    assert bad.exit_code == 2, bad.output  # bad input, not an internal error
    assert "stdin" in bad.stderr and "not JSON" in bad.stderr


# ---------------------------------------------------------------- build_matrix


def test_build_matrix_one_entry_per_cluster_sorted() -> None:
    plan = Plan.from_json(json.loads(PLAN.read_text()))
    matrix = build_matrix(plan)
    assert [(e.cluster, e.provider) for e in matrix.include] == [
        ("alpha", "gcp"),
        ("beta", "aws"),
        ("delta", "kubeconfig"),
    ]
    assert [e.cluster for e in matrix.not_deployed] == ["local"]


@pytest.mark.parametrize(
    "plan",
    [
        [],
        {"prod_jobs": {}},
        {"prod_jobs": ["x"]},
        {"prod_jobs": [{"provider": "gcp"}]},
        {"prod_jobs": [{"cluster_name": "a", "provider": "openstack"}]},
        {
            "support_jobs": [{"cluster_name": "a", "provider": "gcp"}],
            "prod_jobs": [{"cluster_name": "a", "provider": "aws"}],
        },
    ],
)
def test_build_matrix_rejects_a_malformed_plan(plan: object) -> None:
    with pytest.raises(HubfleetError):
        build_matrix(Plan.from_json(plan))


# ---------------------------------------------------------------- the example fleet


def test_example_fleet_workflows_are_up_to_date() -> None:
    stale = check_up_to_date(EXAMPLE_FLEET)
    assert stale == [], f"run `hubfleet --repo examples/fleet ci init --force`: {stale}"
    load((EXAMPLE_FLEET / DEPLOY).read_text())
