"""Deploy makespan on a simulated large fleet, against the critical-path lower bound.

The fleet is shaped like the largest public one: 30 clusters, 171 hubs, one
cluster with 95 hubs, the others with one staging hub and one or two production
hubs; every cluster has a support release. It is generated in a temporary folder
(provider `kubeconfig`, one sops-encrypted kubeconfig for the test age key, so
each cluster's credentials are a real sops decryption). helm latencies come from
a fixed seeded log-normal distribution and are played by the fake helm
(`tests/fakes`) through `sleep` rules. Two scales of the same draws:

- `realistic`: 0.5-5 s per upgrade (median 1.4 s). Real `helm upgrade --wait` of
  a hub takes tens of seconds, so this is still short; it is the scale the target
  (makespan within 10% of the lower bound) is judged at.
- `stress`: the same draws divided by ten, 0.05-0.5 s. Here the cost of starting
  processes dominates: every fake helm is a Python process (~11 ms of CPU) and
  every cluster's credentials a sops process (~15 ms), 262 of them on the
  machine's cores. It shows that floor, not the schedule.

Printed per scale:
- makespan: wall time of one `Deployer.run()` with concurrency >= the fleet's width;
- lower bound (drawn): max over clusters of support + slowest canary + slowest
  production hub, from the drawn latencies alone;
- lower bound (measured): the same sum from the jobs' measured durations (which
  include starting the fake helm), so the ratio to it isolates the orchestrator's
  own scheduling overhead;
- global barrier: the same jobs run as three fleet-wide waves (all support, then all
  staging, then all production), measured, plus its analytic value;
- CPU: seconds used by hubfleet itself and by the programs it started.

Since issue 15 every cluster runs at most `deploy.cluster_parallelism` upgrades at
once (default 8). The figures above are measured with the limit out of the way
(256, as before); one more line per scale gives the makespan with the default 8
(the 95-hub cluster then takes 12 waves).

`broken`: one canary (cluster c05) whose hub pod crash-loops from the 4th poll of
the rollout watch on (default poll 2 s): the time from its upgrade's end until its
failure is reported, against the helm timeout that `helm upgrade --wait` waited out.

`secrets`: the real fleet's shape (issue 23): each hub and support release with one
sops-encrypted values file of five values (encrypted with the real sops and the test
age key), every 10th hub on a daskhub-like chart that wraps testhub through
`file://`; `hubfleet deploy --plan` of the 201 jobs runs through its real entry point
in a child process, the fake helm answering at once. Printed: wall time, hubfleet's
own CPU per job (all of it, then split: before the jobs start, the jobs, after them;
the programs it starts are not in it), peak RSS, peak thread count and the deploy's
concurrency, each against its goal as a ratio (<= 1: met), and the redactor's builds
(regex compiles, index chunks). `--python` picks the hubfleet measured: e.g.
/work/main/.venv/bin/python for main's code, to compare.

`waves` (issue 27): the same fleet rolled out in three waves (clusters c01-c03; 25% of
the remaining production hubs; the rest) with soaks of 1.5 s and 3 s, at the realistic
scale: the makespan against the sum of the waves' bounds (each wave's critical path,
drawn and measured) plus the soaks.

Run: .venv/bin/python benchmarks/bench_deploy.py [realistic|stress|broken|secrets|waves ...]
     [--python PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.deploy.rollout_states import rollout_rules  # noqa: E402
from tests.fakes import install_fakes  # noqa: E402

from hubfleet.base.redact import Redactor  # noqa: E402
from hubfleet.config.load import load_fleet  # noqa: E402
from hubfleet.deploy.model import JobRecord  # noqa: E402
from hubfleet.deploy.orchestrator import Deployer, DeployOptions  # noqa: E402
from hubfleet.plan.job import Job  # noqa: E402
from hubfleet.plan.waves import assign as assign_waves  # noqa: E402
from hubfleet.secrets.sops import Sops, encrypt  # noqa: E402

SEED = 20240611
AGE_KEY = ROOT / "tests/fixtures/age/keys.txt"
FIXTURES = ROOT / "tests/fixtures"
KUBECONFIG = b"apiVersion: v1\nkind: Config\nusers:\n- name: d\n  user:\n    token: bench-token\n"


def shape() -> dict[str, list[tuple[str, bool]]]:
    """30 clusters, 171 hubs: one with 95, 29 with one staging hub and 1-2 production hubs."""
    clusters: dict[str, list[tuple[str, bool]]] = {
        "c00-big": [("staging", True)] + [(f"hub{i:02d}", False) for i in range(94)]
    }
    extra = 76 - 29 * 2  # 29 clusters x (staging + 1 prod) = 58; 18 get a second prod hub
    for n in range(1, 30):
        hubs = [("staging", True), ("prod", False)]
        if n <= extra:
            hubs.append(("prod2", False))
        clusters[f"c{n:02d}"] = hubs
    assert sum(len(h) for h in clusters.values()) == 171
    return clusters


def make_fleet(root: Path, clusters: dict[str, list[tuple[str, bool]]]) -> None:
    shutil.copytree(FIXTURES / "charts/testhub", root / "helm-charts/testhub")
    shutil.copytree(FIXTURES / "fleet/helm-charts/support", root / "helm-charts/support")
    shutil.copy(FIXTURES / "fleet/.sops.yaml", root / ".sops.yaml")
    set_parallelism(root, 256)
    secret = encrypt(KUBECONFIG, filename="enc-kubeconfig.secret.yaml", cwd=root)
    for name, hubs in clusters.items():
        folder = root / "config/clusters" / name
        folder.mkdir(parents=True)
        (folder / "enc-kubeconfig.secret.yaml").write_bytes(secret)
        (folder / "support.values.yaml").write_text("prometheus: {}\n")
        lines = [
            f"name: {name}", "provider: kubeconfig", "kubeconfig:",
            "  file: enc-kubeconfig.secret.yaml", "support:",
            "  helm_chart_values_files: [support.values.yaml]", "hubs:",
        ]  # fmt: skip
        for hub, staging in hubs:
            (folder / f"{hub}.values.yaml").write_text(f"hubName: {hub}\n")
            lines += [
                f"- name: {hub}",
                f"  domain: {hub}.{name}.example.org",
                f"  staging: {'true' if staging else 'false'}",
                f"  helm_chart_values_files: [{hub}.values.yaml]",
            ]
        (folder / "cluster.yaml").write_text("\n".join(lines) + "\n")


def set_parallelism(root: Path, limit: int) -> None:
    (root / "hubfleet.yaml").write_text(
        f"default_chart: testhub\ndeploy:\n  cluster_parallelism: {limit}\n"
    )


SCALES = {"realistic": 10.0, "stress": 1.0}
BROKEN = ("c05", "staging")
CRASH_AT_POLL = 3  # the states served to polls 0, 1, 2 are pending; from 3 on, a crash loop


def latencies(jobs: list[Job], scale: float) -> dict[Job, float]:
    """Seeded draws, log-normal (median 0.135 s x scale), clipped to 0.05-0.5 s x scale."""
    rng = random.Random(SEED)
    return {job: scale * min(0.5, max(0.05, rng.lognormvariate(-2.0, 0.6))) for job in jobs}


def cpu_seconds() -> tuple[float, float]:
    """(this process, its finished children) CPU seconds so far."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, children.ru_utime + children.ru_stime


