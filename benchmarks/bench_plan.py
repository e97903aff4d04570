"""Benchmark of `hubfleet plan`: generated fleets, 1,000 changed files.

Run: `.venv/bin/python benchmarks/bench_plan.py [HUBS ...]` (default 100 1000 10000 20000).

Each fleet is generated in a temporary folder: up to 500 clusters, each with a
`cluster.yaml` (gcp, a support release, one staging hub and production hubs)
and empty values files; one local chart for hubs, one for support. Loading the
fleet (`load_fleet`, once) and planning (graph + plan + JSON, best of 3) are
timed separately, for two sets of 1,000 changed files:

- targeted: hub values files, per-cluster common files, support values files,
  credentials and files nothing depends on;
- with a chart file: the same plus one file of the shared chart, which selects
  every hub (the largest plan).
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from hubfleet.config.load import load_fleet
from hubfleet.plan.changes import Change, parse_changed_files
from hubfleet.plan.plan import Plan, make_plan

T = TypeVar("T")

MAX_CLUSTERS = 500
CHANGED = 1000


def generate(root: Path, hubs: int) -> list[str]:
    """Write a fleet of `hubs` hubs under `root`; return every values file path."""
    clusters = min(MAX_CLUSTERS, max(10, hubs // 40))
    (root / "hubfleet.yaml").write_text(
        "default_chart: basehub\nredeploy_all_when_changed: [requirements-hubfleet.txt]\n"
    )
    for chart in ("basehub", "support"):
        folder = root / "helm-charts" / chart
        (folder / "templates").mkdir(parents=True)
        (folder / "Chart.yaml").write_text(f"apiVersion: v2\nname: {chart}\nversion: 0.1.0\n")
        (folder / "templates" / "configmap.yaml").write_text("kind: ConfigMap\n")
    values_files: list[str] = []
    per_cluster = [hubs // clusters + (1 if i < hubs % clusters else 0) for i in range(clusters)]
    for index, count in enumerate(per_cluster):
        name = f"c{index:03d}"
        folder = root / "config" / "clusters" / name
        folder.mkdir(parents=True)
        files = ["common.values.yaml", "support.values.yaml"]
        lines = [
            f"name: {name}",
            "provider: gcp",
            "gcp:",
            f"  project: p-{name}",
            f"  cluster: {name}",
            "  zone: us-central1-b",
            "support:",
            "  helm_chart_values_files:",
            "  - support.values.yaml",
            "hubs:",
        ]
        for hub_index in range(count):
            hub = "staging" if hub_index == 0 else f"hub{hub_index:03d}"
            files.append(f"{hub}.values.yaml")
            lines += [
                f"- name: {hub}",
                f"  domain: {hub}.{name}.example.org",
                "  helm_chart_values_files:",
                "  - common.values.yaml",
                f"  - {hub}.values.yaml",
            ]
        (folder / "cluster.yaml").write_text("\n".join(lines) + "\n")
        for file in files:
            (folder / file).write_text("")
            values_files.append(f"config/clusters/{name}/{file}")
    return values_files


def changed_files(values_files: list[str], *, with_chart: bool) -> str:
    rng = random.Random(42)
    picked = rng.sample(values_files, min(len(values_files), CHANGED - 101))
    unrelated = [f"docs/page{i}.md" for i in range(CHANGED - len(picked) - 1)]
    extra = ["helm-charts/basehub/templates/configmap.yaml"] if with_chart else ["README.md"]
    return "\n".join([*picked, *unrelated, *extra]) + "\n"


def best_of(runs: int, action: Callable[[], T]) -> tuple[float, T]:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - start)
    return best, result


def bench(hubs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="hubfleet-bench-") as tmp:
        root = Path(tmp)
        values_files = generate(root, hubs)
        load_s, fleet = best_of(1, lambda: load_fleet(root).fleet_or_raise())
        clusters = len(fleet.clusters)
        for label, with_chart in (("targeted", False), ("with a chart file", True)):
            changes = parse_changed_files(changed_files(values_files, with_chart=with_chart))

            def plan_once(changes: list[Change] = changes) -> Plan:
                result = make_plan(fleet, changes)  # the graph is built inside
                json.dumps(result.to_json())
                return result

            plan_s, result = best_of(3, plan_once)
            jobs = len(result.support_jobs) + len(result.staging_jobs) + len(result.prod_jobs)
            print(
                f"{hubs:>6} hubs {clusters:>4} clusters  {len(changes):>5} changed ({label:<17})"
                f"  load {load_s:6.2f} s   plan {plan_s * 1000:7.1f} ms   {jobs:>6} jobs",
                flush=True,
            )


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [100, 1000, 10000, 20000]
    for hubs in sizes:
        bench(hubs)


if __name__ == "__main__":
    main()
