"""What is left of each decommissioned hub (docs/decommission.md), for `hubfleet status`.

For each `decommissioned:` entry of a cluster, read from the cluster with its own
credentials (through the runner, redacted):

- `uninstalling`: its release is still in the cluster (the next deploy removes it),
  or, with `data: delete`, its namespace is still there;
- `retained`: the release is gone and, with `data: keep`, its namespace stays with
  its PersistentVolumeClaims (the users' home directories), listed with their sizes;
- `gone`: nothing is left: the entry can be removed from cluster.yaml.

On Kubernetes: `kubectl get namespace --ignore-not-found` of the hub's namespace,
then `kubectl get pvc` in it; on the local provider, the hub's folder in the
cluster's state folder. Also the entry that would remove a release the cluster has
and git does not declare (an orphan): `orphan_entry`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from hubfleet.base import argv
from hubfleet.base.errors import DeployError
from hubfleet.base.redact import Redactor
from hubfleet.base.runner import run
from hubfleet.config.decommission import entry_yaml
from hubfleet.config.fleet import Cluster, Fleet
from hubfleet.config.models import DecommissionedHub, LocalBlock
from hubfleet.config.providers import target_of
from hubfleet.live.query import cluster_env
from hubfleet.local.state import cluster_state_dir
from hubfleet.secrets.sops import Sops

KUBECTL = "kubectl"
CALL_TIMEOUT = 120.0
Left = Literal["uninstalling", "retained", "gone"]


@dataclass(frozen=True)
class Claim:
    """A PersistentVolumeClaim left in a kept namespace."""

    name: str
    size: str  # its storage request ("10Gi"), "" when unsaid
    volume: str  # the bound PersistentVolume, "" when unbound
    phase: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "size": self.size, "volume": self.volume, "phase": self.phase}


@dataclass(frozen=True)
class Decommissioned:
    """One decommissioned hub and what the cluster still has of it."""

    cluster: str
    hub: str
    date: str
    data: str  # keep | delete
    left: Left
    detail: str
    claims: tuple[Claim, ...] = ()

    @property
    def removable(self) -> bool:
        """Nothing left: its entry may be removed from cluster.yaml."""
        return self.left == "gone"

    def to_json(self) -> dict[str, Any]:
        return {
            "cluster_name": self.cluster,
            "hub_name": self.hub,
            "date": self.date,
            "data": self.data,
            "left": self.left,
            "detail": self.detail,
            "claims": [c.to_json() for c in self.claims],
        }


def orphan_entry(name: str) -> str:
    """The `decommissioned:` entry that would remove an orphan release (its name), to
    paste into its cluster.yaml with the date filled in."""
    return entry_yaml(name)


def decommissioned_state(
    fleet: Fleet,
    cluster: Cluster,
    installed: Collection[str],
    *,
    sops: Sops,
    redactor: Redactor,
    cancel: threading.Event | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> tuple[Decommissioned, ...]:
    """What is left of each of the cluster's decommissioned hubs; `installed`: the
    release names the cluster has in the hubs' namespaces (from `live.query`)."""
    entries = cluster.decommissioned
    if not entries:
        return ()
    if target_of(cluster.provider) == "local":
        return tuple(_local(fleet, cluster, entry, installed) for entry in entries)
    with cluster_env(
        fleet, cluster, sops=sops, redactor=redactor, cancel=cancel, extra_env=extra_env
    ) as env:
        return tuple(
            _kubernetes(cluster, entry, installed, env, redactor, cancel) for entry in entries
        )


def _row(
    cluster: Cluster,
    entry: DecommissionedHub,
    left: Left,
    detail: str,
    claims: tuple[Claim, ...] = (),
) -> Decommissioned:
    return Decommissioned(
        cluster.name, entry.name, entry.date.isoformat(), entry.data, left, detail, claims
    )


