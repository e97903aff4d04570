"""The stateful fake helm: releases with revisions per cluster, helm's JSON shapes,
failures on demand that leave the state as helm would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hubfleet.base.redact import Redactor
from hubfleet.base.runner import ProgramFailed, run
from tests.fakes import FakeTools, install_fakes
from tests.fakes.helmstate import HelmState, cluster_of


@pytest.fixture
def fakes(tmp_path: Path) -> FakeTools:
    fakes = install_fakes(tmp_path, ("helm",))
    fakes.script([], helm_state=tmp_path / "clusters")
    return fakes


def helm(fakes: FakeTools, *args: str, context: str = "c1") -> str:
    words = ["helm", args[0], f"--kube-context={context}", *args[1:]]
    return run(words, redactor=Redactor(), env=fakes.env()).stdout


def as_json(text: str) -> Any:
    return json.loads(text)


def upgrade(fakes: FakeTools, chart: Path, *extra: str, name: str = "hub-a") -> str:
    return helm(
        fakes, "upgrade", "--install", f"--namespace={name}", *extra, "--", name, str(chart)
    )


@pytest.fixture
def chart(tmp_path: Path) -> Path:
    folder = tmp_path / "mychart"
    folder.mkdir()
    (folder / "Chart.yaml").write_text(
        "apiVersion: v2\nname: mychart\nversion: 1.2.3\nappVersion: '4.5'\n"
    )
    return folder


def test_install_then_upgrade_keeps_revisions(fakes: FakeTools, chart: Path) -> None:
    out = upgrade(fakes, chart)
    assert 'Release "hub-a" does not exist. Installing it now.' in out
    assert "REVISION: 1" in out
    out = upgrade(fakes, chart, "--description=hubfleet/1 commit=x")
    assert "has been upgraded" in out and "REVISION: 2" in out
    [entry] = as_json(helm(fakes, "list", "--all-namespaces", "--all", "--output=json"))
    assert entry["name"] == "hub-a" and entry["namespace"] == "hub-a"
    assert entry["revision"] == "2"  # a string, as helm 3 prints it
    assert entry["chart"] == "mychart-1.2.3" and entry["app_version"] == "4.5"
    assert entry["status"] == "deployed"
    assert entry["updated"].endswith(" +0000 UTC")
    history = as_json(helm(fakes, "history", "hub-a", "--namespace=hub-a", "--output=json"))
    assert [(h["revision"], h["status"], h["description"]) for h in history] == [
        (1, "superseded", "Install complete"),
        (2, "deployed", "hubfleet/1 commit=x"),
    ]
    assert history[0]["updated"].endswith("Z") and "T" in history[0]["updated"]
    assert sorted(history[0]) == [
        "app_version", "chart", "description", "revision", "status", "updated",
    ]  # fmt: skip


def test_clusters_are_separate(fakes: FakeTools, chart: Path) -> None:
    upgrade(fakes, chart)
    assert as_json(helm(fakes, "list", "-A", "--output=json", context="c2")) == []
    assert len(as_json(helm(fakes, "list", "-A", "--output=json", context="c1"))) == 1


def test_cluster_is_read_from_hubfleets_private_kubeconfig_folder() -> None:
    folder = "/tmp/hubfleet-creds-alpha-x_a9b0c1.123.456.0123abcd.4026531836.89abcdef"
    assert cluster_of({}, {"KUBECONFIG": f"{folder}/kubeconfig"}) == "alpha"
    assert cluster_of({"--kubeconfig": [f"{folder}/kubeconfig"]}, {}) == "alpha"
    assert cluster_of({}, {"KUBECONFIG": "/other/kc"}) == "/other/kc"
    assert cluster_of({}, {}) == "default"


def test_failed_upgrade_leaves_a_failed_revision(
    fakes: FakeTools, chart: Path, tmp_path: Path
) -> None:
    upgrade(fakes, chart)
    fakes.script(
        [
            {
                "tool": "helm",
                "args": ["upgrade"],
                "exit": 1,
                "stderr": "Error: UPGRADE FAILED: boom\n",
            }
        ],
        helm_state=tmp_path / "clusters",
    )
    with pytest.raises(ProgramFailed) as failed:
        upgrade(fakes, chart, "--description=mine")
    assert "boom" in failed.value.stderr
    history = as_json(helm(fakes, "history", "hub-a", "-n", "hub-a", "-o", "json"))
    assert [(h["revision"], h["status"]) for h in history] == [(1, "deployed"), (2, "failed")]
    assert history[1]["description"] == 'Upgrade "hub-a" failed: UPGRADE FAILED: boom'
    [entry] = as_json(helm(fakes, "list", "-A", "--output=json"))  # failed ones are listed
    assert entry["status"] == "failed" and entry["revision"] == "2"


def test_failed_first_install(fakes: FakeTools, chart: Path, tmp_path: Path) -> None:
    fakes.script(
        [{"args": ["upgrade"], "exit": 1, "stderr": "Error: nope\n"}],
        helm_state=tmp_path / "clusters",
    )
    with pytest.raises(ProgramFailed):
        upgrade(fakes, chart)
    state = HelmState(tmp_path / "clusters")
    latest = state.latest("c1", "hub-a", "hub-a")
    assert latest is not None
    assert latest["status"] == "failed" and latest["description"] == 'Release "hub-a" failed: nope'


def test_rollback_and_uninstall(fakes: FakeTools, chart: Path) -> None:
    upgrade(fakes, chart, "--values=/dev/null")
    upgrade(fakes, chart, "--description=second")
    assert "Rollback was a success" in helm(fakes, "rollback", "hub-a", "1", "--namespace=hub-a")
    history = as_json(helm(fakes, "history", "hub-a", "--namespace=hub-a", "--output=json"))
    assert [(h["revision"], h["status"], h["description"]) for h in history] == [
        (1, "superseded", "Install complete"),
        (2, "superseded", "second"),
        (3, "deployed", "Rollback to 1"),
    ]
    # No revision: back to the previous one.
    helm(fakes, "rollback", "hub-a", "--namespace=hub-a")
    assert (
        as_json(helm(fakes, "history", "hub-a", "-n", "hub-a", "-o", "json"))[-1]["description"]
        == "Rollback to 2"
    )
    helm(fakes, "uninstall", "hub-a", "--namespace=hub-a", "--keep-history")
    assert as_json(helm(fakes, "list", "-A", "--all", "--output=json")) == []
    [kept] = as_json(helm(fakes, "list", "-A", "--uninstalled", "--output=json"))
    assert kept["status"] == "uninstalled"
    helm(fakes, "upgrade", "--install", "--namespace=hub-b", "--", "hub-b", str(chart))
    helm(fakes, "uninstall", "hub-b", "--namespace=hub-b")
    with pytest.raises(ProgramFailed) as failed:
        helm(fakes, "uninstall", "hub-b", "--namespace=hub-b")
    assert "not found" in failed.value.stderr
    with pytest.raises(ProgramFailed):
        helm(fakes, "history", "hub-b", "--namespace=hub-b", "--output=json")


def test_list_filters_namespaces_and_default_statuses(
    fakes: FakeTools, chart: Path, tmp_path: Path
) -> None:
    state = HelmState(tmp_path / "clusters")
    upgrade(fakes, chart, name="hub-a")
    upgrade(fakes, chart, name="hub-b")
    state.seed("c1", "stuck", "stuck", status="pending-upgrade")
    names = lambda *a: sorted(e["name"] for e in as_json(helm(fakes, "list", *a, "--output=json")))  # noqa: E731
    assert names("-A") == ["hub-a", "hub-b"]  # pending ones only with --all or --pending
    assert names("-A", "--all") == ["hub-a", "hub-b", "stuck"]
    assert names("--namespace=hub-b") == ["hub-b"]
    assert names("-A", "--filter=^(hub-a)$") == ["hub-a"]
    with pytest.raises(ProgramFailed) as failed:
        helm(fakes, "upgrade", "--install", "--namespace=stuck", "--", "stuck", str(chart))
    assert "another operation" in failed.value.stderr


def test_labels_merge_and_selector(fakes: FakeTools, chart: Path, tmp_path: Path) -> None:
    upgrade(fakes, chart, "--labels=hubfleet=1,team=a")
    upgrade(fakes, chart, "--labels=team=null")  # helm merges labels; null unsets
    latest = HelmState(tmp_path / "clusters").latest("c1", "hub-a", "hub-a")
    assert latest is not None and latest["labels"] == {"hubfleet": "1"}
    assert len(as_json(helm(fakes, "list", "-A", "--selector=hubfleet=1", "--output=json"))) == 1
    assert as_json(helm(fakes, "list", "-A", "--selector=hubfleet=2", "--output=json")) == []


def test_values_and_manifest_are_kept(fakes: FakeTools, chart: Path, tmp_path: Path) -> None:
    values = tmp_path / "v.yaml"
    values.write_text("answer: 42\n")
    upgrade(fakes, chart, f"--values={values}")
    assert "answer: 42" in helm(fakes, "get", "values", "hub-a", "--namespace=hub-a")
    manifest = helm(fakes, "get", "manifest", "hub-a", "--namespace=hub-a", "--revision=1")
    assert "kind: ConfigMap" in manifest
    status = as_json(helm(fakes, "status", "hub-a", "--namespace=hub-a", "--output=json"))
    assert status["info"]["status"] == "deployed" and status["version"] == 1
    assert status["chart"]["metadata"]["name"] == "mychart"


def test_dry_run_changes_nothing(fakes: FakeTools, chart: Path) -> None:
    upgrade(fakes, chart, "--dry-run=server")
    assert as_json(helm(fakes, "list", "-A", "--all", "--output=json")) == []


def test_without_helm_state_the_fake_is_stateless(tmp_path: Path, chart: Path) -> None:
    fakes = install_fakes(tmp_path, ("helm",))
    assert upgrade(fakes, chart) == ""
    assert helm(fakes, "list", "-A", "--output=json") == ""
