"""`hubfleet plan --live` of a generated fleet through the stateful fake helm.

The fleet and its clusters' state are bench_status's (30 clusters, 171 hubs, every
release deployed by hubfleet with its record, then a few changed by hand, a few
rolled back, one failed, one values file changed in git since). The live plan of
every cluster is made in this process (`deploy/reconcile.py` `make_live_plan`: the
clusters read in parallel, each with its own credentials, then the rules).

Printed per run (`--concurrency` clusters at once, default 4 and 8): wall time,
hubfleet's own CPU in total and per release, the programs' CPU apart (sops, the fake
helm), helm calls, and the jobs by their first reason.

Run: .venv/bin/python benchmarks/bench_live_plan.py [--concurrency N ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


from bench_deploy import AGE_KEY, shape  # noqa: E402
from bench_status import cpu, deployed_fleet  # noqa: E402
from hubfleet.base.redact import Redactor  # noqa: E402
from hubfleet.config.load import load_isolated  # noqa: E402
from hubfleet.deploy.reconcile import make_live_plan  # noqa: E402
from hubfleet.secrets.sops import Sops  # noqa: E402


def first_words(reason: str) -> str:
    text = reason.removeprefix("live: ")
    for stop in (":", ";", ",", " at "):
        text = text.split(stop)[0]
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, nargs="*", default=[4, 8])
    args = parser.parse_args()
    os.environ["SOPS_AGE_KEY_FILE"] = str(AGE_KEY)
    os.environ["SOPS_DISABLE_VERSION_CHECK"] = "1"
    clusters = shape()
    with tempfile.TemporaryDirectory(prefix="hubfleet-bench-live-plan-") as tmp:
        root, fakes, _ = deployed_fleet(Path(tmp), clusters)
        os.environ["PATH"] = fakes.path
        releases = sum(len(h) + 1 for h in clusters.values())
        print(f"fleet: {len(clusters)} clusters, {sum(map(len, clusters.values()))} hubs, "
              f"{releases} releases")  # fmt: skip
        for concurrency in args.concurrency:
            fakes.reset()
            self0, child0 = cpu()
            started = time.monotonic()
            fleet = load_isolated(root, parse_values=False).fleet
            redactor = Redactor()
            live = make_live_plan(
                fleet,
                [c.name for c in fleet.clusters],
                redactor=redactor,
                sops=Sops(redactor, cwd=root),
                concurrency=concurrency,
            )
            wall = time.monotonic() - started
            self1, child1 = cpu()
            calls = Counter(c["argv"][0] for c in fakes.calls("helm"))
            reasons = Counter(first_words(job.reasons[0]) for job in live.jobs)
            print(
                f"concurrency {concurrency}: wall {wall:.2f} s; hubfleet's own CPU "
                f"{self1 - self0:.2f} s = {1000 * (self1 - self0) / releases:.1f} ms per "
                f"release; programs' CPU {child1 - child0:.2f} s; helm calls "
                f"{dict(sorted(calls.items()))}"
            )
            print(f"  {len(live.jobs)} jobs: {dict(sorted(reasons.items()))}; "
                  f"held {len(live.held)}; unreachable {len(live.scope.unreachable)}")  # fmt: skip
            if live.scope.unreachable or len(live.scope.clusters) != len(clusters):
                sys.exit("a cluster was not read")


if __name__ == "__main__":
    main()
