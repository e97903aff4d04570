"""A local hub starts from its chart's default values, as on Kubernetes (the real z2jh
chart), the hub's files over them; without the chart it runs on its files alone and
says so in one line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from traitlets.config import Config

from hubfleet.config.charts import ChartSource
from hubfleet.helm.charts import ChartResolver
from hubfleet.local import LocalHubSpec, hub_status, hubconfig
from hubfleet.local.fleet import over_chart_defaults
from hubfleet.local.runtime import values_for_hub
from tests.local.hubs import cleaned, free_base_port

# Among the slowest files of the suite: scripts/test -m "not slow" leaves it out.
pytestmark = pytest.mark.slow

Z2JH = ChartSource("jupyterhub", repository="https://hub.jupyter.org/helm-chart/", version="4.2.0")
RUNTIME = {
    "hub_dir": "/state/hub",
    "port": 18000,
    "hub_port": 40001,
    "proxy_api_port": 40002,
    "proxy_command": ["/bin/chp"],
    "service_token": "tok-123456",
    "check_user": "hubfleet-health-check",
}


def configured(spec: LocalHubSpec) -> Config:
    c = Config()
    hubconfig.configure(c, {"values": values_for_hub(spec), "runtime": RUNTIME})
    return c


def test_the_real_chart_defaults_are_under_the_hub_values(real_chart_cache: Path) -> None:
    values = {
        "singleuser": {"startTimeout": 60, "image": {"name": "jupyter/base-notebook"}},
        "hub": {"concurrentSpawnLimit": None},  # an explicit null removes the default
        "proxy": {"https": {"enabled": False}},
    }
    chart_values, warning = over_chart_defaults(Z2JH, values)
    assert warning == "" and chart_values is not None
    spec = LocalHubSpec("demo", "hub", values, Path("/state"), chart_values=chart_values)
    c = configured(spec)
    # z2jh's defaults, not JupyterHub's own (start_timeout 60, failure limit 0, spawn limit 100)
    assert c.Spawner.consecutive_failure_limit == 5
    assert "active_server_limit" not in c.JupyterHub  # null in the chart: not set
    assert c.Spawner.cmd == "jupyterhub-singleuser"
    assert c.JupyterHub.allow_named_servers is False
    # The hub's files win over the chart, a null removes the chart's value.
    assert c.Spawner.start_timeout == 60
    assert "concurrent_spawn_limit" not in c.JupyterHub
    # z2jh's culler defaults (every 600 s) where the files say nothing.
    culler = next(s for s in c.JupyterHub.services if s["name"] == "jupyterhub-idle-culler")
    assert "--cull-every=600" in culler["command"] and "--timeout=3600" in culler["command"]
    # The ignored keys are those the hub's files set, not every key of the chart.
    assert hubconfig.ignored_keys(values) == ("proxy", "singleuser.image")

    defaults, _ = over_chart_defaults(Z2JH, {})
    c = configured(LocalHubSpec("demo", "hub", {}, Path("/state"), chart_values=defaults))
    assert c.Spawner.start_timeout == 300 and c.JupyterHub.concurrent_spawn_limit == 64
    assert c.JupyterHub.admin_access is True


def test_a_wrapper_chart_gets_its_subchart_defaults_under_its_key(fleet_copy: Path) -> None:
    wrapper = fleet_copy / "helm-charts/wrapper"
    inner = wrapper / "charts/jupyterhub"
    inner.mkdir(parents=True)
    (inner / "Chart.yaml").write_text("apiVersion: v2\nname: jupyterhub\nversion: 1.0.0\n")
    (inner / "values.yaml").write_text(
        "hub:\n  concurrentSpawnLimit: 7\nsingleuser:\n  startTimeout: 123\n"
    )
    (wrapper / "Chart.yaml").write_text(
        "apiVersion: v2\nname: wrapper\nversion: 1.0.0\n"
        "dependencies:\n- name: jupyterhub\n  version: 1.0.0\n"
    )
    (wrapper / "values.yaml").write_text("jupyterhub:\n  singleuser:\n    startTimeout: 99\n")
    source = ChartSource("wrapper", local_dir=wrapper)
    values = {"jupyterhub": {"hub": {"baseUrl": "/w/"}}}
    chart_values, warning = over_chart_defaults(source, values)
    assert warning == ""
    spec = LocalHubSpec(
        "demo", "hub", values, Path("/state"), values_key="jupyterhub", chart_values=chart_values
    )
    c = configured(spec)
    assert c.JupyterHub.concurrent_spawn_limit == 7  # the subchart's default
    assert c.Spawner.start_timeout == 99  # the wrapper's value for its subchart wins
    assert c.JupyterHub.base_url == "/w/"


def test_without_the_chart_the_hub_runs_on_its_values_and_says_so(
    fleet_copy: Path, run_cli: Callable[..., Any], tmp_path: Path, monkeypatch: Any
) -> None:
    # A remote chart that cannot be pulled (nothing listens there), none in the cache.
    monkeypatch.setenv("HUBFLEET_CHART_CACHE", str(tmp_path / "empty-cache"))
    port = free_base_port(1)
    hubfleet_yaml = fleet_copy / "hubfleet.yaml"
    settings = yaml.safe_load(hubfleet_yaml.read_text())
    settings["charts"]["unreachable"] = {
        "repository": f"http://127.0.0.1:{port}/charts/",
        "version": "9.9.9",
    }
    hubfleet_yaml.write_text(yaml.safe_dump(settings))
    chart_values, warning = over_chart_defaults(
        ChartSource("unreachable", repository=f"http://127.0.0.1:{port}/charts/", version="9.9.9"),
        {},
    )
    assert chart_values is None
    assert warning.startswith("warning: chart unreachable not available, the hub runs without")
    assert "\n" not in warning

    folder = fleet_copy / "config/clusters/local"
    cluster = yaml.safe_load((folder / "cluster.yaml").read_text())
    cluster["local"]["base_port"] = free_base_port()
    cluster["hubs"] = [{**cluster["hubs"][1], "helm_chart": "unreachable", "staging": False}]
    (folder / "cluster.yaml").write_text(yaml.safe_dump(cluster, sort_keys=False))
    report = tmp_path / "report.json"
    state = fleet_copy / ".hubfleet/local/local"
    with cleaned(state):
        result = run_cli(
            "--repo", fleet_copy, "deploy", "local", "--progress", "plain", "--report", report
        )
        assert result.exit_code == 0, result.output
        assert "warning: chart unreachable not available" in result.output
        [status] = hub_status(state)
        assert status.running


def test_a_deploys_resolver_tries_an_unavailable_chart_once_for_all_its_hubs(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """The deploy hands its one ChartResolver to the local backend: the second hub on
    the same unreachable chart gets the same warning without another pull."""
    monkeypatch.setenv("HUBFLEET_CHART_CACHE", str(tmp_path / "empty-cache"))
    port = free_base_port(1)
    source = ChartSource(
        "unreachable", repository=f"http://127.0.0.1:{port}/charts/", version="9.9.9"
    )
    charts = ChartResolver()
    first = over_chart_defaults(source, {}, charts=charts)
    second = over_chart_defaults(source, {"hub": {}}, charts=charts)
    assert first[0] is None and second[0] is None
    assert second[1] == first[1] and first[1].startswith("warning: chart unreachable not available")
    assert charts.pull_attempts == 1
