"""The export's README: the deploy command, the sops steps, and what the hub
depended on in the fleet that its new home must recreate."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from hubfleet import __version__
from hubfleet.base.errors import ConfigError
from hubfleet.config.fleet import Cluster, Fleet, Hub
from hubfleet.config.providers import CREDENTIALS_KEY
from hubfleet.export.layout import COMMAND_MARK, SOPS_CONFIG, ExportedFile, ExportResult
from hubfleet.release.pipeline import ValuesDocument, read_values_file
from hubfleet.secrets.metadata import recipient_kind, unlock_text

# Keys and values in a hub's values that tie it to a cloud identity.
_IDENTITY_KEYS = (
    "iam.gke.io/gcp-service-account",
    "eks.amazonaws.com/role-arn",
    "azure.workload.identity/client-id",
    "azure.workload.identity/tenant-id",
)
_IDENTITY_VALUES = re.compile(
    r"(arn:aws:iam::\d*:role/[\w+=,.@/-]+|[\w-]+@[\w-]+\.iam\.gserviceaccount\.com)"
)
# Provider-block keys not worth naming: free billing data, and the credentials file
# (its key in the provider table), said apart below.
_HIDDEN_PROVIDER_KEYS = {"billing"}


def readme_text(fleet: Fleet, hub: Hub, result: ExportResult) -> str:
    cluster = fleet.cluster(hub.cluster)
    parts = [
        _intro(hub),
        _deploy(result),
        _secrets(result),
        _dependencies(fleet, cluster, hub),
        _verify(hub),
    ]
    return "\n".join(part.rstrip() + "\n" for part in parts if part)


def _intro(hub: Hub) -> str:
    title = f"{hub.display_name} ({hub.name})" if hub.display_name else hub.name
    return (
        f"# JupyterHub `{title}`, exported from cluster `{hub.cluster}`\n\n"
        f"This folder deploys the hub `{hub.name}` (domain `{hub.domain}`) with plain `helm`:\n"
        "nothing of hubfleet is needed. It was written by `hubfleet export` "
        f"(hubfleet {__version__}).\n"
    )


def _deploy(result: ExportResult) -> str:
    command = result.command
    needs = ["`helm` 3 or newer", "`bash` (the command uses `<(...)` process substitution)"]
    if any(entry.decrypt for entry in command.values):
        needs.append("`sops`, with a key that can decrypt the secret files (see Secrets)")
    if not command.local_chart:
        needs.append(f"network access to the chart repository {command.repository}")
    chart = (
        "the chart in `chart/` (copied whole, with its `charts/` dependencies)"
        if command.local_chart
        else f"the chart `{command.chart}` version `{command.version}` from `{command.repository}`"
    )
    lines = [
        "## Deploy\n",
        "You need: " + "; ".join(needs) + ".\n",
        "From this folder, with `kubectl` pointing at the target cluster:\n",
        COMMAND_MARK,
        "```bash",
        command.render(),
        "```\n",
        f"It installs {chart} as release `{command.release}` in namespace "
        f"`{command.namespace}`, with these values files, in this order (later files win, "
        "mappings merge key by key, an explicit `null` removes a chart default):\n",
    ]
    for number, entry in enumerate(command.values, start=1):
        how = " (decrypted by sops into a pipe)" if entry.decrypt else ""
        lines.append(f"{number}. `{entry.path}`{how}")
    return "\n".join(lines) + "\n"


def _secrets(result: ExportResult) -> str:
    secret_files = [f for f in result.files if f.kind in ("encrypted", "plaintext")]
    if not secret_files:
        return "## Secrets\n\nThis hub has no encrypted values files.\n"
    lines = ["## Secrets\n"]
    if result.secrets_mode == "decrypted":
        lines.append(
            "**These files hold the hub's secrets in plaintext** (exported with "
            "`--decrypt --i-understand-plaintext`; mode 0600). Encrypt them before sharing "
            "or committing them, e.g. `sops encrypt --in-place FILE` with your own key.\n"
        )
        lines.extend(f"- `{f.path}` (from `{f.source}`)" for f in secret_files)
        return "\n".join(lines) + "\n"
    if result.secrets_mode == "reencrypted":
        lines.append(
            "The secret files were decrypted in memory and re-encrypted with sops for the "
            f"age key(s) below only; `{SOPS_CONFIG}` holds the matching creation rule, so "
            "`sops edit FILE` keeps them encrypted for the same keys. The fleet's keys no "
            "longer open them. Point sops at your private key, e.g. "
            "`export SOPS_AGE_KEY_FILE=~/keys.txt`.\n"
        )
    else:
        lines.append(
            "The secret files are the fleet's sops-encrypted files, unchanged: only the keys "
            "listed for each file can decrypt them. Ask the fleet's operators for access, or "
            "for an export re-encrypted for your own age key (`hubfleet export --recipient "
            "AGE_PUBLIC_KEY`). `sops --decrypt FILE` checks that you can open them: it "
            f"needs {unlock_text(_kinds(secret_files))}.\n"
        )
    for item in secret_files:
        lines.append(f"- `{item.path}` (from `{item.source}`), decryptable by:")
        lines.extend(f"  - {who}" for who in item.recipients or ("(no recipients found)",))
    return "\n".join(lines) + "\n"


def _kinds(files: list[ExportedFile]) -> set[str]:
    """The key types the exported secret files name (from their recipient lines)."""
    return {kind for item in files for who in item.recipients if (kind := recipient_kind(who))}


def _dependencies(fleet: Fleet, cluster: Cluster, hub: Hub) -> str:
    lines = [
        "## What this hub depended on in the fleet\n",
        "These were provided by the fleet, outside this hub's values. Recreate them (or "
        "their equivalents) where the hub goes.\n",
        f"### Cluster `{cluster.name}` (provider `{cluster.provider}`)\n",
    ]
    block = cluster.provider_block
    if block is not None:
        settings = block.model_dump(exclude_none=True)
        for key in sorted(settings):
            if key not in _HIDDEN_PROVIDER_KEYS and key != CREDENTIALS_KEY.get(cluster.provider):
                lines.append(f"- `{cluster.provider}.{key}`: `{settings[key]}`")
    if cluster.credential_files:
        lines.append(
            "- the fleet's deployer credentials ("
            + ", ".join(f"`{p}`" for p in cluster.credential_files)
            + ") are not exported: deploy with your own credentials for your cluster"
        )
    lines.append("")
    lines.append("### Cluster-wide support release\n")
    if cluster.support is None:
        lines.append(
            "The cluster has no support release in the fleet; the hub relied on whatever "
            "the cluster provides (ingress controller, TLS certificates, storage classes).\n"
        )
    else:
        support = cluster.support
        lines.append(
            f"The fleet deploys the chart `{support.helm_chart}` as release `support` in "
            "namespace `support` on this cluster. It typically provides the ingress "
            "controller, cert-manager (TLS certificates for the hub's domain), storage "
            "classes and monitoring. Its values files and their top-level sections:\n"
        )
        for path in support.values_files:
            keys = ", ".join(f"`{k}`" for k in _top_level_keys(fleet, path)) or "(none)"
            lines.append(f"- `{path}`: {keys}")
        lines.append("")
    lines.append("### DNS\n")
    lines.append(
        f"The hub is served at `{hub.domain}`: point that name (or your own domain, changed "
        "in the values files) at the ingress controller of the cluster you deploy to."
    )
    if hub.domain_override_file:
        lines.append(
            f"The fleet also overrides the domain from `{hub.domain_override_file}` (not exported)."
        )
    lines.append("")
    lines.append("### Cloud identities\n")
    accounts = list(_support_accounts(fleet, cluster, hub))
    identities = sorted(
        set(_identities(fleet, hub)) | {i for _, _, found in accounts for i in found}
    )
    if identities:
        lines.append(
            "The hub's values name these cloud identities; they belong to the fleet's "
            "cloud account. Create your own and change the values:\n"
        )
        lines.extend(f"- {item}" for item in identities)
    else:
        lines.append("The hub's plain values files name no cloud identity (service account, role).")
    for path, name, _ in accounts:
        lines.append(
            f"\nThe hub's user pods run as the Kubernetes service account `{name}`, which "
            f"the fleet's support release creates in namespace `{hub.namespace}` "
            f"(`hubServiceAccounts` in `{path}`), bound to the fleet's cloud identity by its "
            "annotations. Plain helm of this folder does not create it: create it in your "
            f"namespace (`kubectl create serviceaccount {name} --namespace NAMESPACE`), "
            "annotated for your own cloud identity, or remove `singleuser.serviceAccountName` "
            "(and the bucket variables) from the values."
        )
    extras = []
    if hub.staging:
        extras.append("it was a staging hub: the fleet upgraded it before production hubs")
    if hub.uptime_check:
        extras.append("the fleet ran uptime checks against it (`uptime_check` in cluster.yaml)")
    if extras:
        lines.append("\n### Operations\n")
        lines.extend(f"- {item}" for item in extras)
    return "\n".join(lines) + "\n"


def _verify(hub: Hub) -> str:
    return (
        "## Checked\n\n"
        f"`hubfleet export --verify {hub.cluster} {hub.name} DIR` renders this hub through "
        "hubfleet and this folder exactly as the command above says, and compares every "
        "resource field by field.\n"
    )


def _read(fleet: Fleet, path: str) -> ValuesDocument | None:
    """A values file without its secrets (encrypted files as placeholders); None
    when it cannot be read: `hubfleet validate` reports that, the README skips it."""
    try:
        return read_values_file(fleet, path, sops=None)
    except (OSError, ConfigError):
        return None


def _top_level_keys(fleet: Fleet, path: str) -> list[str]:
    """Keys only (sops leaves keys readable); never values."""
    document = _read(fleet, path)
    if document is None:
        return []
    return sorted(str(key) for key in document.data if key != "sops")


def _identities(fleet: Fleet, hub: Hub) -> Iterator[str]:
    for path in hub.values_files:
        document = _read(fleet, path)
        if document is None or document.encrypted:
            continue  # never read secret values into a README
        yield from (f"`{found}` (in `{path}`)" for found in _scan(document.data))


def _support_accounts(
    fleet: Fleet, cluster: Cluster, hub: Hub
) -> Iterator[tuple[str, str, list[str]]]:
    """(file, name, identities) of each service account the cluster's support release
    creates for the hub (`hubServiceAccounts` entries in the hub's namespace)."""
    if cluster.support is None:
        return
    for path in cluster.support.values_files:
        document = _read(fleet, path)
        if document is None or document.encrypted:
            continue
        entries = document.data.get("hubServiceAccounts")
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and entry.get("namespace") == hub.namespace:
                found = [f"`{item}` (in `{path}`)" for item in _scan(entry.get("annotations"))]
                yield path, str(entry.get("name")), found


def _scan(data: Any) -> Iterator[str]:
    if isinstance(data, dict):
        for key, value in data.items():
            if key in _IDENTITY_KEYS and isinstance(value, str):
                yield f"{key}: {value}"
            else:
                yield from _scan(value)
    elif isinstance(data, list):
        for item in data:
            yield from _scan(item)
    elif isinstance(data, str):
        yield from _IDENTITY_VALUES.findall(data)
