"""The first renders and checks of a run, in threads at once (issue 23, validate on
every core): each chart is loaded once, two different charts load at the same time
(not one after the other behind one lock), and each compiled schema object is built
once however many threads ask for it first."""

from __future__ import annotations

import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import helm_python
import pytest

from hubfleet.helm import engine, manifests

CHARTS = Path(__file__).parents[1] / "fixtures" / "charts"


class _Slow:
    """`helm_python.Chart.load` made slow: how many ran at once, and for which paths."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.loads: list[str] = []

    def __call__(self, path: Any) -> Any:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.loads.append(str(path))
        try:
            time.sleep(0.3)  # long enough for the other thread to start its own load
            return self.real(path)
        finally:
            with self.lock:
                self.running -= 1


def _two_charts(tmp_path: Path) -> tuple[Path, Path]:
    first = tmp_path / "one" / "testhub"
    second = tmp_path / "two" / "testhub"
    shutil.copytree(CHARTS / "testhub", first)
    shutil.copytree(CHARTS / "testhub", second)
    return first, second


def test_two_charts_load_at_once_and_each_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = _Slow(helm_python.Chart.load)
    monkeypatch.setattr(helm_python.Chart, "load", slow)
    first, second = _two_charts(tmp_path)
    paths = [first, second, first, second, first, second]
    with ThreadPoolExecutor(len(paths)) as pool:
        infos = list(pool.map(engine.chart_info, paths))
    assert {info.name for info in infos} == {"testhub"}
    assert sorted(slow.loads) == sorted([str(first.resolve()), str(second.resolve())])
    assert slow.most == 2  # the two charts at once, not one behind the other


def test_a_compiled_schema_object_is_built_once_by_threads_asking_at_once() -> None:
    built: list[str] = []

    def build(key: str) -> str:
        built.append(key)
        time.sleep(0.2)
        return key.upper()

    once = manifests._once(build)
    keys = ["a", "a", "a", "b", "b", "a"]
    with ThreadPoolExecutor(len(keys)) as pool:
        results = list(pool.map(once, keys))
    assert results == [key.upper() for key in keys]
    assert sorted(built) == ["a", "b"]


def test_prepare_builds_the_registry_and_ignores_an_unknown_version() -> None:
    manifests._fast_registry.cache_clear()  # type: ignore[attr-defined]
    version = manifests.schema_version(None)
    manifests.prepare(None)
    assert manifests._fast_registry.cache_info().currsize == 1  # type: ignore[attr-defined]
    manifests._fast_registry(version)
    assert manifests._fast_registry.cache_info().hits == 1  # type: ignore[attr-defined]
    manifests.prepare("1.2")  # unsupported: the check says so, prepare says nothing
    with pytest.raises(Exception, match="not supported"):
        manifests.schema_version("1.2")
