"""Evaluate every jsonnet values file of the layout2i2c fixture fleet, for each release.

Run: .venv/bin/python benchmarks/bench_jsonnet.py [--rounds N] [--threads N] [--validate]

Each release (support and hubs) of tests/fixtures/layout2i2c/fleet evaluates its
jsonnet files (the chart's `values.jsonnet`, a hub's own `.jsonnet`) as a command
does; prints the number of evaluations, the total time and the time per
evaluation (each evaluation runs in a child process under a time and memory
limit, see hubfleet.helm.jsonnet), serially and with `--threads` in parallel (as a
deploy of several clusters does). `--validate` also times `hubfleet validate` of
the fleet (every release rendered with the real charts from ../shared/charts).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hubfleet.config.load import load_fleet
from hubfleet.helm.jsonnet import is_jsonnet
from hubfleet.release.pipeline import Release, hub_release, release_jsonnet, support_release

ROOT = Path(__file__).resolve().parents[1]
LAYOUT = ROOT / "tests" / "fixtures" / "layout2i2c" / "fleet"
SHARED_CHARTS = ROOT / ".." / "shared" / "charts"
# Where a pull would put each chart in the cache.
CACHE_FOLDERS = {"jupyterhub-": "hub.jupyter.org_helm-chart", "dask-gateway-": "helm.dask.org"}


def time_validate(rounds: int) -> None:
    """`hubfleet validate` of a copy of the fleet, with the real charts in a cache."""
    archives = sorted(SHARED_CHARTS.glob("*.tgz"))
    if not archives:
        print(f"validate: skipped, no charts in {SHARED_CHARTS}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        fleet = Path(tmp) / "fleet"
        shutil.copytree(LAYOUT, fleet, symlinks=True)
        cache = Path(tmp) / "cache"
        for archive in archives:
            for prefix, folder in CACHE_FOLDERS.items():
                if archive.name.startswith(prefix):
                    (cache / folder).mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(archive, cache / folder / archive.name)
        env = {**os.environ, "HUBFLEET_CHART_CACHE": str(cache), "SOPS_DISABLE_VERSION_CHECK": "1"}
        argv = [str(Path(sys.executable).with_name("hubfleet")), "--repo", str(fleet), "validate"]
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
            times.append(time.perf_counter() - started)
            if done.returncode != 0:
                raise SystemExit(f"validate failed:\n{done.stdout}{done.stderr}")
        median = sorted(times)[rounds // 2]
        print(f"validate: best of {rounds} {min(times):.2f} s, median {median:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--validate", action="store_true")
    args = parser.parse_args()
    fleet = load_fleet(LAYOUT).fleet_or_raise()
    releases: list[Release] = [hub_release(fleet, hub) for hub in fleet.hubs()]
    releases += [r for c in fleet.clusters if (r := support_release(fleet, c))]
    work = [(r, p) for r in releases for p in r.values_files if is_jsonnet(p)]
    print(f"{len(releases)} releases, {len(work)} jsonnet evaluations per round")

    def evaluate(item: tuple[Release, str]) -> int:
        return len(release_jsonnet(fleet, item[0], item[1]))

    started = time.perf_counter()
    evaluate(work[0])
    print(f"first evaluation: {(time.perf_counter() - started) * 1000:.1f} ms")
    started = time.perf_counter()
    for _ in range(args.rounds):
        for item in work:
            evaluate(item)
    serial = time.perf_counter() - started
    count = args.rounds * len(work)
    print(f"serial: {count} evaluations in {serial:.2f} s, {serial / count * 1000:.1f} ms each")
    started = time.perf_counter()
    with ThreadPoolExecutor(args.threads) as pool:
        list(pool.map(evaluate, work * args.rounds))
    threaded = time.perf_counter() - started
    print(
        f"{args.threads} threads: {count} evaluations in {threaded:.2f} s, "
        f"{threaded / count * 1000:.1f} ms each"
    )
    if args.validate:
        time_validate(args.rounds)


if __name__ == "__main__":
    main()
