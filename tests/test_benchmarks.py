"""Every benchmark still imports against today's code (they are never run by the suite:
they print figures; but a renamed function must not leave one broken unseen)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("bench_*.py"))


@pytest.mark.parametrize("path", BENCHMARKS, ids=lambda p: p.name)
def test_the_benchmark_imports(path: Path) -> None:
    """Loaded as a module (not run: `__name__` is not `__main__`), in a fresh process."""
    code = f"import runpy; runpy.run_path({str(path)!r}, run_name='benchmark')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