def run(
    fleet_root: Path,
    jobs: list[Job],
    fakes_path: str,
    width: int,
    observer: Callable[[JobRecord], None] | None = None,
    expect_failures: bool = False,
) -> tuple[float, dict[Job, float]]:
    fleet = load_fleet(fleet_root).fleet_or_raise()
    redactor = Redactor()
    options = DeployOptions(
        concurrency=width, cluster_concurrency=30, extra_env={"PATH": fakes_path}
    )
    deployer = Deployer(
        fleet,
        jobs,
        sops=Sops(redactor, cwd=fleet.root),
        redactor=redactor,
        options=options,
        observer=observer,
    )
    start = time.monotonic()
    report = deployer.run()
    makespan = time.monotonic() - start
    bad = [r for r in report.records if r.status != "succeeded"]
    assert expect_failures or not bad, bad[:3]
    return makespan, {r.job: r.duration_s or 0.0 for r in report.records}


def bound(durations: dict[Job, float]) -> float:
    per_cluster: dict[str, dict[str, float]] = {}
    for job, seconds in durations.items():
        stage = per_cluster.setdefault(job.cluster, {})
        stage[job.kind] = max(stage.get(job.kind, 0.0), seconds)
    return max(sum(stages.values()) for stages in per_cluster.values())


