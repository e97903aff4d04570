"""Helpers for tests that run real local hubs: free ports, and cleanup of every process."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import psutil
import yaml

from hubfleet.local import stop_hubs
from hubfleet.local.processes import processes_in
from tests.helpers import free_base_port as free_base_port  # the local tests import it here

ADMIN_TOKEN = "s3cr3t-admin-token-0123456789abcdef"
DEMO_PASSWORD = "s3cr3t-demo-password"
# JupyterHub drops a user server that does not answer within `Spawner.http_timeout` (30 s
# by default) of starting: on a loaded machine (load 13-21, two test workers beside other
# work) JupyterLab's server can take longer, and a check that should pass failed with
# "the server stopped while starting". Tests whose checks start a user server give it
# this much (the check's own attempt timeout still bounds each test).
SLOW_MACHINE_SPAWNER = {"http_timeout": 240}


def kill_everything(state_dir: Path) -> None:
    """Stop every hub of the folder, then kill whatever still works inside it."""
    with contextlib.suppress(Exception):
        stop_hubs(state_dir)
    leftovers = processes_in(state_dir)
    for proc in leftovers:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(leftovers, timeout=5)


@contextlib.contextmanager
def cleaned(state_dir: Path) -> Iterator[Path]:
    try:
        yield state_dir
    finally:
        kill_everything(state_dir)


def rich_values(title: str = "Demo Hub") -> dict[str, object]:
    """A hub using most of what the local provider honours (and some Kubernetes-only keys)."""
    return {
        "hub": {
            "config": {
                "JupyterHub": {"authenticator_class": "dummy"},
                "DummyAuthenticator": {"password": DEMO_PASSWORD},
            },
            "extraConfig": {
                "20-second": "print('extra-config-order: second', get_config('custom.title'))",
                "10-first": (
                    "from z2jh import get_config as z\n"
                    "print('extra-config-order: first', z('custom.title'))"
                ),
            },
            "services": {"test-admin": {"apiToken": ADMIN_TOKEN}},
            "loadRoles": {
                "test-admin": {
                    "scopes": ["admin:users", "admin:servers"],
                    "services": ["test-admin"],
                }
            },
            "image": {"name": "quay.io/jupyterhub/k8s-hub"},
        },
        "singleuser": {
            "defaultUrl": "/api/status",
            "extraEnv": {
                "HUBFLEET_TEST": "yes",
                "FROM_SECRET": {"valueFrom": {"secretKeyRef": {}}},
            },
            "image": {"name": "jupyter/base-notebook"},
            "storage": {"type": "none"},
        },
        "cull": {"enabled": True, "timeout": 1800, "every": 300},
        "custom": {"title": title},
        "proxy": {"https": {"enabled": False}},
        "ingress": {"enabled": True},
        "scheduling": {"userScheduler": {"enabled": False}},
    }


def wrapper_chart(repo: Path) -> None:
    """helm-charts/wrapper: depends on `jupyterhub` (the test chart, renamed)."""
    wrapper = repo / "helm-charts/wrapper"
    inner = wrapper / "charts/jupyterhub"
    shutil.copytree(repo / "helm-charts/testhub", inner)
    chart = yaml.safe_load((inner / "Chart.yaml").read_text())
    (inner / "Chart.yaml").write_text(yaml.safe_dump({**chart, "name": "jupyterhub"}))
    (wrapper / "Chart.yaml").write_text(
        "apiVersion: v2\nname: wrapper\nversion: 1.0.0\n"
        f"dependencies:\n- name: jupyterhub\n  version: {chart['version']}\n"
    )
    (wrapper / "values.yaml").write_text("jupyterhub: {}\n")
