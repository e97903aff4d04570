"""Evaluate every jsonnet values file of the layout2i2c fixture fleet, for each release.

Run: .venv/bin/python benchmarks/bench_jsonnet.py [--rounds N] [--threads N]

Each release (support and hubs) of tests/fixtures/layout2i2c/fleet evaluates its
jsonnet files (the chart's `values.jsonnet`, a hub's own `.jsonnet`) as a command
does; prints the number of evaluations, the total time and the time per
evaluation (each evaluation runs in a child process under a time and memory
limit, see hubfleet.helm.jsonnet), serially and with `--threads` in parallel (as a
deploy of several clusters does).
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hubfleet.config.load import load_fleet
from hubfleet.helm.jsonnet import is_jsonnet
from hubfleet.release.pipeline import Release, hub_release, release_jsonnet, support_release

LAYOUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "layout2i2c" / "fleet"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=4)
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


if __name__ == "__main__":
    main()