def barrier_analytic(durations: dict[Job, float]) -> float:
    return sum(
        max((s for j, s in durations.items() if j.kind == kind), default=0.0)
        for kind in ("support", "staging", "prod")
    )


def scenario(root: Path, clusters: dict[str, list[tuple[str, bool]]], tmp: Path, name: str) -> None:
    fakes = install_fakes(tmp / name)
    jobs = all_jobs(clusters)
    drawn = latencies(jobs, SCALES[name])
    fakes.script(
        [
            {"tool": "helm", "args": ["upgrade", job.hub or "support"],
             "contains": f"hubfleet-creds-{job.cluster}-", "sleep": round(seconds, 3)}
            for job, seconds in drawn.items()
        ]
    )  # fmt: skip
    width = len(jobs)
    cpu_before = cpu_seconds()
    makespan, measured = run(root, jobs, fakes.path, width)
    cpu_after = cpu_seconds()
    helm_calls = len(fakes.calls("helm"))
    waves = 0.0
    for kind in ("support", "staging", "prod"):
        wave, _ = run(root, [j for j in jobs if j.kind == kind], fakes.path, width)
        waves += wave
    lb_conf, lb_meas = bound(drawn), bound(measured)
    own, children = (after - before for after, before in zip(cpu_after, cpu_before, strict=True))
    print(f"[{name}] helm latencies {min(drawn.values()):.2f}-{max(drawn.values()):.2f} s, "
          f"{len(jobs)} jobs, concurrency {width}, {helm_calls} helm processes")  # fmt: skip
    print(f"  makespan                        {makespan:6.2f} s")
    print(f"  lower bound (drawn latencies)   {lb_conf:6.2f} s   ratio {makespan / lb_conf:.3f}")
    print(f"  lower bound (measured jobs)     {lb_meas:6.2f} s   ratio {makespan / lb_meas:.3f}")
    print(f"  global barrier, measured waves  {waves:6.2f} s   ratio {waves / lb_conf:.3f}")
    print(f"  global barrier, analytic        {barrier_analytic(drawn):6.2f} s (drawn latencies)")
    cores = os.cpu_count() or 1
    print(f"  CPU: hubfleet {own:.2f} s, started programs {children:.2f} s "
          f"(makespan x {cores} cores = {makespan * cores:.2f} s)")  # fmt: skip
    set_parallelism(root, 8)
    limited, _ = run(root, jobs, fakes.path, width)
    set_parallelism(root, 256)
    print(f"  makespan, cluster_parallelism 8 {limited:6.2f} s (the 95-hub cluster in waves of 8)")


# `waves` (issue 27): the fleet rolled out in three waves; short soaks, realistic latencies.
WAVES_SOAK_S = (1.5, 3.0)
WAVES_YAML = """rollout:
  trigger:
    clusters_over: 0
  waves:
  - name: early
    clusters: [c01, c02, c03]
    soak: {first}s
  - name: quarter
    share: 25%
    soak: {second}s
"""