def _kubernetes(
    cluster: Cluster,
    entry: DecommissionedHub,
    installed: Collection[str],
    env: Mapping[str, str],
    redactor: Redactor,
    cancel: threading.Event | None,
) -> Decommissioned:
    if entry.name in installed:
        why = "its release is still installed: the next deploy uninstalls it"
        return _row(cluster, entry, "uninstalling", why)
    namespace = entry.name
    if not _namespace_exists(namespace, env, redactor, cancel):
        return _row(cluster, entry, "gone", "release and namespace gone: the entry can be removed")
    claims = _claims(namespace, env, redactor, cancel)
    if entry.data == "delete":
        why = f"namespace {namespace} still there (data: delete): the next deploy deletes it"
        return _row(cluster, entry, "uninstalling", why, claims)
    sizes = ", ".join(f"{c.name} {c.size}".strip() for c in claims) or "no volume claims"
    return _row(
        cluster, entry, "retained", f"namespace {namespace} kept (data: keep): {sizes}", claims
    )


def _local(
    fleet: Fleet, cluster: Cluster, entry: DecommissionedHub, installed: Collection[str]
) -> Decommissioned:
    block = cluster.spec.local or LocalBlock()
    folder = cluster_state_dir(fleet.root, cluster.name, block.state_dir) / entry.name
    running = entry.name in installed
    if not folder.is_dir():
        return _row(cluster, entry, "gone", "its folder is gone: the entry can be removed")
    if entry.data == "delete":
        why = f"its folder {folder} is still there (data: delete): the next deploy deletes it"
        return _row(cluster, entry, "uninstalling", why)
    if running:
        why = "its hub still runs or has a record: the next deploy stops it"
        return _row(cluster, entry, "uninstalling", why)
    return _row(cluster, entry, "retained", f"its folder {folder} kept (data: keep)")


def namespace_argv(namespace: str, kubeconfig: str | None) -> list[str]:
    return [
        KUBECTL, "get", "namespace", "--ignore-not-found", "--output=json",
        *_kubeconfig(kubeconfig), "--", argv.dns_label(namespace, "the hub's namespace"),
    ]  # fmt: skip


def claims_argv(namespace: str, kubeconfig: str | None) -> list[str]:
    return [
        KUBECTL, "get", "pvc", "--output=json",
        argv.flag("--namespace", argv.dns_label(namespace, "the hub's namespace")),
        *_kubeconfig(kubeconfig),
    ]  # fmt: skip


def _kubeconfig(kubeconfig: str | None) -> list[str]:
    return (
        [argv.flag("--kubeconfig", argv.path(kubeconfig, "the kubeconfig"))] if kubeconfig else []
    )


def _namespace_exists(
    namespace: str, env: Mapping[str, str], redactor: Redactor, cancel: threading.Event | None
) -> bool:
    words = namespace_argv(namespace, env.get("KUBECONFIG"))
    out = run(words, redactor=redactor, env=env, timeout=CALL_TIMEOUT, cancel=cancel).stdout
    return bool(out.strip())


def _claims(
    namespace: str, env: Mapping[str, str], redactor: Redactor, cancel: threading.Event | None
) -> tuple[Claim, ...]:
    words = claims_argv(namespace, env.get("KUBECONFIG"))
    text = run(words, redactor=redactor, env=env, timeout=CALL_TIMEOUT, cancel=cancel).stdout
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError:
        raise DeployError(f"`kubectl get pvc` in namespace {namespace} answered no JSON") from None
    items = data.get("items") if isinstance(data, dict) else None
    listed = items if isinstance(items, list) else []
    claims = [_claim(item) for item in listed if isinstance(item, dict)]
    return tuple(sorted(claims, key=lambda c: c.name))


def _claim(item: Mapping[str, Any]) -> Claim:
    def at(*keys: str) -> str:
        value: Any = item
        for key in keys:
            value = value.get(key) if isinstance(value, Mapping) else None
        return str(value) if isinstance(value, str | int) else ""

    return Claim(
        name=at("metadata", "name"),
        size=at("spec", "resources", "requests", "storage"),
        volume=at("spec", "volumeName"),
        phase=at("status", "phase"),
    )
