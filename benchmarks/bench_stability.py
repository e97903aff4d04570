"""What finding the fields a chart randomises costs, with the real z2jh chart.

Run: .venv/bin/python benchmarks/bench_stability.py [--chart PATH] [--repeat N]

`--chart` defaults to `../shared/charts/jupyterhub-4.2.0.tgz` beside the project.
Prints, as medians over `--repeat` runs: one warm render of an example-fleet hub
(pilot-gcp/staging, secrets as placeholders), parsing one render into resources,
and `compare_renders` of one input against itself (what `export --verify` and
`plan --rendered` do per hub when the first renders differ: 3 renders a side).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from hubfleet.config.load import load_fleet
from hubfleet.helm.engine import render
from hubfleet.helm.stability import RENDERS, compare_renders, resources
from hubfleet.release.pipeline import hub_release
from hubfleet.release.values import ReleaseValues

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CHART = ROOT.parent / "shared" / "charts" / "jupyterhub-4.2.0.tgz"


def median_ms(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chart", type=Path, default=DEFAULT_CHART)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    fleet = load_fleet(ROOT / "examples" / "fleet").fleet_or_raise()
    hub = fleet.cluster("pilot-gcp").hub("staging")
    release = hub_release(fleet, hub)
    values = ReleaseValues(fleet, sops=None).merged(release, placeholders=True)

    def once() -> dict[str, str]:
        return render(args.chart, values, release=release.name, namespace=release.namespace)

    start = time.perf_counter()
    manifests = once()
    first = (time.perf_counter() - start) * 1000
    comparison = compare_renders(once, once)
    print(f"chart: {args.chart.name}; {len(manifests)} templates, {comparison.resources} resources")
    print(f"first render (chart load included): {first:.1f} ms")
    print(f"warm render: {median_ms(once, args.repeat):.1f} ms")
    parse = median_ms(lambda: resources(manifests), args.repeat)
    print(f"parse one render into resources: {parse:.1f} ms")
    total = median_ms(lambda: compare_renders(once, once), args.repeat)
    print(f"compare_renders, one input against itself ({RENDERS} renders a side): {total:.1f} ms")
    print(f"fields ignored: {len(comparison.ignored)}; differences: {len(comparison.differences)}")


if __name__ == "__main__":
    main()