def waves(root: Path, clusters: dict[str, list[tuple[str, bool]]], tmp: Path) -> None:
    """The 30-cluster fleet in three waves (three clusters; 25% of the remaining
    production hubs, spread across clusters with their canaries; the rest), at the
    realistic scale: the makespan against the sum of each wave's critical path
    (its clusters' support + slowest canary + slowest production hub of that wave)
    plus the soaks between the waves (none after the last)."""
    fakes = install_fakes(tmp / "waves")
    drawn = latencies(all_jobs(clusters), SCALES["realistic"])
    fakes.script(
        [
            {"tool": "helm", "args": ["upgrade", job.hub or "support"],
             "contains": f"hubfleet-creds-{job.cluster}-", "sleep": round(seconds, 3)}
            for job, seconds in drawn.items()
        ]
    )  # fmt: skip
    settings = root / "hubfleet.yaml"
    before = settings.read_text()
    first, second = WAVES_SOAK_S
    settings.write_text(before + WAVES_YAML.format(first=first, second=second))
    try:
        fleet = load_fleet(root).fleet_or_raise()
        jobs, rollout = assign_waves(fleet, all_jobs(clusters))
        assert rollout is not None
        redactor = Redactor()
        options = DeployOptions(
            concurrency=len(jobs), cluster_concurrency=30, extra_env={"PATH": fakes.path}
        )
        deployer = Deployer(
            fleet, jobs, sops=Sops(redactor, cwd=fleet.root), redactor=redactor,
            options=options, rollout=rollout,
        )  # fmt: skip
        start = time.monotonic()
        report = deployer.run()
        makespan = time.monotonic() - start
    finally:
        settings.write_text(before)
    bad = [r for r in report.records if r.status != "succeeded"]
    assert not bad, bad[:3]
    measured = {r.job: r.duration_s or 0.0 for r in report.records}
    plain = {(job.cluster, job.hub): seconds for job, seconds in drawn.items()}
    soaks = sum(WAVES_SOAK_S)
    by_drawn = by_measured = 0.0
    print(f"[waves] {len(jobs)} jobs in {len(rollout.waves)} waves, soaks {first}s and {second}s")
    for wave in rollout.waves:
        in_wave = [job for job in jobs if job.wave == wave.name]
        wave_drawn = bound({job: plain[(job.cluster, job.hub)] for job in in_wave})
        wave_measured = bound({job: measured[job] for job in in_wave})
        by_drawn, by_measured = by_drawn + wave_drawn, by_measured + wave_measured
        print(f"  wave {wave.name:<8} {len(in_wave):3d} jobs in "
              f"{len({j.cluster for j in in_wave}):2d} clusters, bound {wave_drawn:5.2f} s drawn, "
              f"{wave_measured:5.2f} s measured")  # fmt: skip
    print(f"  makespan                               {makespan:6.2f} s")
    print(f"  sum of wave bounds + soaks (drawn)     {by_drawn + soaks:6.2f} s   "
          f"ratio {makespan / (by_drawn + soaks):.3f}")  # fmt: skip
    print(f"  sum of wave bounds + soaks (measured)  {by_measured + soaks:6.2f} s   "
          f"ratio {makespan / (by_measured + soaks):.3f}")  # fmt: skip
    print(f"  the same jobs without waves, bound     {bound(drawn):6.2f} s (drawn)")


def all_jobs(clusters: dict[str, list[tuple[str, bool]]]) -> list[Job]:
    return [Job(c, None, "support", "kubeconfig") for c in clusters] + [
        Job(c, hub, "staging" if staging else "prod", "kubeconfig")
        for c, hubs in clusters.items()
        for hub, staging in hubs
    ]


def broken(root: Path, clusters: dict[str, list[tuple[str, bool]]], tmp: Path) -> None:
    """One broken canary among realistic latencies: how long until its failure shows."""
    fakes = install_fakes(tmp / "broken")
    jobs = all_jobs(clusters)
    drawn = latencies(jobs, SCALES["realistic"])
    cluster, hub = BROKEN
    states = ["pending"] * CRASH_AT_POLL + ["crashloop"]
    fakes.script(
        rollout_rules(cluster, hub, states, revision=4)
        + [
            {"tool": "helm", "args": ["upgrade", job.hub or "support"],
             "contains": f"hubfleet-creds-{job.cluster}-", "sleep": round(seconds, 3)}
            for job, seconds in drawn.items()
        ]
    )  # fmt: skip
    failed_at: list[float] = []

    def observe(record: JobRecord) -> None:
        if (record.job.cluster, record.job.hub) == BROKEN and record.status == "failed":
            failed_at.append(time.time())

    makespan, _ = run(root, jobs, fakes.path, len(jobs), observe, expect_failures=True)
    [upgrade] = [
        c for c in fakes.calls("helm")
        if c["argv"][:1] == ["upgrade"] and f"hubfleet-creds-{cluster}-" in " ".join(c["argv"])
        and c["argv"][c["argv"].index("--") + 1] == hub
    ]  # fmt: skip
    polls = [c for c in fakes.calls("kubectl") if c["argv"][:1] == ["get"] and "state" in c]
    crash = min(c["start"] for c in polls if c["state"] >= CRASH_AT_POLL)
    timeout = 600.0  # DeployOptions' default helm timeout, 10m
    print(f"[broken] canary {cluster}/{hub} crash-loops from poll {CRASH_AT_POLL + 1} "
          f"(poll interval 2 s), {len(jobs)} jobs")  # fmt: skip
    print(f"  failure reported after upgrade  {failed_at[0] - upgrade['end']:6.2f} s "
          f"(helm timeout {timeout:.0f} s: what `--wait` waited out)")  # fmt: skip
    print(f"  ... after the crash was visible {failed_at[0] - crash:6.2f} s")
    print(f"  makespan (others unaffected)    {makespan:6.2f} s")


