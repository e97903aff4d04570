"""`hubfleet status` of a generated fleet through the stateful fake helm.

The fleet is bench_deploy's: 30 clusters, 171 hubs (one cluster with 95), every
cluster with a support release, provider `kubeconfig` (each cluster's credentials a
real sops decryption), in a git repository. The fake helm's clusters are seeded as a
fleet a year old would be: every release deployed by hubfleet with its record
(commit, digest of its inputs), then a few changed by hand, a few rolled back, one
failed, and one orphan per fifth cluster; one values file changed in git since (its
hub is behind).

Printed per run (`--parallelism` clusters at once, default 4 and 8):
- wall time of loading the fleet and `fleet_status` (in this process);
- hubfleet's own CPU (this process: loading, digests, threads, JSON), in total and
  per release; the CPU of the programs it started (sops, the fake helm: each a
  Python process) apart;
- helm calls made (one `list` per cluster, one `history` per release), and the
  states found (checked against what was seeded).

Run: .venv/bin/python benchmarks/bench_status.py [--parallelism N ...]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from tests.fakes import install_fakes  # noqa: E402
from tests.fakes.helmstate import HelmState  # noqa: E402

from bench_deploy import AGE_KEY, make_fleet, shape  # noqa: E402
from hubfleet.base.redact import Redactor  # noqa: E402
from hubfleet.config.load import load_isolated  # noqa: E402
from hubfleet.live.digest import Digests  # noqa: E402
from hubfleet.live.record import Record, describe  # noqa: E402
from hubfleet.live.status import declared_releases, fleet_status  # noqa: E402
from hubfleet.release.values import ReleaseValues  # noqa: E402
from hubfleet.secrets.sops import Sops  # noqa: E402


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def seed(root: Path, state: HelmState) -> Counter[str]:
    """Every release deployed with its record at HEAD, then the drift; the states expected."""
    fleet = load_isolated(root, parse_values=False).fleet
    digests = Digests(ReleaseValues(fleet, sops=None))
    head = git(root, "rev-parse", "HEAD")
    expected: Counter[str] = Counter()
    for index, cluster in enumerate(fleet.clusters):
        for number, release in enumerate(declared_releases(fleet, cluster)):
            record = describe(Record(commit=head, digest=digests.of(release)))
            state.seed(cluster.name, release.name, release.namespace, description=record)
            if index % 7 == 3 and number == 1:
                state.seed(cluster.name, release.name, release.namespace)  # by hand
                expected["changed-by-hand"] += 1
            elif index % 11 == 5 and number == 2:
                other = describe(Record(commit="f" * 40, digest="sha256:" + "0" * 64))
                state.seed(cluster.name, release.name, release.namespace, description=other)
                state.seed(cluster.name, release.name, release.namespace,
                           description="Rollback to 1")  # fmt: skip
                expected["rolled-back"] += 1
            elif index == 9 and number == 0:
                state.seed(cluster.name, release.name, release.namespace, status="failed",
                           description=f'Upgrade "{release.name}" failed: timed out')  # fmt: skip
                expected["failed"] += 1
            else:
                expected["in-sync"] += 1
        if index % 5 == 0:
            state.seed(cluster.name, "stray", "support")
            expected["orphan"] += 1
    return expected


def cpu() -> tuple[float, float]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, children.ru_utime + children.ru_stime


def deployed_fleet(tmp: Path, clusters: Any) -> tuple[Path, Any, Counter[str]]:
    """The fleet of `clusters` in git at `tmp/fleet`, deployed into the stateful fake
    helm (hubfleet's record on each release), then one hub's values changed in git
    (it is behind): the fleet, the fakes, and the states status should find."""
    root = tmp / "fleet"
    root.mkdir()
    make_fleet(root, clusters)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "fleet")
    fakes = install_fakes(tmp / "fakes", ("helm",))
    state = HelmState(tmp / "clusters")
    fakes.script([], helm_state=state.folder)
    expected = seed(root, state)
    (root / "config/clusters/c01/prod.values.yaml").write_text("hubName: changed\n")
    git(root, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qam", "change")
    return root, fakes, expected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parallelism", type=int, nargs="*", default=[4, 8])
    args = parser.parse_args()
    os.environ["SOPS_AGE_KEY_FILE"] = str(AGE_KEY)
    os.environ["SOPS_DISABLE_VERSION_CHECK"] = "1"
    clusters = shape()
    with tempfile.TemporaryDirectory(prefix="hubfleet-bench-status-") as tmp:
        root, fakes, expected = deployed_fleet(Path(tmp), clusters)
        expected["in-sync"] -= 1
        expected["behind"] += 1
        os.environ["PATH"] = fakes.path
        releases = sum(len(h) + 1 for h in clusters.values())
        print(f"fleet: {len(clusters)} clusters, {sum(map(len, clusters.values()))} hubs, "
              f"{releases} releases (+{expected['orphan']} orphans)")  # fmt: skip
        for parallelism in args.parallelism:
            fakes.reset()
            self0, child0 = cpu()
            started = time.monotonic()
            loaded = load_isolated(root, parse_values=False)
            redactor = Redactor()
            status = fleet_status(
                loaded.fleet,
                sops=Sops(redactor, cwd=root),
                redactor=redactor,
                parallelism=parallelism,
            )
            wall = time.monotonic() - started
            self1, child1 = cpu()
            found = Counter(row.state for row in status.rows)
            calls = Counter(c["argv"][0] for c in fakes.calls("helm"))
            rows = len(status.rows)
            print(
                f"parallelism {parallelism}: wall {wall:.2f} s; hubfleet's own CPU "
                f"{self1 - self0:.2f} s = {1000 * (self1 - self0) / rows:.1f} ms per release "
                f"({rows} rows); programs' CPU {child1 - child0:.2f} s; helm calls "
                f"{dict(sorted(calls.items()))}"
            )
            print(f"  states: {dict(sorted(found.items()))}")
            missing = {k: v for k, v in expected.items() if found.get(k, 0) != v}
            if missing or status.exit_code:
                sys.exit(f"unexpected states: expected {dict(expected)}, found {dict(found)}")


if __name__ == "__main__":
    main()
