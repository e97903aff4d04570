"""`hubfleet validate` of a generated fleet in the largest public fleet's shape, with the
real charts: wall time, CPU (the command and its children) and cores busy.

Run: .venv/bin/python benchmarks/bench_validate.py [--hubs N] [--runs N] [--baseline-src DIR]

The fleet is `bench_plan`'s layout2i2c-shaped one (basehub, 10 % daskhub wrapping it,
per-hub encrypted values files of the test key), its plain values files emptied so every
release renders. The real z2jh and dask-gateway charts come from ../shared/charts into a
temporary chart cache. `--baseline-src` runs the same command a second time with
another checkout's `src/` first on PYTHONPATH (e.g. a worktree of an older commit), for
a before/after pair: the two run in turn (A B A B ...) `--runs` times after a warm-up
each, and each pair's CPU ratio is printed, so a machine whose speed drifts (shared,
loaded) still gives a fair comparison. Per run: wall and CPU seconds (the command and
every process it started: sops, jsonnet evaluators), split into hubfleet's own process
and the programs it started, cores busy (CPU / wall), the wall time the CPU would take
with every core busy (CPU / cores: on a loaded machine the wall time says more about
the other load than about validate), and wall and CPU seconds per release rendered.
Medians are the figures to quote. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
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


# Runs the real entry point, then reports the process's own CPU and its programs'.
DRIVER = r"""
import json, resource, sys
from hubfleet.cli.entry import main
sys.argv = ["hubfleet", *sys.argv[1:]]
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 0
try:  # the long-lived jsonnet evaluators, reaped now so that their CPU is counted
    from hubfleet.helm.jsonnet_pool import shutdown
except ImportError:
    pass
else:
    shutdown()
own = resource.getrusage(resource.RUSAGE_SELF)
programs = resource.getrusage(resource.RUSAGE_CHILDREN)
sys.stderr.write("\n" + SPLIT + json.dumps({
    "own": own.ru_utime + own.ru_stime, "programs": programs.ru_utime + programs.ru_stime
}) + "\n")
sys.exit(code)
"""
SPLIT = "bench-validate-split "
CORES = os.cpu_count() or 1


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float
    releases: int
    last: str
    own: float = 0.0  # hubfleet's own process
    programs: float = 0.0  # sops, the jsonnet evaluators

    @property
    def busy(self) -> float:
        return self.cpu / self.wall

    def line(self) -> str:
        per = max(1, self.releases)
        return (
            f"wall {self.wall:.1f} s, cpu {self.cpu:.1f} s (hubfleet {self.own:.1f} s, "
            f"programs {self.programs:.1f} s), cores busy {self.busy:.2f}, cpu / {CORES} "
            f"cores {self.cpu / CORES:.1f} s, {self.wall / per:.3f} s wall and "
            f"{self.cpu / per:.3f} s cpu per release"
        )


def timed(repo: Path, cache: Path, pythonpath: str | None) -> Run:
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
    driver = DRIVER.replace("SPLIT", repr(SPLIT))
    done = subprocess.run(
        [sys.executable, "-c", driver, "--repo", str(repo), "validate"],
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = (done.stdout + done.stderr).strip().splitlines()
    split = {"own": 0.0, "programs": 0.0}
    for line in lines:
        if line.startswith(SPLIT):
            split = json.loads(line[len(SPLIT) :])
    last = [line for line in lines if line.strip() and not line.startswith(SPLIT)][-1]
    rendered = re.search(r"(\d+) release\(s\) rendered", last)
    releases = int(rendered.group(1)) if rendered else 0
    return Run(wall, cpu, releases, last, split["own"], split["programs"])


def median(runs: list[Run]) -> Run:
    return Run(
        statistics.median(r.wall for r in runs),
        statistics.median(r.cpu for r in runs),
        runs[0].releases,
        runs[0].last,
        statistics.median(r.own for r in runs),
        statistics.median(r.programs for r in runs),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hubs", type=int, default=171)
    parser.add_argument("--runs", type=int, default=3, help="counted runs of each (default 3)")
    parser.add_argument("--baseline-src", type=Path, default=None)
    args = parser.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"the real charts are not here ({SHARED})")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        repo = fleet(work / "fleet", args.hubs)
        sides: list[tuple[str, str | None]] = [("this checkout", None)]
        if args.baseline_src is not None:
            sides.append((f"baseline {args.baseline_src}", str(args.baseline_src)))
        print(f"validate of {args.hubs} hubs, {os.cpu_count()} cores, {args.runs} runs each")
        caches = {}
        for index, (name, pythonpath) in enumerate(sides):
            caches[name] = chart_cache(work / f"cache-{index}")
            timed(repo, caches[name], pythonpath)  # warm-up: chart builds into this cache
        runs: dict[str, list[Run]] = {name: [] for name, _ in sides}
        for number in range(args.runs):
            for name, pythonpath in sides:
                run = timed(repo, caches[name], pythonpath)
                runs[name].append(run)
                print(f"  run {number + 1} {name}: {run.line()}")
            if len(sides) == 2:
                a, b = (runs[name][-1] for name, _ in sides)
                print(
                    f"    pair {number + 1}: cpu ratio {a.cpu / b.cpu:.2f}, wall ratio "
                    f"{a.wall / b.wall:.2f} (this checkout / baseline)"
                )
        print("medians:")
        for name, _ in sides:
            print(f"  {name}: {runs[name][0].last}")
            print(f"    {median(runs[name]).line()}")
        if len(sides) == 2:
            a_runs, b_runs = (runs[name] for name, _ in sides)
            ratios = [a.cpu / b.cpu for a, b in zip(a_runs, b_runs, strict=True)]
            walls = [a.wall / b.wall for a, b in zip(a_runs, b_runs, strict=True)]
            print(
                f"  pairs: cpu ratio median {statistics.median(ratios):.2f} "
                f"(min {min(ratios):.2f}, max {max(ratios):.2f}), wall ratio median "
                f"{statistics.median(walls):.2f}"
            )


if __name__ == "__main__":
    main()
