"""Where a hub chart keeps the JupyterHub chart's values (wrapper charts such as basehub)."""

from __future__ import annotations

from pathlib import Path

from hubfleet.config.charts import ChartSource
from hubfleet.helm.charts import jupyterhub_values_key

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _chart(folder: Path, name: str, dependencies: str = "") -> Path:
    folder.mkdir(parents=True)
    text = f"apiVersion: v2\nname: {name}\nversion: 1.0.0\n"
    if dependencies:
        text += "dependencies:\n" + dependencies
    (folder / "Chart.yaml").write_text(text)
    return folder


def _key(folder: Path) -> str | None:
    return jupyterhub_values_key(ChartSource(folder.name, local_dir=folder))


def test_charts_shaped_like_z2jh_are_read_at_the_top(tmp_path: Path) -> None:
    assert _key(FIXTURES / "charts/testhub") is None
    assert _key(_chart(tmp_path / "jupyterhub", "jupyterhub")) is None
    assert (
        jupyterhub_values_key(ChartSource("jupyterhub", repository="https://x", version="4"))
        is None
    )
    assert _key(tmp_path / "missing") is None


def test_wrapper_chart(tmp_path: Path) -> None:
    basehub = _chart(
        tmp_path / "basehub",
        "basehub",
        "- name: jupyterhub\n  version: 4.0.0\n  repository: https://hub.jupyter.org/helm-chart/\n",
    )
    assert _key(basehub) == "jupyterhub"
    aliased = _chart(
        tmp_path / "aliased", "aliased", "- name: jupyterhub\n  alias: jh\n  version: 4.0.0\n"
    )
    assert _key(aliased) == "jh"


def test_chart_wrapping_a_wrapper(tmp_path: Path) -> None:
    _chart(tmp_path / "basehub", "basehub", "- name: jupyterhub\n  version: 4.0.0\n")
    daskhub = _chart(
        tmp_path / "daskhub",
        "daskhub",
        "- name: dask-gateway\n  version: 1.0.0\n"
        "- name: basehub\n  version: 1.0.0\n  repository: file://../basehub\n",
    )
    assert _key(daskhub) == "basehub.jupyterhub"
    # The same dependency unpacked into charts/ instead of file://
    outer = _chart(tmp_path / "outer", "outer", "- name: inner\n  alias: wrapped\n")
    _chart(outer / "charts/inner", "inner", "- name: jupyterhub\n  version: 4.0.0\n")
    assert _key(outer) == "wrapped.jupyterhub"