# ------------------------------------------------------------------ secrets: `hubfleet deploy`

# The goals of issue 23 for this scenario, printed as ratios (<= 1: met).
GOAL_CPU_MS = 10.0  # hubfleet's own CPU per job
GOAL_RSS_MIB = 200
GOAL_EXTRA_THREADS = 10  # threads <= concurrency + 10
SECRET_VALUES = 5  # per hub (and per support release): one encrypted values file each
DASKHUB_SHARE = 10  # every 10th hub on a daskhub-like chart wrapping testhub (file://)
DASKHUB = """apiVersion: v2
name: daskhub
version: 0.1.0
dependencies:
  - name: testhub
    version: 0.1.0
    repository: file://../testhub
"""

# Run in a child by the python of the hubfleet measured (`--python`): it counts the
# redactor's builds (pattern compiles on main's code, index chunks on this one),
# samples the thread count, and runs the real entry point.
DRIVER = r"""
import json, resource, sys, threading, time
started = time.monotonic()
import hubfleet.base.redact as redact
compiles = [0]
trie = redact.trie_pattern
def counting(words):
    compiles[0] += 1
    return trie(words)
redact.trie_pattern = counting
made = []
init = redact.Redactor.__init__
def keep(self, *args, **kwargs):
    made.append(self)
    init(self, *args, **kwargs)
redact.Redactor.__init__ = keep
peak = [threading.active_count()]
done = threading.Event()
def sample():
    while not done.wait(0.002):
        peak[0] = max(peak[0], threading.active_count() - 1)
threading.Thread(target=sample, daemon=True).start()
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
ready = [None, None]  # CPU when the deploy's jobs started and ended (Deployer.run)
try:
    import hubfleet.deploy.orchestrator as orchestrator
    deploy_run = orchestrator.Deployer.run
    def timed_run(self):
        ready[0] = cpu()
        try:
            return deploy_run(self)
        finally:
            ready[1] = cpu()
    orchestrator.Deployer.run = timed_run
except (ImportError, AttributeError):
    pass
from hubfleet.cli.entry import main
out = sys.argv[2]
sys.argv = ["hubfleet", *json.loads(sys.argv[1])]
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 0
done.set()
usage = resource.getrusage(resource.RUSAGE_SELF)
chunks = sum(len(getattr(r, "builds", ())) for r in made)
forms = max((len(r) for r in made), default=0)
json.dump({"exit": code, "wall": time.monotonic() - started,
           "cpu": usage.ru_utime + usage.ru_stime, "rss_kib": usage.ru_maxrss,
           "threads": peak[0], "compiles": compiles[0], "chunks": chunks, "forms": forms,
           "cpu_before_jobs": ready[0],
           "cpu_jobs": None if ready[1] is None else ready[1] - ready[0]},
          open(out, "w"))
"""


def token(rng: random.Random) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(24, 48)))


def secret_values(rng: random.Random, nested: bool) -> tuple[str, list[str]]:
    """A hub's encrypted values file (YAML) of five values, and the values."""
    values = [token(rng) for _ in range(SECRET_VALUES)]
    text = (
        f"proxy:\n  secretToken: {values[0]}\n"
        f"hub:\n  cookieSecret: {values[1]}\n  extraEnv:\n"
        f"    API_KEY: {values[2]}\n    DB_PASSWORD: {values[3]}\n    OAUTH_SECRET: {values[4]}\n"
    )
    if nested:
        text = "testhub:\n" + "".join(f"  {line}\n" for line in text.splitlines())
    return text, values


