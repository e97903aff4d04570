"""CRDs applied before their release's upgrade (issue 24, point 4), through the CLI.

The layout2i2c fixture's cluster `crds` has a daskhub canary, two daskhub production
hubs (daskhub depends on the real dask-gateway chart, whose `crds/` holds eleven
CRDs) and a basehub hub (z2jh has none). kubectl and helm are the fakes: they
record argv, stdin and when each call started and ended.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import CliResult
from tests.fakes import FakeTools, install_fakes

from hubfleet.deploy.crds import CRD_RESOURCE, ChartCrdsReader
from hubfleet.helm import crds as charts_crds
from hubfleet.helm.crds import DIGEST_ANNOTATION

CLUSTER = "crds"
DASK_CRD = "daskclusters.gateway.dask.org"
DASKHUBS = ("dask-staging", "dask-a", "dask-b")


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, age_key: Path) -> FakeTools:
    """The fake helm/kubectl/gcloud first on PATH, a private TMPDIR and HOME."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    tools = install_fakes(tmp_path)
    monkeypatch.setenv("PATH", tools.path)
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return tools


def deploy(
    run_cli: Any, layout: Path, report: Path, *more: str
) -> tuple[CliResult, dict[str, Any]]:
    result: CliResult = run_cli(
        "--repo", layout, "deploy", CLUSTER, "--report", report,
        "--progress", "plain", "--no-health-check", *more,
    )  # fmt: skip
    jobs = json.loads(report.read_text())["jobs"]
    return result, {j["hub_name"] or "support": j for j in jobs}


def crd_calls(fakes: FakeTools, verb: str) -> list[dict[str, Any]]:
    calls = fakes.calls("kubectl")
    if verb == "get":
        return [c for c in calls if c["argv"][:2] == ["get", CRD_RESOURCE]]
    return [c for c in calls if c["argv"][:1] == ["apply"]]


def upgrades(fakes: FakeTools) -> dict[str, dict[str, Any]]:
    calls = [c for c in fakes.calls("helm") if c["argv"][:1] == ["upgrade"]]
    return {c["argv"][c["argv"].index("--") + 1]: c for c in calls}


def applied_documents(fakes: FakeTools, call: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(fakes.stdin(call)) if d]


def test_dask_gateway_crds_are_applied_server_side_before_the_daskhub_upgrade(
    run_cli: Any, layout: Path, fakes: FakeTools, real_dask_chart_cache: Path, tmp_path: Path
) -> None:
    result, jobs = deploy(run_cli, layout, tmp_path / "report.json")
    assert result.exit_code == 0, result.output
    assert {j["status"] for j in jobs.values()} == {"succeeded"}

    [get] = crd_calls(fakes, "get")
    [apply] = crd_calls(fakes, "apply")  # once for the cluster, not once per daskhub hub
    names = get["argv"][get["argv"].index("--") + 1 :]
    assert DASK_CRD in names and "ingressroutes.traefik.io" in names
    assert len(names) == 11
    words = apply["argv"]
    assert words[:5] == ["apply", "--server-side", "--force-conflicts",
                         "--field-manager=hubfleet", "--filename=-"]  # fmt: skip
    for call in (get, apply):  # in the cluster's own credentials
        [kubeconfig] = [w for w in call["argv"] if w.startswith("--kubeconfig=")]
        assert f"/hubfleet-creds-{CLUSTER}-" in kubeconfig
        assert call["env"]["KUBECONFIG"] == kubeconfig.removeprefix("--kubeconfig=")
    for call in fakes.calls("kubectl"):  # never deleted, replaced or pruned
        assert not {"delete", "replace", "--prune"} & set(call["argv"]), call["argv"]
    documents = applied_documents(fakes, apply)
    assert sorted(d["metadata"]["name"] for d in documents) == sorted(names)
    assert all(d["kind"] == "CustomResourceDefinition" for d in documents)
    assert all(d["metadata"]["annotations"][DIGEST_ANNOTATION] for d in documents)

    # The order: the CRDs applied before any daskhub release is upgraded.
    helm = upgrades(fakes)
    assert sorted(helm) == sorted([*DASKHUBS, "plain", "support"])
    for hub in DASKHUBS:
        assert apply["end"] <= helm[hub]["start"], hub
    # Shown in the report: the canary applied them, the others say so.
    assert jobs["dask-staging"]["message"].startswith(
        "CRDs applied before the upgrade (server-side): "
    )
    assert DASK_CRD in jobs["dask-staging"]["message"]
    for hub in ("dask-a", "dask-b"):
        assert "CRDs as before crds/dask-staging's upgrade in this deploy" in jobs[hub]["message"]
    assert "CRD" not in jobs["plain"]["message"] + jobs["support"]["message"]
    assert "CRDs applied before the upgrade" in result.output  # the progress lines


