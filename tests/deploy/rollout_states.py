"""Rollout states for the fake kubectl: a hub release's Deployment and its pod, as
`kubectl get deploy,sts,ds,pods --output=json` answers, and the fake rules that play
them (`states`: one document per poll) for one release of one cluster."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

LABELS = {"app": "jupyterhub", "component": "hub"}
POD = "hub-7d9f-abcde"


def manifest(namespace: str) -> str:
    """The release's manifest: a Secret (never watched) and the hub's Deployment."""
    docs = [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hub"},
         "data": {"k": "c2VjcmV0"}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "hub", "namespace": namespace},
         "spec": {"replicas": 1, "selector": {"matchLabels": LABELS}}},
    ]  # fmt: skip
    return yaml.safe_dump_all(docs)


def _deployment(ready: int, observed: int = 2) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": {"name": "hub", "generation": 2},
        "spec": {"replicas": 1, "selector": {"matchLabels": LABELS}},
        "status": {
            "observedGeneration": observed,
            "replicas": 1,
            "updatedReplicas": 1,
            "readyReplicas": ready,
        },
    }


def _pod(status: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "Pod", "metadata": {"name": POD, "labels": LABELS}, "status": status}


def _waiting(reason: str, message: str = "") -> dict[str, Any]:
    state = {"waiting": {"reason": reason, "message": message}}
    return {"phase": "Pending", "containerStatuses": [{"name": "hub", "state": state}]}


def state(name: str) -> str:
    """One poll's answer: pending, ready, crashloop, imagepull, unschedulable, stale."""
    if name == "ready":
        items = [_deployment(1), _pod({"phase": "Running"})]
    elif name == "stale":  # the controller has not seen the new generation yet
        items = [_deployment(1, observed=1), _pod({"phase": "Running"})]
    elif name == "pending":
        items = [_deployment(0), _pod(_waiting("ContainerCreating"))]
    elif name == "crashloop":
        items = [_deployment(0), _pod(_waiting("CrashLoopBackOff", "back-off 10s"))]
    elif name == "imagepull":
        items = [_deployment(0), _pod(_waiting("ImagePullBackOff", "image not found"))]
    elif name == "unschedulable":
        condition = {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": "0/3 nodes are available: 3 Insufficient memory.",
        }
        items = [_deployment(0), _pod({"phase": "Pending", "conditions": [condition]})]
    else:
        raise ValueError(name)
    return json.dumps({"kind": "List", "items": items})


def rollout_rules(
    cluster: str, release: str, states: list[str], *, revision: int = 3, logs: str = ""
) -> list[dict[str, Any]]:
    """Fake rules for one release of one cluster: `helm list` says it is at `revision`,
    `helm get manifest` answers its Deployment, kubectl plays `states`, logs answer `logs`."""
    creds = f"hubfleet-creds-{cluster}-"
    listed = [{"name": release, "namespace": release, "revision": str(revision),
               "status": "deployed"}]  # fmt: skip
    return [
        {"tool": "helm", "args": ["list"], "contains": creds, "stdout": json.dumps(listed)},
        {"tool": "helm", "args": ["get", "manifest", release], "contains": creds,
         "stdout": manifest(release)},
        {"tool": "kubectl", "args": ["get", "deploy,sts,ds,pods", f"--namespace={release}"],
         "contains": creds, "states": [state(s) for s in states], "name": f"{cluster}-{release}"},
        {"tool": "kubectl", "args": ["logs", f"--namespace={release}"], "contains": creds,
         "stdout": logs},
    ]  # fmt: skip


def fast_watch(fleet: Path, **settings: Any) -> None:
    """Small poll interval and grace in the fleet copy's hubfleet.yaml (deploy settings)."""
    path = fleet / "hubfleet.yaml"
    doc = yaml.safe_load(path.read_text())
    doc.setdefault("deploy", {}).update(
        {"rollout_poll_s": 0.05, "unschedulable_grace_s": 0.3, **settings}
    )
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
