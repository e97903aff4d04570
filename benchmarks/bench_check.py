"""`hubfleet check --all` on a simulated large fleet: makespan against its lower bound.

The fleet is bench_deploy.py's: 30 clusters (provider `kubeconfig`, each a real sops
decryption of its kubeconfig), 171 hubs, one cluster with 95. Every hub's check is the
fake kubectl's `get secret`, which sleeps LATENCY seconds and fails (no hub runs
here), so each hub is one timed step; `--retries 0` unless told. Printed:

- makespan: wall time of `check_all` over every cluster;
- lower bound: the slowest cluster's rounds, ceil(hubs / hub_concurrency) * LATENCY
  (times 1 + retries), the clusters being at most `cluster_concurrency` at once (30
  clusters, 8 at once: the 29 small ones fit beside the big one);
- serial: the sum of all hubs' checks, what checking one hub after another takes.

Run: .venv/bin/python benchmarks/bench_check.py [--latency 0.5] [--retries 0]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from tests.fakes import install_fakes  # noqa: E402

from bench_deploy import AGE_KEY, make_fleet, shape  # noqa: E402
from hubfleet.base.redact import Redactor  # noqa: E402
from hubfleet.config.load import load_fleet  # noqa: E402
from hubfleet.deploy.fleetcheck import CheckAllSettings, check_all  # noqa: E402
from hubfleet.secrets.sops import Sops  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--retries", type=int, default=0)
    parser.add_argument("--cluster-concurrency", type=int, default=8)
    parser.add_argument("--hub-concurrency", type=int, default=4)
    args = parser.parse_args()
    os.environ["SOPS_AGE_KEY_FILE"] = str(AGE_KEY)
    os.environ["SOPS_DISABLE_VERSION_CHECK"] = "1"
    clusters = shape()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "fleet"
        root.mkdir()
        make_fleet(root, clusters)
        fakes = install_fakes(Path(tmp) / "fakes")
        os.environ["PATH"] = fakes.path
        fakes.script(
            [
                {
                    "tool": "kubectl",
                    "args": ["get", "secret"],
                    "exit": 1,
                    "stderr": "Error from server (NotFound)",
                    "sleep": args.latency,
                }
            ]
        )
        fleet = load_fleet(root).fleet_or_raise()
        redactor = Redactor()
        settings = CheckAllSettings(
            cluster_concurrency=args.cluster_concurrency,
            hub_concurrency=args.hub_concurrency,
            retries=args.retries,
            retry_delay_s=0,
        )
        started = time.monotonic()
        result = check_all(fleet, sops=Sops(redactor, cwd=root), redactor=redactor,
                           settings=settings)  # fmt: skip
        makespan = time.monotonic() - started
    tries = 1 + args.retries
    rounds = max(math.ceil(len(h) / args.hub_concurrency) for h in clusters.values())
    small = sorted(math.ceil(len(h) / args.hub_concurrency) for h in clusters.values())[:-1]
    # the small clusters' rounds, spread over the slots the big one leaves
    spread = math.ceil(sum(small) / max(1, args.cluster_concurrency - 1))
    bound = max(rounds, spread) * args.latency * tries
    serial = sum(len(h) for h in clusters.values()) * args.latency * tries
    counts = result.counts()
    print(f"hubs: {len(result.hubs)} in {len(result.clusters)} clusters; {counts}")
    print(f"latency per check: {args.latency:.2f} s; retries: {args.retries}")
    print(f"makespan:    {makespan:7.2f} s")
    print(f"lower bound: {bound:7.2f} s   (ratio {makespan / bound:.2f})")
    print(f"serial:      {serial:7.2f} s   (speed-up {serial / makespan:.1f}x)")


if __name__ == "__main__":
    main()