def test_unchanged_crds_are_skipped_and_a_changed_one_alone_is_applied(
    run_cli: Any, layout: Path, fakes: FakeTools, real_dask_chart_cache: Path, tmp_path: Path
) -> None:
    result, _ = deploy(run_cli, layout, tmp_path / "first.json")
    assert result.exit_code == 0, result.output
    [apply] = crd_calls(fakes, "apply")
    live = applied_documents(fakes, apply)  # what the cluster now holds
    answer = {"apiVersion": "v1", "kind": "List", "items": live}
    fakes.script([{"tool": "kubectl", "args": ["get", CRD_RESOURCE], "stdout": json.dumps(answer)}])
    fakes.reset()

    result, jobs = deploy(run_cli, layout, tmp_path / "second.json")
    assert result.exit_code == 0, result.output
    assert len(crd_calls(fakes, "get")) == 1
    assert crd_calls(fakes, "apply") == []
    assert jobs["dask-staging"]["message"].startswith("CRDs unchanged (11)")
    assert len(upgrades(fakes)) == 5

    # One CRD changed in the cluster (by an older chart): that one alone is applied.
    live[0]["metadata"]["annotations"][DIGEST_ANNOTATION] = "sha256:older"
    changed = live[0]["metadata"]["name"]
    del live[1]["metadata"]["annotations"]  # one made by helm's first install
    first_install = live[1]["metadata"]["name"]
    fakes.script([{"tool": "kubectl", "args": ["get", CRD_RESOURCE], "stdout": json.dumps(answer)}])
    fakes.reset()
    result, jobs = deploy(run_cli, layout, tmp_path / "third.json")
    assert result.exit_code == 0, result.output
    [apply] = crd_calls(fakes, "apply")
    names = sorted(d["metadata"]["name"] for d in applied_documents(fakes, apply))
    assert names == sorted([changed, first_install])
    assert jobs["dask-staging"]["message"].startswith(
        f"CRDs applied before the upgrade (server-side): {', '.join(names)}; 9 unchanged"
    )


def test_a_single_crd_answer_is_read_too(
    run_cli: Any, layout: Path, fakes: FakeTools, real_dask_chart_cache: Path, tmp_path: Path
) -> None:
    """kubectl answers one object, not a List, when one name is found: read the same."""
    deploy(run_cli, layout, tmp_path / "first.json")
    [apply] = crd_calls(fakes, "apply")
    one = applied_documents(fakes, apply)[0]
    fakes.script([{"tool": "kubectl", "args": ["get", CRD_RESOURCE], "stdout": json.dumps(one)}])
    fakes.reset()
    result, _ = deploy(run_cli, layout, tmp_path / "second.json")
    assert result.exit_code == 0, result.output
    [apply] = crd_calls(fakes, "apply")
    names = {d["metadata"]["name"] for d in applied_documents(fakes, apply)}
    assert len(names) == 10 and one["metadata"]["name"] not in names


def test_dry_run_applies_with_the_server_dry_run_and_shows_it(
    run_cli: Any, layout: Path, fakes: FakeTools, real_dask_chart_cache: Path, tmp_path: Path
) -> None:
    result, jobs = deploy(run_cli, layout, tmp_path / "report.json", "--dry-run")
    assert result.exit_code == 0, result.output
    [apply] = crd_calls(fakes, "apply")
    assert "--dry-run=server" in apply["argv"]
    assert jobs["dask-staging"]["message"].startswith(
        "CRDs to apply before the upgrade (server dry run): "
    )
    assert "CRDs to apply before the upgrade (server dry run)" in result.output


def test_a_failed_crd_apply_fails_that_release_before_its_upgrade(
    run_cli: Any, layout: Path, fakes: FakeTools, real_dask_chart_cache: Path, tmp_path: Path
) -> None:
    fakes.script(
        [{"tool": "kubectl", "args": ["apply"], "exit": 1,
          "stderr": 'Error from server (Forbidden): customresourcedefinitions is forbidden\n'}]
    )  # fmt: skip
    result, jobs = deploy(run_cli, layout, tmp_path / "report.json")
    assert result.exit_code == 1, result.output
    canary = jobs["dask-staging"]
    assert canary["status"] == "failed"
    assert "CRDs of chart 'daskhub' before the upgrade" in canary["message"]
    assert "forbidden" in canary["message"] + canary.get("output_tail", "")
    assert "dask-staging" not in upgrades(fakes)  # never upgraded without its CRDs
    # A failed canary, like any other: the production hubs are skipped.
    for hub in ("dask-a", "dask-b", "plain"):
        assert jobs[hub]["status"] == "skipped", jobs[hub]
    assert jobs["support"]["status"] == "succeeded"


def test_skip_crds_leaves_a_charts_crds_to_helm(
    run_cli: Any, layout: Path, fakes: FakeTools, real_dask_chart_cache: Path, tmp_path: Path
) -> None:
    (layout / "hubfleet.yaml").write_text("deploy:\n  skip_crds: [daskhub]\n")
    result, jobs = deploy(run_cli, layout, tmp_path / "report.json")
    assert result.exit_code == 0, result.output
    assert crd_calls(fakes, "get") == [] and crd_calls(fakes, "apply") == []
    assert jobs["dask-a"]["message"].startswith(
        "11 CRD(s) of chart daskhub left to helm (deploy.skip_crds)"
    )
    assert len(upgrades(fakes)) == 5


def test_skip_crds_names_charts(run_cli: Any, layout: Path) -> None:
    (layout / "hubfleet.yaml").write_text("deploy:\n  skip_crds: [../daskhub]\n")
    result: CliResult = run_cli("--repo", layout, "list")
    assert result.exit_code == 2
    assert "hubfleet.yaml:2" in result.output and "skip_crds" in result.output


def test_the_releases_that_start_together_read_a_charts_crds_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The jobs of a deploy start together: they wait for one read of a chart's CRDs
    (through the embedded engine, tens of milliseconds) instead of each reading it."""
    reads: list[Path] = []
    started = threading.Barrier(8)

    def slow_read(chart: Path, shown: str) -> charts_crds.ChartCrds:
        reads.append(chart)
        time.sleep(0.2)  # long enough for every other thread to ask meanwhile
        return charts_crds.ChartCrds(crds=())

    monkeypatch.setattr(charts_crds, "chart_crds", slow_read)
    reader = ChartCrdsReader()

    def ask() -> None:
        started.wait()
        reader.of(tmp_path / "daskhub", "'daskhub'")

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert reads == [tmp_path / "daskhub"]
