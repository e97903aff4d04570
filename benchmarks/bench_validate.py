"""`hubfleet validate` of a generated fleet in the largest public fleet's shape, with the
real charts: wall time, CPU (the command and its children) and cores busy.

Run: .venv/bin/python benchmarks/bench_validate.py [--hubs N] [--baseline-src DIR]

The fleet is `bench_plan`'s layout2i2c-shaped one (basehub, 10 % daskhub wrapping it,
per-hub encrypted values files of the test key), its plain values files emptied so every
release renders. The real z2jh and dask-gateway charts come from ../shared/charts into a
temporary chart cache. `--baseline-src` runs the same command a second time with
another checkout's `src/` first on PYTHONPATH (e.g. a worktree of an older commit), for
a before/after pair. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_plan import generate_2i2c

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "charts"
AGE_KEY = ROOT / "tests" / "fixtures" / "age" / "keys.txt"


def chart_cache(folder: Path) -> Path:
    z2jh = folder / "hub.jupyter.org_helm-chart"
    dask = folder / "helm.dask.org"
    z2jh.mkdir(parents=True)
    dask.mkdir(parents=True)
    for archive in SHARED.glob("jupyterhub-*.tgz"):
        shutil.copyfile(archive, z2jh / archive.name)
    for archive in SHARED.glob("dask-gateway-*.tgz"):
        shutil.copyfile(archive, dask / archive.name)
    return folder


def fleet(folder: Path, hubs: int) -> Path:
    generate_2i2c(folder, hubs)
    for path in (folder / "config" / "clusters").rglob("*.values.yaml"):
        if not path.name.startswith("enc-"):
            path.write_text("{}\n")
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    return folder


def timed(repo: Path, cache: Path, pythonpath: str | None) -> tuple[float, float, str]:
    env = {
        **os.environ,
        "SOPS_DISABLE_VERSION_CHECK": "1",
        "SOPS_AGE_KEY_FILE": str(AGE_KEY),
        "HUBFLEET_CHART_CACHE": str(cache),
    }
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "hubfleet", "--repo", str(repo), "validate"],
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, (done.stdout + done.stderr).strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hubs", type=int, default=171)
    parser.add_argument("--baseline-src", type=Path, default=None)
    args = parser.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"the real charts are not here ({SHARED})")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        repo = fleet(work / "fleet", args.hubs)
        runs: list[tuple[str, str | None]] = [("this checkout", None)]
        if args.baseline_src is not None:
            runs.append((f"baseline {args.baseline_src}", str(args.baseline_src)))
        print(f"validate of {args.hubs} hubs, {os.cpu_count()} cores")
        for name, pythonpath in runs:
            cache = chart_cache(work / f"cache-{len(name)}")
            timed(repo, cache, pythonpath)  # warm-up: chart builds into this cache
            wall, cpu, last = timed(repo, cache, pythonpath)
            print(f"  {name}: {last}")
            print(
                f"    wall {wall:.1f} s, cpu {cpu:.1f} s, cores busy {cpu / wall:.2f}, "
                f"{wall / max(1, args.hubs) * 1000:.0f} ms wall per hub"
            )


if __name__ == "__main__":
    main()
