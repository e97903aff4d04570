"""Where a hub's chart keeps z2jh's keys: hubfleet.yaml's `z2jh_values_keys` wins over
what the chart's dependencies say."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hubfleet.community.model import communities
from hubfleet.config.load import load_fleet
from hubfleet.helm.nesting import z2jh_values_key

LAYOUT = Path(__file__).parents[1] / "fixtures" / "layout2i2c" / "fleet"


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    target = tmp_path / "fleet"
    shutil.copytree(LAYOUT, target, symlinks=False)
    return target


def _keys(root: Path) -> dict[tuple[str, str], tuple[str | int, ...]]:
    fleet = load_fleet(root).fleet_or_raise()
    return {
        (hub.helm_chart, f"{cluster.name}/{hub.name}"): z2jh_values_key(fleet, hub)
        for cluster in fleet.clusters
        for hub in cluster.hubs
    }


def test_read_from_the_charts_dependencies(layout: Path) -> None:
    keys = _keys(layout)
    charts = {chart: key for (chart, _), key in keys.items()}
    assert charts["basehub"] == ("jupyterhub",)
    assert charts["daskhub"] == ("basehub", "jupyterhub")


def test_the_fleet_setting_wins(layout: Path) -> None:
    with (layout / "hubfleet.yaml").open("a") as handle:
        handle.write("z2jh_values_keys:\n  basehub: ''\n  daskhub: hub.jupyterhub\n")
    charts = {chart: key for (chart, _), key in _keys(layout).items()}
    assert charts["basehub"] == ()
    assert charts["daskhub"] == ("hub", "jupyterhub")


def test_a_bad_setting_is_a_schema_error(layout: Path) -> None:
    with (layout / "hubfleet.yaml").open("a") as handle:
        handle.write("z2jh_values_keys:\n  basehub: 'jupyterhub..x'\n")
    problems = load_fleet(layout).problems
    assert any("is not a dotted values key" in p.message for p in problems), problems


def test_the_example_fleet_keeps_z2jh_at_the_top(example_fleet: Path) -> None:
    fleet = load_fleet(example_fleet).fleet_or_raise()
    assert {c.policy.nesting for c in communities(fleet)} == {()}
