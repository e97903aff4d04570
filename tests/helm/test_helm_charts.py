"""Chart resolution: local folders, the chart cache, unreachable repositories."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from tests.helpers import silent_server

from hubfleet.base.errors import ChartError
from hubfleet.helm.charts import (
    ChartResolver,
    ChartSource,
    cached_chart_paths,
    chart_cache_dir,
    resolve_chart,
    sanitize_repository,
)
from hubfleet.helm.engine import render

CHARTS = Path(__file__).parents[1] / "fixtures" / "charts"
UNREACHABLE = "http://127.0.0.1:9/charts"


def test_local_chart_resolves_to_its_build_of_the_files_read(tmp_path: Path) -> None:
    """A local chart reaches the engine (and helm) only as its build in the cache,
    written from the files read confined to the repository, never the working tree."""
    source = ChartSource("testhub", local_dir=CHARTS / "testhub")
    built = resolve_chart(source, cache_dir=tmp_path)
    assert built.parent == tmp_path / "built"
    assert (built / "Chart.yaml").read_bytes() == (CHARTS / "testhub/Chart.yaml").read_bytes()
    assert not any(path.is_symlink() for path in built.rglob("*"))


def test_local_chart_missing_folder_or_chart_yaml(tmp_path: Path) -> None:
    with pytest.raises(ChartError, match="does not exist"):
        resolve_chart(ChartSource("nope", local_dir=tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ChartError, match=r"no Chart\.yaml"):
        resolve_chart(ChartSource("empty", local_dir=tmp_path / "empty"))


def test_local_chart_with_dependency_missing_from_charts(tmp_path: Path) -> None:
    """A dependency not in charts/ is built from the cache; when it is not there either
    (and cannot be pulled), the error names it at its line of the Chart.yaml."""
    with pytest.raises(ChartError) as caught:
        resolve_chart(
            ChartSource("missingdep", local_dir=CHARTS / "broken" / "missingdep"),
            cache_dir=tmp_path,
            allow_pull=False,
        )
    assert caught.value.message == (
        "chart 'missingdep': dependency extras 0.1.0 from https://charts.example.invalid "
        "is not in the chart cache and pulling is disabled"
    )
    assert caught.value.path is not None and caught.value.path.endswith("missingdep/Chart.yaml")
    assert caught.value.line == 6
    expected = tmp_path / "charts.example.invalid" / "extras-0.1.0.tgz"
    assert caught.value.hint is not None and str(expected) in caught.value.hint


def test_neither_local_nor_remote() -> None:
    with pytest.raises(ChartError) as caught:
        resolve_chart(ChartSource("ghost"))
    assert "neither a local chart folder nor a remote chart" in caught.value.message


def test_cache_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBFLEET_CHART_CACHE", str(tmp_path / "cache"))
    assert chart_cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("HUBFLEET_CHART_CACHE")
    assert chart_cache_dir().parts[-2:] == ("hubfleet", "charts")


def test_sanitize_repository() -> None:
    assert (
        sanitize_repository("https://hub.jupyter.org/helm-chart/") == "hub.jupyter.org_helm-chart"
    )
    assert sanitize_repository("oci://ghcr.io/org/charts") == "oci_ghcr.io_org_charts"


def test_cached_archive_is_used_without_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import helm_python

    cache = tmp_path / "cache"
    monkeypatch.setenv("HUBFLEET_CHART_CACHE", str(cache))
    source = ChartSource("testhub", repository=UNREACHABLE, version="0.1.0")
    archive, _expanded = cached_chart_paths(source)
    archive.parent.mkdir(parents=True)
    packaged = Path(helm_python.package(CHARTS / "testhub", destination=archive.parent))
    assert packaged == archive
    assert resolve_chart(source, allow_pull=False) == archive
    manifests = render(archive, {}, release="a", namespace="a")
    assert "testhub/templates/deployment.yaml" in manifests
    assert "testhub/charts/extras/templates/configmap.yaml" in manifests


def test_cached_expanded_folder_is_used(tmp_path: Path) -> None:
    source = ChartSource("testhub", repository="oci://registry.invalid/charts", version="0.1.0")
    _archive, expanded = cached_chart_paths(source, tmp_path)
    shutil.copytree(CHARTS / "testhub", expanded)
    assert resolve_chart(source, cache_dir=tmp_path, allow_pull=False) == expanded


def test_not_cached_and_pull_disabled(tmp_path: Path) -> None:
    source = ChartSource(
        "jupyterhub", repository="https://hub.jupyter.org/helm-chart/", version="4.0.0"
    )
    with pytest.raises(ChartError) as caught:
        resolve_chart(source, cache_dir=tmp_path, allow_pull=False)
    assert "pulling is disabled" in caught.value.message
    expected = tmp_path / "hub.jupyter.org_helm-chart" / "jupyterhub-4.0.0.tgz"
    assert caught.value.hint is not None
    assert str(expected) in caught.value.hint
    assert "HUBFLEET_CHART_CACHE" in caught.value.hint


def test_unreachable_repository_fails_fast_and_clearly(tmp_path: Path) -> None:
    source = ChartSource("jupyterhub", repository=UNREACHABLE, version="4.0.0")
    started = time.monotonic()
    with pytest.raises(ChartError) as caught:
        resolve_chart(source, cache_dir=tmp_path, timeout=10)
    elapsed = time.monotonic() - started
    assert elapsed < 10
    message = caught.value.message
    assert message.startswith(f"chart jupyterhub 4.0.0 from {UNREACHABLE}: ")
    assert "pull" in message
    assert caught.value.hint is not None and "jupyterhub-4.0.0.tgz" in caught.value.hint
    # Nothing half-written is left in the cache.
    assert list((tmp_path / sanitize_repository(UNREACHABLE)).iterdir()) == []


def test_unreachable_oci_registry_fails_clearly(tmp_path: Path) -> None:
    source = ChartSource("jupyterhub", repository="oci://127.0.0.1:9/charts", version="4.0.0")
    with pytest.raises(ChartError, match=r"cannot pull|timed out"):
        resolve_chart(source, cache_dir=tmp_path, timeout=10)


def test_hanging_repository_times_out(tmp_path: Path) -> None:
    """A local server that accepts connections and never answers."""
    with silent_server() as (port, _held):
        source = ChartSource("jupyterhub", repository=f"http://127.0.0.1:{port}/", version="4.0.0")
        started = time.monotonic()
        with pytest.raises(ChartError) as caught:
            resolve_chart(source, cache_dir=tmp_path, timeout=0.5)
    assert time.monotonic() - started < 5
    assert "pull timed out after 0.5s" in caught.value.message
    assert caught.value.hint is not None and "jupyterhub-4.0.0.tgz" in caught.value.hint


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_offline_never_pulls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("HUBFLEET_OFFLINE", value)
    source = ChartSource("jupyterhub", repository=UNREACHABLE, version="4.0.0")
    resolver = ChartResolver(cache_dir=tmp_path, timeout=30)
    started = time.monotonic()
    with pytest.raises(ChartError) as caught:
        resolver.resolve(source)
    assert time.monotonic() - started < 5  # no pull waited on the silent server
    assert resolver.pull_attempts == 0
    assert "pulling is disabled" in caught.value.message
    assert caught.value.hint is not None and "HUBFLEET_OFFLINE is set" in caught.value.hint


@pytest.mark.parametrize("value", ["", "0", "false", "no"])
def test_offline_unset_still_pulls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("HUBFLEET_OFFLINE", value)
    source = ChartSource("jupyterhub", repository=UNREACHABLE, version="4.0.0")
    resolver = ChartResolver(cache_dir=tmp_path, timeout=1)
    with pytest.raises(ChartError):
        resolver.resolve(source)
    assert resolver.pull_attempts == 1
