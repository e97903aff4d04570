"""Load and check (without rendering) a generated fleet of 500 clusters, 10,000 hubs.

Prints the time to generate, to load (`load_fleet`), and to validate without
render (load plus every file's content checks and the plaintext lint), and the
time of `hubfleet --help`. Run: .venv/bin/python benchmarks/bench_load.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLUSTERS = 500
HUBS_PER_CLUSTER = 20


def generate(root: Path) -> None:
    (root / "hubfleet.yaml").write_text("default_chart: basehub\n")
    chart = root / "helm-charts" / "basehub"
    chart.mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: basehub\nversion: 0.1.0\n")
    support = root / "helm-charts" / "support"
    support.mkdir(parents=True)
    (support / "Chart.yaml").write_text("apiVersion: v2\nname: support\nversion: 0.1.0\n")
    for c in range(CLUSTERS):
        name = f"cluster-{c:03d}"
        folder = root / "config" / "clusters" / name
        folder.mkdir(parents=True)
        lines = [f"name: {name}", "provider: kubeconfig", "kubeconfig:", "  file: kubeconfig.yaml"]
        lines += ["support:", "  helm_chart_values_files: [support.values.yaml]", "hubs:"]
        (folder / "kubeconfig.yaml").write_text("apiVersion: v1\nkind: Config\n")
        (folder / "support.values.yaml").write_text("prometheus:\n  retention: 30d\n")
        (folder / "common.values.yaml").write_text(
            "hub:\n  config:\n    JupyterHub:\n      admin_access: false\n"
            "singleuser:\n  defaultUrl: /lab\n  memory: {limit: 2G, guarantee: 1G}\n"
        )
        for h in range(HUBS_PER_CLUSTER):
            hub = "staging" if h == 0 else f"hub-{h:02d}"
            lines += [
                f"  - name: {hub}",
                f"    domain: {hub}.{name}.example.org",
                "    helm_chart_values_files:",
                "      - common.values.yaml",
                f"      - {hub}.values.yaml",
            ]
            (folder / f"{hub}.values.yaml").write_text(
                f"ingress:\n  hosts: [{hub}.{name}.example.org]\n"
                f"custom:\n  community: {hub}\n  contact: ops@example.org\n"
            )
        (folder / "cluster.yaml").write_text("\n".join(lines) + "\n")


def main() -> None:
    from hubfleet.config.load import load_fleet
    from hubfleet.validate.run import validate

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        generate(root)
        generated = time.perf_counter() - started

        started = time.perf_counter()
        loaded = load_fleet(root)
        load_s = time.perf_counter() - started
        hubs = sum(len(c.hubs) for c in loaded.fleet.clusters)
        assert not loaded.errors, loaded.errors[:3]

        started = time.perf_counter()
        result = validate(root, render=False)
        check_s = time.perf_counter() - started
        assert not result.errors, result.errors[:3]

    help_runs = []
    for _ in range(5):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "hubfleet", "--help"], check=True, capture_output=True
        )
        help_runs.append(time.perf_counter() - started)

    print(
        f"fleet: {len(loaded.fleet.clusters)} clusters, {hubs} hubs "
        f"(generated in {generated:.2f} s)"
    )
    print(f"load_fleet:                     {load_s:.2f} s  ({load_s / hubs * 1e6:.0f} us/hub)")
    print(f"validate --no-render (load+check): {check_s:.2f} s  (target < 5 s)")
    print(
        f"hubfleet --help: best {min(help_runs) * 1000:.0f} ms, "
        f"median {sorted(help_runs)[2] * 1000:.0f} ms  (target < 300 ms)"
    )


if __name__ == "__main__":
    main()
