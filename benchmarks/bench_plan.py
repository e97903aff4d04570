"""Benchmark of `hubfleet plan` on generated fleets.

Run: `.venv/bin/python benchmarks/bench_plan.py [--layout 2i2c|flat] [--largest]
[--deployer 'COMMAND'] [--baseline-src SRC] [HUBS ...]`

`--layout 2i2c` (the default): fleets in the layout of the largest public fleet
(tests/fixtures/layout2i2c): its charts copied (`basehub` with a `values.jsonnet`
importing a library, `daskhub` wrapping basehub through `file://../basehub` and
sharing its `values.jsonnet` by a link, `support`), one cluster per 40 hubs (at most
500), each with its deployer credentials and an encrypted support file, and every
hub with `common.values.yaml`, `<hub>.values.yaml` and `enc-<hub>.secret.values.yaml`
(a real sops file, copied: plan never decrypts); 10 % of the hubs on daskhub.
Up to 200 hubs, 30 clusters, as that fleet has (`171` is its size: the start-up
figure). Sizes: 1,000, 5,000 and 20,000 hubs (`--largest` adds 50,000), or those given.
For each size the fleet is loaded once, then the CPU time of planning (graph +
plan + JSON; best of up to 3 runs within 20 s) is printed for two changes:

- basehub: `helm-charts/basehub/values.yaml` changed, which selects every hub;
- one hub: one hub's values file changed.

Then the whole command, as CI runs it (`hubfleet plan --changed-files FILE --output
json` in a new process: start-up, loading, planning, output), its CPU time (the
process's own rusage, best of 3) for each change, with the core's part of it in
brackets (the same imports, loading, planning and JSON in a bare process, without the
command layer: best of 5), and, when given, the same for:

- `--deployer 'COMMAND'`: the largest public fleet's own deployer, a command that
  takes `plan-upgrade CHANGED` (comma-separated paths) and finds the fleet in
  `$DEPLOYER_ROOT_PATH` (its `src/deployer` run from a folder outside this
  repository, `DEPLOYER_ONLY_CORE=1` set here);
- `--baseline-src SRC`: another hubfleet's `src` folder (e.g. a worktree of an earlier
  commit), run with this interpreter;

each with the ratio hubfleet / other (the goal: at most 0.3 against the deployer).

Then, for each change, the exponent k of CPU ~ hubs**k between consecutive sizes
and from the smallest to the largest (1 = linear), of the plan alone and of the
whole command. Figures are printed, never asserted.

`--layout flat`: the earlier benchmark (one chart, no jsonnet, no encrypted
files; sizes 100, 1,000, 10,000, 20,000), planning two sets of 1,000 changed
files (hub, common, support and credential files plus unrelated files; the same
plus one file of the shared chart), wall time, best of 3.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from hubfleet.config.fleet import Fleet
from hubfleet.config.load import load_fleet
from hubfleet.plan.changes import Change, parse_changed_files
from hubfleet.plan.plan import Plan
from hubfleet.plan.planner import make_plan

T = TypeVar("T")

MAX_CLUSTERS = 500
CHANGED = 1000
HUBS_PER_CLUSTER = 40
DASKHUB_EVERY = 10  # 10 % of hubs on daskhub
SMALL_FLEET_HUBS, SMALL_FLEET_CLUSTERS = 200, 30
LAYOUT2I2C = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "layout2i2c" / "fleet"


# --- the largest public fleet's layout --------------------------------------------------


def generate_2i2c(root: Path, hubs: int) -> list[str]:
    """Write a fleet of `hubs` hubs in layout2i2c's shape under `root`; return each
    hub's (non-encrypted) values file."""
    source = LAYOUT2I2C
    shutil.copytree(source / "helm-charts", root / "helm-charts", symlinks=True)
    shutil.copy(source / ".sops.yaml", root / ".sops.yaml")
    sample = source / "config" / "clusters" / "gcp-one"
    encrypted = (sample / "enc-research.secret.values.yaml").read_bytes()
    credentials = (sample / "enc-deployer-credentials.secret.json").read_bytes()
    clusters = min(MAX_CLUSTERS, max(1, hubs // HUBS_PER_CLUSTER))
    if hubs <= SMALL_FLEET_HUBS:  # the public fleet itself: 171 hubs on 30 clusters
        clusters = min(SMALL_FLEET_CLUSTERS, hubs)
    per_cluster = [hubs // clusters + (1 if i < hubs % clusters else 0) for i in range(clusters)]
    hub_files: list[str] = []
    serial = 0
    for index, count in enumerate(per_cluster):
        name = f"c{index:03d}"
        folder = root / "config" / "clusters" / name
        folder.mkdir(parents=True)
        lines = [
            f"name: {name}",
            "provider: gcp",
            "gcp:",
            "  key: enc-deployer-credentials.secret.json",
            f"  project: p-{name}",
            f"  cluster: {name}",
            "  zone: us-central1-b",
            "support:",
            "  helm_chart_values_files:",
            "  - support.values.yaml",
            "  - enc-support.secret.values.yaml",
            "hubs:",
        ]
        plain = ["common.values.yaml", "support.values.yaml"]
        secret = ["enc-support.secret.values.yaml"]
        for hub_index in range(count):
            serial += 1
            hub = "staging" if hub_index == 0 else f"hub{hub_index:03d}"
            chart = "daskhub" if serial % DASKHUB_EVERY == 0 else "basehub"
            plain.append(f"{hub}.values.yaml")
            secret.append(f"enc-{hub}.secret.values.yaml")
            hub_files.append(f"config/clusters/{name}/{hub}.values.yaml")
            lines += [
                f"- name: {hub}",
                f"  display_name: Hub {hub} of {name}",
                f"  domain: {hub}.{name}.example.org",
                f"  helm_chart: {chart}",
                "  helm_chart_values_files:",
                "  - common.values.yaml",
                f"  - {hub}.values.yaml",
                f"  - enc-{hub}.secret.values.yaml",
            ]
        (folder / "cluster.yaml").write_text("\n".join(lines) + "\n")
        (folder / "enc-deployer-credentials.secret.json").write_bytes(credentials)
        for file in plain:
            (folder / file).write_text("jupyterhub:\n  hub:\n    config: {}\n")
        for file in secret:
            (folder / file).write_bytes(encrypted)
    return hub_files


def cpu_best(action: Callable[[], T], *, runs: int = 3, budget_s: float = 20.0) -> tuple[float, T]:
    """The least CPU time (this process) of up to `runs` runs, stopping after `budget_s`."""
    best = float("inf")
    started = time.perf_counter()
    result: T | None = None
    for _ in range(runs):
        before = time.process_time()
        result = action()
        best = min(best, time.process_time() - before)
        if time.perf_counter() - started > budget_s:
            break
    assert result is not None
    return best, result


def plan_cpu(fleet: Fleet, changed: str) -> tuple[float, int]:
    changes = parse_changed_files(changed)

    def once(changes: list[Change] = changes) -> Plan:
        result = make_plan(fleet, changes)  # the graph is built inside
        json.dumps(result.to_json())
        return result

    seconds, plan = cpu_best(once)
    return seconds, len(plan.support_jobs) + len(plan.staging_jobs) + len(plan.prod_jobs)


CHANGES_2I2C = ("basehub", "one hub")
SRC = Path(__file__).resolve().parent.parent / "src"


@dataclass(frozen=True)
class Others:
    """The commands hubfleet's whole plan is compared with (None: not measured)."""

    deployer: list[str] | None = None
    baseline_src: Path | None = None


def process_cpu(argv: list[str], env: dict[str, str], *, runs: int = 3) -> float:
    """The least CPU time (user + system, from the process's own rusage) of `argv`
    over up to `runs` runs (no more once 30 s have passed); its output is thrown
    away. A failed run is an error."""
    best = float("inf")
    started = time.perf_counter()
    for _ in range(runs):
        if best < float("inf") and time.perf_counter() - started > 30:
            break
        process = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
        )
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            raise SystemExit(f"{shlex.join(argv)} exited {process.returncode}")
        best = min(best, usage.ru_utime + usage.ru_stime)
    return best


def src_environment(src: Path) -> dict[str, str]:
    """The environment of a measured hubfleet: `src` first on the path, and its modules
    compiled once and kept (`__pycache__`), as an installed hubfleet's are: with
    PYTHONDONTWRITEBYTECODE set, every start would compile every module again."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPATH": str(src)}


def hubfleet_cpu(src: Path, root: Path, changed_file: Path) -> float:
    env = src_environment(src)
    argv = [sys.executable, "-m", "hubfleet", "--repo", str(root), "plan"]
    return process_cpu([*argv, "--changed-files", str(changed_file), "--output", "json"], env)


# The core's part of the whole command (`hubfleet plan --changed-files FILE --output
# json` without the command layer): imports, loading, planning and the JSON, in a bare
# process, as `hubfleet.cli.plan` calls them.
CORE = """
import sys
from pathlib import Path
from hubfleet.config.load import load_isolated
from hubfleet.plan.changes import read_changed_files
from hubfleet.plan.labels import parse_labels
from hubfleet.plan.planner import plan_from_files
from hubfleet.plan.plan import with_broken
from hubfleet.plan.render import to_json_text
changes = read_changed_files(sys.argv[2])
loaded = load_isolated(Path(sys.argv[1]), only={p for c in changes for p in c.paths()})
plan = plan_from_files(loaded.fleet, changes, labels=parse_labels(None))
sys.stdout.write(to_json_text(with_broken(plan, loaded.broken)))
"""


def core_cpu(src: Path, root: Path, changed_file: Path) -> float:
    env = src_environment(src)
    return process_cpu([sys.executable, "-c", CORE, str(root), str(changed_file)], env, runs=5)


def deployer_cpu(command: list[str], root: Path, changed: str) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_OUTPUT")}
    env |= {"DEPLOYER_ROOT_PATH": str(root), "DEPLOYER_ONLY_CORE": "1"}
    paths = ",".join(line for line in changed.splitlines() if line)
    return process_cpu([*command, "plan-upgrade", paths], env)


def bench_2i2c(hubs: int, others: Others) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="hubfleet-bench-") as tmp:
        root = Path(tmp) / "fleet"
        root.mkdir()
        hub_files = generate_2i2c(root, hubs)
        before = time.process_time()
        fleet = load_fleet(root).fleet_or_raise()
        load_s = time.process_time() - before
        one_hub = random.Random(42).choice(hub_files)
        changed = {"basehub": "helm-charts/basehub/values.yaml\n", "one hub": one_hub + "\n"}
        print(f"{hubs:>6} hubs {len(fleet.clusters):>4} clusters  load {load_s:7.2f} s CPU")
        figures: dict[str, float] = {}
        for label in CHANGES_2I2C:
            seconds, jobs = plan_cpu(fleet, changed[label])
            figures[label] = seconds
            print(f"{'':>25}plan ({label:<7}) {seconds * 1000:10.1f} ms CPU  {jobs:>6} jobs")
        del fleet
        for label in CHANGES_2I2C:
            changed_file = Path(tmp) / "changed.txt"
            changed_file.write_text(changed[label])
            whole = hubfleet_cpu(SRC, root, changed_file)
            figures[f"whole {label}"] = whole
            core = core_cpu(SRC, root, changed_file)
            line = f"{'':>25}hubfleet plan ({label:<7}) {whole:7.2f} s CPU (core {core:5.2f} s)"
            if others.baseline_src is not None:
                base = hubfleet_cpu(others.baseline_src, root, changed_file)
                line += f"   baseline {base:7.2f} s  ratio {whole / base:5.2f}"
            if others.deployer is not None:
                deployer = deployer_cpu(others.deployer, root, changed[label])
                figures[f"deployer {label}"] = deployer
                line += f"   deployer {deployer:7.2f} s  ratio {whole / deployer:5.2f}"
            print(line, flush=True)
        return figures


def exponent(n1: int, t1: float, n2: int, t2: float) -> float:
    if t1 <= 0 or t2 <= 0 or n1 == n2:
        return float("nan")
    return math.log(t2 / t1) / math.log(n2 / n1)


def print_exponents(results: dict[int, dict[str, float]]) -> None:
    sizes = sorted(results)
    if len(sizes) < 2:
        return
    print("\nexponent k of CPU ~ hubs**k (1 = linear):")
    pairs = list(itertools.pairwise(sizes))
    if len(sizes) > 2:
        pairs.append((sizes[0], sizes[-1]))
    labels = [*CHANGES_2I2C, *(f"whole {label}" for label in CHANGES_2I2C)]
    labels += [
        f"deployer {label}" for label in CHANGES_2I2C if f"deployer {label}" in results[sizes[0]]
    ]
    for label in labels:
        parts = [
            f"{a}->{b}: {exponent(a, results[a][label], b, results[b][label]):.2f}"
            for a, b in pairs
        ]
        print(f"  {label:<17} " + "   ".join(parts))


# --- the earlier flat layout ------------------------------------------------------------


def generate_flat(root: Path, hubs: int) -> list[str]:
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


def bench_flat(hubs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="hubfleet-bench-") as tmp:
        root = Path(tmp)
        values_files = generate_flat(root, hubs)
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


SHARED_CHARTS = Path(__file__).resolve().parents[2] / "shared" / "charts"


def bench_rendered(hubs: int, workers: int | None, *, again: bool = False) -> None:
    """`plan --rendered --diff` of a change to basehub's values.yaml (every hub's chart:
    daskhub wraps basehub) in a generated layout2i2c-shaped fleet of `hubs` hubs, with
    the real z2jh chart in a chart cache of its own: wall time, renders, cache hits,
    the comment's size and the whole diff's."""
    from hubfleet.base.redact import MaskKey, Redactor
    from hubfleet.plan.diff_report import to_json
    from hubfleet.plan.labels import Labels
    from hubfleet.plan.manifest_diff import full_text
    from hubfleet.plan.render_diffs import to_markdown_with_diffs
    from hubfleet.plan.rendered import RenderRun
    from hubfleet.plan.revisions import plan_from_revisions, read_revisions

    archives = sorted(SHARED_CHARTS.glob("jupyterhub-*.tgz")) + sorted(
        SHARED_CHARTS.glob("dask-gateway-*.tgz")
    )
    with tempfile.TemporaryDirectory(prefix="bench-rendered-") as tmp:
        root, cache = Path(tmp) / "fleet", Path(tmp) / "cache"
        for archive in archives:
            host = "helm.dask.org" if "dask" in archive.name else "hub.jupyter.org_helm-chart"
            (cache / host).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(archive, cache / host / archive.name)
        os.environ["HUBFLEET_CHART_CACHE"] = str(cache)
        root.mkdir()
        generate_2i2c(root, hubs)

        def git(*args: str) -> None:
            subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)

        git("init", "-q", "-b", "main")
        git("add", "-A")
        git("-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "base")
        values = root / "helm-charts" / "basehub" / "values.yaml"
        values.write_text(
            values.read_text().replace(
                "  hub:\n", "  singleuser:\n    image:\n      tag: bench-2\n  hub:\n", 1
            )
        )
        git("-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qam", "chart change")
        import resource

        def cpu() -> float:
            own = resource.getrusage(resource.RUSAGE_SELF)
            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

        # --again: a stable mask key and a disk cache, planned twice (the second run
        # finds every render on disk).
        key = MaskKey(b"bench-rendered-" * 3, stable=True) if again else MaskKey.random()
        cache_dir = Path(tmp) / "render-cache" if again else None
        for attempt in range(2 if again else 1):
            run = RenderRun(key, workers=workers, cache_dir=cache_dir)
            cpu_started = cpu()
            started = time.perf_counter()
            with read_revisions(root, base="HEAD^", head=None, redactor=Redactor()) as revisions:
                plan = plan_from_revisions(revisions, Labels(), rendered=True, run=run)
            changes = list(run.changes.values())
            markdown = to_markdown_with_diffs(plan, changes)
            whole = full_text(changes)
            json.dumps(to_json(changes))
            wall = time.perf_counter() - started
            used = cpu() - cpu_started  # this process, its workers and their programs
            selected = len(plan.staging_jobs) + len(plan.prod_jobs)
            print(
                f"rendered plan{' (again, disk cache)' if attempt else ''}, {hubs} hubs, "
                f"{workers or os.cpu_count()} worker(s): "
                f"{wall:.1f} s wall (load average {os.getloadavg()[0]:.1f}), {used:.1f} s CPU "
                f"(over {os.cpu_count()} cores: {used / (os.cpu_count() or 1):.1f} s), "
                f"{selected} hubs selected, {len(plan.skipped)} skipped, {len(plan.warnings)} "
                f"warning(s), {run.renders} renders, {run.cache_hits} cache hits, comment "
                f"{len(markdown.encode())} bytes, whole diff {len(whole.encode())} bytes"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layout", choices=("2i2c", "flat"), default="2i2c")
    parser.add_argument("--largest", action="store_true", help="add 50,000 hubs (2i2c)")
    parser.add_argument(
        "--deployer",
        metavar="COMMAND",
        help="the other deployer's command (takes plan-upgrade CHANGED; see above)",
    )
    parser.add_argument("--baseline-src", type=Path, help="another hubfleet's src folder")
    parser.add_argument(
        "--rendered",
        action="store_true",
        help="plan --rendered --diff of a chart change every hub uses (default 171 hubs)",
    )
    parser.add_argument("--workers", type=int, help="with --rendered: render processes")
    parser.add_argument(
        "--again", action="store_true", help="with --rendered: plan twice, a disk cache between"
    )
    parser.add_argument("hubs", nargs="*", type=int)
    args = parser.parse_args()
    if args.rendered:
        for hubs in args.hubs or [171]:
            bench_rendered(hubs, args.workers, again=args.again)
        return
    if args.layout == "flat":
        for hubs in args.hubs or [100, 1000, 10000, 20000]:
            bench_flat(hubs)
        return
    sizes = args.hubs or [1000, 5000, 20000, *([50000] if args.largest else [])]
    print(f"hubfleet from {Path(load_fleet.__code__.co_filename).parents[2]}, pid {os.getpid()}")
    others = Others(
        shlex.split(args.deployer) if args.deployer else None,
        args.baseline_src.resolve() if args.baseline_src else None,
    )
    results = {hubs: bench_2i2c(hubs, others) for hubs in sizes}
    print_exponents(results)


if __name__ == "__main__":
    main()