def make_secret_fleet(
    root: Path, clusters: dict[str, list[tuple[str, bool]]], *, with_secrets: bool = True
) -> int:
    """The fleet of `make_fleet`, each hub and support release with one encrypted values
    file of five values (unless not `with_secrets`), every 10th hub on `daskhub`;
    returns how many encrypted values."""
    make_fleet(root, clusters)
    set_parallelism(root, 8)
    (root / "helm-charts/daskhub").mkdir()
    (root / "helm-charts/daskhub/Chart.yaml").write_text(DASKHUB)
    (root / "helm-charts/daskhub/values.yaml").write_text("testhub: {}\n")
    rng = random.Random(SEED)
    count, number = 0, 0

    def encrypted(folder: Path, name: str, text: str) -> str:
        nonlocal count
        if not with_secrets:
            return ""
        (folder / name).write_bytes(encrypt(text.encode(), filename=name, cwd=root))
        count += SECRET_VALUES
        return f", {name}"

    for name, hubs in clusters.items():
        folder = root / "config/clusters" / name
        cluster = (folder / "cluster.yaml").read_text()
        support, _ = secret_values(rng, nested=False)
        enc = encrypted(folder, "enc-support.secret.values.yaml", support)
        cluster = cluster.replace("[support.values.yaml]", f"[support.values.yaml{enc}]")
        for hub, _staging in hubs:
            number += 1
            daskhub = number % DASKHUB_SHARE == 0
            text, _ = secret_values(rng, nested=daskhub)
            enc = encrypted(folder, f"enc-{hub}.secret.values.yaml", text)
            replacement = f"[{hub}.values.yaml{enc}]"
            if daskhub:
                (folder / f"{hub}.values.yaml").write_text(f"testhub:\n  hubName: {hub}\n")
                replacement += "\n  helm_chart: daskhub"
            cluster = cluster.replace(f"[{hub}.values.yaml]", replacement)
        (folder / "cluster.yaml").write_text(cluster)
    return count


def plan_file(clusters: dict[str, list[tuple[str, bool]]], target: Path) -> Path:
    lists: dict[str, list[dict[str, object]]] = {
        "support_jobs": [],
        "staging_jobs": [],
        "prod_jobs": [],
    }
    for job in all_jobs(clusters):
        entry: dict[str, object] = {
            "cluster_name": job.cluster,
            "provider": job.provider,
            "reasons": ["bench"],
            "choice_reason": "bench",
        }
        if job.hub is not None:
            entry["hub_name"] = job.hub
        lists[f"{job.kind}_jobs"].append(entry)
    # What the plan was made from (deploy --plan makes it again): every cluster.yaml.
    changes = [{"path": f"config/clusters/{c}/cluster.yaml", "status": "M"} for c in clusters]
    planned = {"base": None, "head": None, "changes": changes, "labels": []}
    target.write_text(json.dumps({**lists, "planned": planned}))
    return target


