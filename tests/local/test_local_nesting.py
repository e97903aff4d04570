"""The local provider reads a hub's z2jh values where hubfleet.yaml's `z2jh_values_keys`
says (`hubfleet.helm.nesting`), as the deploy, the health check's `hub_values` and
`new hub` do; it read only the chart's dependencies (`deploy/local.py`).

The JupyterHub process is not started: `deploy_hub` is replaced by one that keeps the
spec the local backend built, and the test reads the values the hub would run with."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hubfleet.deploy import local
from hubfleet.local.runtime import LocalDeployResult, LocalHubSpec, values_for_hub
from tests.local.hubs import free_base_port, wrapper_chart


@pytest.fixture
def specs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[LocalHubSpec]:
    seen: list[LocalHubSpec] = []

    def fake_deploy_hub(spec: LocalHubSpec, **_: Any) -> LocalDeployResult:
        seen.append(spec)
        url = f"http://127.0.0.1:{spec.base_port}/"
        log = tmp_path / "hub.log"
        return LocalDeployResult(spec.cluster, spec.hub, "succeeded", url, 1, 1, log, (), "", 0.0)

    monkeypatch.setattr(local, "deploy_hub", fake_deploy_hub)
    return seen


def _hub(fleet: Path, chart: str, values: dict[str, Any]) -> None:
    folder = fleet / "config/clusters/local"
    (folder / "nested.values.yaml").write_text(yaml.safe_dump(values))
    cluster = yaml.safe_load((folder / "cluster.yaml").read_text())
    cluster["local"]["base_port"] = free_base_port()
    cluster["hubs"] = [
        {
            "name": "nested",
            "domain": "nested.local.example.org",
            "helm_chart": chart,
            "staging": False,
            "helm_chart_values_files": ["nested.values.yaml"],
        }
    ]
    (folder / "cluster.yaml").write_text(yaml.safe_dump(cluster, sort_keys=False))


def _renamed_wrapper(fleet: Path) -> None:
    """helm-charts/renamed: wraps the test chart under the name `hubchart`, which the
    chart's dependencies do not tell as z2jh (only hubfleet.yaml can say it)."""
    wrapper_chart(fleet)
    renamed = fleet / "helm-charts/renamed"
    shutil.move(fleet / "helm-charts/wrapper", renamed)
    shutil.move(renamed / "charts/jupyterhub", renamed / "charts/hubchart")
    inner = renamed / "charts/hubchart/Chart.yaml"
    inner.write_text(yaml.safe_dump({**yaml.safe_load(inner.read_text()), "name": "hubchart"}))
    version = yaml.safe_load(inner.read_text())["version"]
    (renamed / "Chart.yaml").write_text(
        "apiVersion: v2\nname: renamed\nversion: 1.0.0\n"
        f"dependencies:\n- name: hubchart\n  version: {version}\n"
    )
    (renamed / "values.yaml").write_text("hubchart: {}\n")


def _setting(fleet: Path, keys: dict[str, str]) -> None:
    path = fleet / "hubfleet.yaml"
    settings = yaml.safe_load(path.read_text()) if path.is_file() else None
    path.write_text(yaml.safe_dump({**(settings or {}), "z2jh_values_keys": keys}))


def _deployed(fleet: Path, run_cli: Callable[..., Any], specs: list[LocalHubSpec]) -> Any:
    result = run_cli("--repo", fleet, "deploy", "local", "--progress", "plain")
    assert result.exit_code == 0, result.output
    [spec] = specs
    return spec, values_for_hub(spec)


VALUES = {
    "hubchart": {"hub": {"baseUrl": "/nested/"}},
    "hub": {"baseUrl": "/top/"},  # the same key at the top: not z2jh's when nested
}


def test_the_fleet_setting_places_the_values(
    fleet_copy: Path, run_cli: Callable[..., Any], specs: list[LocalHubSpec]
) -> None:
    _renamed_wrapper(fleet_copy)
    _hub(fleet_copy, "renamed", VALUES)
    _setting(fleet_copy, {"renamed": "hubchart"})
    spec, values = _deployed(fleet_copy, run_cli, specs)
    assert spec.values_key == "hubchart"
    assert values["hub"]["baseUrl"] == "/nested/"


def test_without_the_setting_the_charts_dependencies_decide(
    fleet_copy: Path, run_cli: Callable[..., Any], specs: list[LocalHubSpec]
) -> None:
    """The bypass: the chart does not say it wraps z2jh, so its values are at the top."""
    _renamed_wrapper(fleet_copy)
    _hub(fleet_copy, "renamed", VALUES)
    spec, values = _deployed(fleet_copy, run_cli, specs)
    assert spec.values_key is None
    assert values["hub"]["baseUrl"] == "/top/"


def test_the_setting_wins_over_the_dependencies(
    fleet_copy: Path, run_cli: Callable[..., Any], specs: list[LocalHubSpec]
) -> None:
    """A wrapper whose dependency is `jupyterhub`, set to the top by hubfleet.yaml."""
    wrapper_chart(fleet_copy)
    _hub(fleet_copy, "wrapper", {"jupyterhub": {"hub": {"baseUrl": "/nested/"}}, **VALUES})
    _setting(fleet_copy, {"wrapper": ""})
    spec, values = _deployed(fleet_copy, run_cli, specs)
    assert spec.values_key is None
    assert values["hub"]["baseUrl"] == "/top/"
