"""The summary of a saved plan, read from `terraform show -json PLANFILE`.

Counts creates, updates, deletes and replaces, and flags at the top every delete
(a decommissioned hub's identity and buckets among them, docs/decommission.md) and
every replace of something that holds users' data: a disk, a file store, a home
share, a bucket or a backup vault (the change that destroys home directories when a
resize was applied by hand and never committed, or a tier change of the home
storage), with the attributes that force the replacement (`replace_paths`).
Growing a home storage is an update in place and is not flagged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hubfleet.base.errors import ProgramError
from hubfleet.base.markdown import md_code, md_text

# Resource types whose replacement or deletion loses data.
DATA_TYPES = frozenset(
    {
        "google_compute_disk",
        "google_compute_region_disk",
        "google_filestore_instance",
        "google_storage_bucket",
        "aws_ebs_volume",
        "aws_efs_file_system",
        "aws_fsx_lustre_file_system",
        "aws_s3_bucket",
        "azurerm_managed_disk",
        "azurerm_storage_account",
        "azurerm_storage_container",
        "azurerm_storage_share",
        "azurerm_netapp_volume",
        # Backups: replacing a vault loses (or orphans) its recovery points.
        "aws_backup_vault",
        "azurerm_recovery_services_vault",
    }
)


@dataclass(frozen=True)
class Change:
    address: str
    type: str
    action: str  # create, update, delete, replace, read, no-op
    because: str = ""  # the attributes that force a replacement ("file_shares.capacity_gb")


@dataclass(frozen=True)
class PlanSummary:
    cluster: str
    creates: int
    updates: int
    deletes: int
    replaces: int
    changes: tuple[Change, ...]
    flagged: tuple[Change, ...]  # every delete; a replace of a disk, file store or bucket

    @property
    def destructive(self) -> bool:
        return bool(self.flagged)

    @property
    def empty(self) -> bool:
        return not (self.creates or self.updates or self.deletes or self.replaces)

    def to_json(self) -> dict[str, Any]:
        return {
            "cluster_name": self.cluster,
            "destructive": self.destructive,
            "flagged": [_change_json(c) for c in self.flagged],
            "creates": self.creates,
            "updates": self.updates,
            "deletes": self.deletes,
            "replaces": self.replaces,
            "changes": [_change_json(c) for c in self.changes],
        }

    def markdown(self) -> str:
        """The step summary: every address and action from the plan (whose `for_each` keys
        a pull request can write) as inert Markdown (`hubfleet.base.markdown`)."""
        lines = [f"### Terraform plan: {md_text(self.cluster)}", ""]
        for change in self.flagged:
            what = f"{md_text(change.action)} of {md_code(change.address)}"
            note = "holds data" if change.type in DATA_TYPES else "destroyed"
            why = f", forced by {md_code(change.because)}" if change.because else ""
            lines.append(f"> **WARNING**: {what} ({note}{why})")
        if self.flagged:
            lines.append("")
        lines.append(
            f"{self.creates} to create, {self.updates} to update, {self.replaces} to replace, "
            f"{self.deletes} to delete"
        )
        for change in self.changes:
            lines.append(f"- {md_text(change.action)} {md_code(change.address)}")
        return "\n".join(lines) + "\n"


def _change_json(change: Change) -> dict[str, str]:
    found = {"address": change.address, "type": change.type, "action": change.action}
    if change.because:
        found["because"] = change.because
    return found


def _because(change: dict[str, Any]) -> str:
    """The attribute paths that force a replacement, as `a.b, c` (Terraform's
    `replace_paths`: lists of keys and indexes)."""
    paths = change.get("replace_paths") or []
    shown = [
        ".".join(str(part) for part in path) for path in paths if isinstance(path, list) and path
    ]
    return ", ".join(sorted(set(shown)))


def _action(actions: list[str]) -> str:
    if "delete" in actions and "create" in actions:
        return "replace"
    if len(actions) == 1 and actions[0] in ("create", "update", "delete", "read", "no-op"):
        return actions[0]
    return "no-op"


def summarize(cluster: str, show_json: str) -> PlanSummary:
    """The summary of `terraform show -json` output (a ProgramError when it is not one)."""
    try:
        data = json.loads(show_json)
        resource_changes = data.get("resource_changes") or []
        found = [
            Change(
                str(rc["address"]),
                str(rc.get("type", "")),
                _action(list(rc["change"]["actions"])),
                _because(rc["change"]),
            )
            for rc in resource_changes
        ]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ProgramError(
            f"cluster {cluster}: `terraform show -json` printed no plan",
            hint="is the plan file from this Terraform version?",
        ) from None
    changes = tuple(sorted((c for c in found if c.action not in ("no-op", "read")), key=_key))
    count = {a: sum(1 for c in changes if c.action == a) for a in ("create", "update", "delete")}
    flagged = tuple(
        c
        for c in changes
        if c.action == "delete" or (c.action == "replace" and c.type in DATA_TYPES)
    )
    return PlanSummary(
        cluster,
        creates=count["create"],
        updates=count["update"],
        deletes=count["delete"],
        replaces=sum(1 for c in changes if c.action == "replace"),
        changes=changes,
        flagged=flagged,
    )


def _key(change: Change) -> tuple[str, str]:
    return (change.address, change.action)
