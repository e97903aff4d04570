"""validate renders each release once: the service-account check of a hub with a cloud
identity (terraform `hub_access`, issue 24 point 3) and the hub's own release check
share one render (issue 23: validate rendered those hubs twice)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from hubfleet.helm import engine
from hubfleet.validate.run import Selection, validate

CLUSTER = "tf-nesting"


def count_renders(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    renders: Counter[str] = Counter()
    original = engine.render

    def counting(chart: Any, values: Any, *, release: str, namespace: str) -> Any:
        renders[release] += 1
        return original(chart, values, release=release, namespace=namespace)

    monkeypatch.setattr(engine, "render", counting)
    return renders


def test_a_hub_with_a_cloud_identity_is_rendered_once(
    layout: Path, real_dask_chart_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster_yaml = layout / "config" / "clusters" / CLUSTER / "cluster.yaml"
    hub_access = yaml.safe_load(cluster_yaml.read_text())["terraform"]["hub_access"]
    assert {"staging", "dask"} <= set(hub_access)  # both get the service-account check
    renders = count_renders(monkeypatch)
    result = validate(layout, selection=Selection(cluster=CLUSTER))
    assert [p.render() for p in result.problems if p.severity == "error"] == []
    assert f"{CLUSTER}/staging" in result.rendered and f"{CLUSTER}/dask" in result.rendered
    assert renders["staging"] == 1 and renders["dask"] == 1, renders


def test_the_check_still_decides_from_the_render(
    layout: Path, real_dask_chart_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bypass: the kept render is the hub's own (basehub's account turned off is
    still the alarm), and the hub is still rendered once."""
    values = layout / "config" / "clusters" / CLUSTER / "staging.values.yaml"
    data = yaml.safe_load(values.read_text())
    data["userServiceAccount"] = {"enabled": False}
    values.write_text(yaml.safe_dump(data))
    renders = count_renders(monkeypatch)
    result = validate(layout, selection=Selection(cluster=CLUSTER))
    alarms = [p.render() for p in result.problems if "nothing creates" in p.message]
    assert len(alarms) == 1 and "the chart of staging does not create it" in alarms[0]
    assert renders["staging"] == 1, renders
