"""`terraform_jobs`: which clusters need a `terraform plan`, each with its reasons.

A cluster with a `terraform:` block gets one when, compared as parsed data at
base and head (so a hub's domain edit changes nothing):

- its `terraform:` block changed (each changed key named; in `hub_access` the
  hubs added or removed, which is how a hub with a cloud identity is added,
  removed or renamed);
- its provider block changed (`billing` excepted: free information);
- a file of its module folder changed (`terraform/<provider>/` or
  `terraform.module`), the lock file `.terraform.lock.hcl` included;
- its `terraform.credentials` file changed;
- a hub of its `hub_access` was decommissioned (its identity, and the buckets
  only it reached with `data: delete`, leave the inputs: docs/decommission.md).

Without git history (a list of changed files) a changed `cluster.yaml` of a
cluster with a `terraform:` block gives a job "compared without git history".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hubfleet.config.fleet import Cluster, Fleet
from hubfleet.config.terraform import module_folder as cluster_module_folder
from hubfleet.plan.changes import Change

LOCK_FILE = ".terraform.lock.hcl"
_FREE_PROVIDER_KEYS = frozenset({"billing"})


@dataclass(frozen=True)
class TerraformNeed:
    cluster: str
    provider: str
    reasons: tuple[str, ...]


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def module_folder(data: Mapping[str, Any]) -> str | None:
    """The module folder a parsed cluster.yaml names (None without a terraform block)."""
    block = data.get("terraform")
    if not isinstance(block, dict):
        return None
    module = block.get("module")
    return cluster_module_folder(
        str(data.get("provider")), module if isinstance(module, str) else None
    )


def _block_reasons(path: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    reasons = []
    before, after = _mapping(old.get("terraform")), _mapping(new.get("terraform"))
    if not before and after:
        return [f"{path}: terraform block added"]
    for key in sorted(set(before) | set(after)):
        if before.get(key) == after.get(key):
            continue
        if key == "hub_access":
            old_hubs, new_hubs = set(_mapping(before.get(key))), set(_mapping(after.get(key)))
            for hub in sorted(new_hubs - old_hubs):
                reasons.append(f"{path}: terraform.hub_access: hub {hub} added")
            for hub in sorted(old_hubs - new_hubs):
                reasons.append(f"{path}: terraform.hub_access: hub {hub} removed")
            if any(
                _mapping(before[key]).get(h) != _mapping(after[key]).get(h)
                for h in old_hubs & new_hubs
            ):
                reasons.append(f"{path}: terraform.hub_access changed")
        else:
            reasons.append(f"{path}: terraform.{key} changed")
    reasons += _decommission_reasons(path, old, new, after)
    provider = new.get("provider")
    if old.get("provider") != provider:
        reasons.append(f"{path}: provider changed")
    elif isinstance(provider, str):
        strip = _FREE_PROVIDER_KEYS
        old_block = {k: v for k, v in _mapping(old.get(provider)).items() if k not in strip}
        new_block = {k: v for k, v in _mapping(new.get(provider)).items() if k not in strip}
        if old_block != new_block:
            reasons.append(f"{path}: provider block {provider!r} changed")
    return reasons


def _decommission_reasons(
    path: str, old: dict[str, Any], new: dict[str, Any], block: dict[str, Any]
) -> list[str]:
    """A hub of `hub_access` newly decommissioned (or its data decision changed)."""
    access = _mapping(block.get("hub_access"))

    def entries(data: dict[str, Any]) -> dict[str, Any]:
        found = data.get("decommissioned")
        items = found if isinstance(found, list) else []
        return {
            e["name"]: e for e in items if isinstance(e, dict) and isinstance(e.get("name"), str)
        }

    before, after = entries(old), entries(new)
    return [
        f"{path}: hub {name} decommissioned (data: {entry.get('data')}): its cloud identity "
        "leaves the Terraform inputs"
        for name, entry in sorted(after.items())
        if name in access and before.get(name) != entry
    ]


def terraform_needs(
    fleet: Fleet,
    changes: Sequence[Change],
    base_data: Mapping[str, Any] | None,
) -> list[TerraformNeed]:
    """The clusters needing a terraform plan. `base_data`: cluster.yaml path -> its parsed
    data at base, for each changed cluster.yaml (None: no git history)."""
    changed = sorted({p for change in changes for p in change.paths()})
    needs = []
    for cluster in fleet.clusters:
        reasons = _cluster_reasons(cluster, changed, base_data)
        if reasons:
            needs.append(TerraformNeed(cluster.name, cluster.provider, tuple(reasons)))
    return needs


def _cluster_reasons(
    cluster: Cluster, changed: list[str], base_data: Mapping[str, Any] | None
) -> list[str]:
    head = dict(cluster.data)
    folder = module_folder(head)
    if folder is None:
        return []
    reasons: list[str] = []
    if cluster.file in changed:
        if base_data is None:
            reasons.append(f"{cluster.file} changed (compared without git history)")
        else:
            reasons += _block_reasons(cluster.file, _mapping(base_data.get(cluster.file)), head)
    for path in changed:
        if path.startswith(f"{folder}/"):
            what = "lock file" if path.endswith(f"/{LOCK_FILE}") else "module file"
            reasons.append(f"{what} {path} changed")
    credentials = _mapping(head.get("terraform")).get("credentials")
    if isinstance(credentials, str) and cluster.path(credentials) in changed:
        reasons.append(f"credentials {cluster.path(credentials)} changed")
    return list(dict.fromkeys(reasons))