def secrets(
    root: Path, clusters: dict[str, list[tuple[str, bool]]], tmp: Path, python: str
) -> None:
    """`hubfleet deploy` of the fleet with per-hub secret files through the instant fake
    helm, in a child process of `python` (whose hubfleet is measured); then the same
    fleet without the secret files, for hubfleet's cost without decryption."""
    jobs = all_jobs(clusters)
    plan = plan_file(clusters, tmp / "secret-plan.json")
    daskhubs = sum(1 for n in range(1, 172) if n % DASKHUB_SHARE == 0)
    print(f"[secrets] `hubfleet deploy --plan` ({python}): {len(jobs)} jobs, {daskhubs} hubs "
          f"on daskhub, instant fake helm, concurrency 8, cluster concurrency 8")  # fmt: skip
    for with_secrets in (True, False):
        label = "secret-fleet" if with_secrets else "plain-fleet"
        fleet = tmp / label
        fleet.mkdir()
        values = make_secret_fleet(fleet, clusters, with_secrets=with_secrets)
        data, wall, bad, options = deploy_child(python, fleet, plan, tmp / label)
        print(f"  -- {values} encrypted values ({SECRET_VALUES} per hub and support release)"
              if with_secrets else "  -- the same fleet without its secret files")  # fmt: skip
        print(f"  exit {data['exit']}, jobs not succeeded: {bad}")
        print(f"  wall time                       {wall:6.2f} s (in-process {data['wall']:.2f} s)")
        per_job = 1000 * data["cpu"] / len(jobs)
        print(f"  hubfleet's own CPU              {data['cpu']:6.2f} s = {per_job:.1f} ms per job "
              f"(start-up included): {per_job / GOAL_CPU_MS:.2f} x the goal's "
              f"{GOAL_CPU_MS:g} ms")  # fmt: skip
        if data.get("cpu_jobs") is not None:
            before, during = data["cpu_before_jobs"], data["cpu_jobs"]
            print(f"    before the jobs (start-up, load, checks) {before:5.2f} s; "
                  f"the jobs (Deployer.run) {1000 * during / len(jobs):.1f} ms per job; "
                  f"after them {data['cpu'] - before - during:.2f} s")  # fmt: skip
        rss = data["rss_kib"] / 1024
        print(f"  peak RSS                        {rss:6.0f} MiB: {rss / GOAL_RSS_MIB:.2f} x the "
              f"goal's {GOAL_RSS_MIB} MiB")  # fmt: skip
        concurrency = options.get("concurrency", 8)
        limit = concurrency + GOAL_EXTRA_THREADS
        threads = data["threads"]
        print(f"  peak threads                    {threads:6d}: {threads / limit:.2f} x the goal's"
              f" concurrency {concurrency} + {GOAL_EXTRA_THREADS} = {limit} "
              f"(cluster concurrency {options.get('cluster_concurrency', '?')})")  # fmt: skip
        print(f"  pattern compiles (regex tries)  {data['compiles']:6d}")
        print(f"  index chunks built              {data['chunks']:6d} "
              f"({data['forms']} forms registered)")  # fmt: skip


def deploy_child(
    python: str, fleet: Path, plan: Path, work: Path
) -> tuple[dict[str, Any], float, int, dict[str, Any]]:
    """Run `hubfleet deploy --plan` in a child (DRIVER); its figures, wall time, the
    number of jobs that did not succeed, and the deploy's options (from its report)."""
    fakes = install_fakes(work / "fakes")
    home, private = work / "home", work / "private"
    home.mkdir(parents=True)
    private.mkdir()
    stats, report = work / "stats.json", work / "report.json"
    argv = ["--repo", str(fleet), "deploy", "--plan", str(plan), "--no-health-check",
            "--progress", "plain", "--report", str(report)]  # fmt: skip
    env = {**os.environ, "PATH": fakes.path, "HOME": str(home), "TMPDIR": str(private)}
    env.pop("GITHUB_STEP_SUMMARY", None)
    started = time.monotonic()
    done = subprocess.run(
        [python, "-c", DRIVER, json.dumps(argv), str(stats)],
        cwd=work, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.monotonic() - started
    if done.returncode != 0 or not stats.exists():
        sys.exit(
            f"hubfleet deploy failed ({done.returncode}):\n"
            f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    written = json.loads(report.read_text())
    bad = sum(1 for j in written["jobs"] if j["status"] not in ("succeeded", "unchanged"))
    return json.loads(stats.read_text()), wall, bad, written.get("options", {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scales", nargs="*", default=[*SCALES, "broken", "secrets", "waves"],
                        choices=[*SCALES, "broken", "secrets", "waves"])  # fmt: skip
    parser.add_argument(
        "--python", default=sys.executable, help="secrets: the python whose hubfleet runs"
    )
    args = parser.parse_args()
    os.environ["SOPS_AGE_KEY_FILE"] = str(AGE_KEY)
    os.environ["SOPS_DISABLE_VERSION_CHECK"] = "1"
    clusters = shape()
    print(f"fleet: {len(clusters)} clusters, {sum(map(len, clusters.values()))} hubs, "
          f"seed {SEED}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="hubfleet-bench-") as tmp:
        root = Path(tmp) / "fleet"
        root.mkdir()
        make_fleet(root, clusters)
        for name in args.scales:
            if name == "broken":
                broken(root, clusters, Path(tmp))
            elif name == "secrets":
                secrets(root, clusters, Path(tmp), args.python)
            elif name == "waves":
                waves(root, clusters, Path(tmp))
            else:
                scenario(root, clusters, Path(tmp), name)


if __name__ == "__main__":
    main()
