"""Benchmark of the local provider: deploy three hubs until all are healthy, and one check.

Staging first (deploy + health check, the canary), then two production hubs in
parallel (deploy, then health check each). Prints the figures; asserts nothing.

    .venv/bin/python benchmarks/bench_local.py
"""

from __future__ import annotations

import concurrent.futures
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.local.hubs import free_base_port  # noqa: E402

from hubfleet.health import check_hub  # noqa: E402
from hubfleet.local import LocalHubSpec, deploy_hub, local_check_token, stop_hubs  # noqa: E402
from hubfleet.local.processes import processes_in  # noqa: E402


def values(title: str) -> dict[str, object]:
    return {
        "hub": {
            "config": {
                "JupyterHub": {"authenticator_class": "dummy"},
                "DummyAuthenticator": {"password": "demo"},
            }
        },
        "singleuser": {"defaultUrl": "/lab"},
        "custom": {"title": title},
    }


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="hubfleet-bench-") as tmp:
        state = Path(tmp) / "local"
        base = free_base_port(3)

        def deploy_and_check(hub: str) -> tuple[float, float]:
            began = time.monotonic()
            result = deploy_hub(LocalHubSpec("bench", hub, values(hub), state, base), timeout=120)
            deployed = time.monotonic() - began
            check = check_hub(result.url, local_check_token(state, hub), attempts=1)
            if not check.ok:
                raise SystemExit(f"{hub}: health check failed: {check.message}")
            return deployed, check.duration_s

        try:
            began = time.monotonic()
            staging_deploy, staging_check = deploy_and_check("staging")
            staging_done = time.monotonic() - began
            with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
                prod = list(pool.map(deploy_and_check, ["prod-a", "prod-b"]))
            total = time.monotonic() - began

            began = time.monotonic()
            again = deploy_hub(LocalHubSpec("bench", "staging", values("staging"), state, base))
            unchanged = time.monotonic() - began
            assert again.status == "unchanged"
        finally:
            stop_began = time.monotonic()
            stop_hubs(state)
            stop_s = time.monotonic() - stop_began
            left = processes_in(state)

        print(f"staging deploy (JupyterHub answering):     {staging_deploy:6.2f} s")
        print(f"staging health check (one, 6 steps):       {staging_check:6.2f} s")
        print(f"staging deploy + check:                    {staging_done:6.2f} s")
        for name, (deployed, checked) in zip(["prod-a", "prod-b"], prod, strict=True):
            print(f"{name} deploy / check (in parallel):     {deployed:6.2f} s / {checked:5.2f} s")
        print(f"three hubs, from first deploy to all healthy: {total:6.2f} s")
        print(f"redeploy unchanged (no-op):                {unchanged:6.2f} s")
        print(f"stop three hubs:                           {stop_s:6.2f} s")
        print(f"processes left after stop:                 {len(left)}")
        return 0 if not left else 1


if __name__ == "__main__":
    sys.exit(main())
