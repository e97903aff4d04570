"""The export's README: the deploy command, the sops steps, and what the hub
depended on in the fleet that its new home must recreate.

Its cloud identities are read from the hub's render (the embedded Helm engine, the
chart the export carries, every encrypted file as placeholders: nothing decrypted
reaches the README): each ServiceAccount annotation that binds a cloud identity, each
pod label that asks for one (in the manifests' pod templates and on the user pods,
`singleuser.extraLabels` at the chart's z2jh nesting), and any other identity-shaped
value outside a Secret; each with the values file and key that set it when one does.
When the hub cannot be rendered (its chart is not at hand), the README says so and
lists what its plain values files name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from hubfleet import __version__
from hubfleet.base.errors import ConfigError, HubfleetError
from hubfleet.base.yamlio import PathKey, format_key_path
from hubfleet.config.fleet import Cluster, Fleet, Hub
from hubfleet.config.providers import CREDENTIALS_KEY
from hubfleet.export.layout import COMMAND_MARK, SOPS_CONFIG, ExportResult
from hubfleet.helm.charts import ChartResolver
from hubfleet.helm.manifests import split_documents
from hubfleet.helm.nesting import z2jh_values_key
from hubfleet.helm.values import at_key
from hubfleet.release.pipeline import ValuesDocument, hub_release, read_values_file
from hubfleet.release.values import ReleaseValues

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
# ServiceAccount annotations that bind a cloud identity, and what each names.
IDENTITY_ANNOTATIONS = {
    "iam.gke.io/gcp-service-account": "GCP service account",
    "eks.amazonaws.com/role-arn": "AWS IAM role",
    "azure.workload.identity/client-id": "Azure managed identity",
}
# Pod labels that ask the cloud for the pod's identity.
IDENTITY_POD_LABELS = {"azure.workload.identity/use": "Azure workload identity"}
# What a community must do to replace each kind of identity.
_REPLACE = {
    "GCP service account": (
        "create a Google service account in your project, grant it the buckets the hub "
        "uses (e.g. `roles/storage.objectUser` on each), let the Kubernetes service account "
        "use it (`roles/iam.workloadIdentityUser` for "
        "`PROJECT.svc.id.goog[NAMESPACE/SERVICE_ACCOUNT]`), and set its email as the "
        "annotation's value in your values"
    ),
    "AWS IAM role": (
        "create an IAM role whose trust policy admits your EKS cluster's OIDC provider for "
        "`system:serviceaccount:NAMESPACE:SERVICE_ACCOUNT`, grant it the buckets the hub "
        "uses, and set its ARN as the annotation's value in your values"
    ),
    "Azure managed identity": (
        "create a user-assigned managed identity with a federated credential for "
        "`system:serviceaccount:NAMESPACE:SERVICE_ACCOUNT` on your cluster's OIDC issuer, "
        "grant it the storage containers the hub uses, and set its client id as the "
        "annotation's value in your values"
    ),
    "Azure workload identity": (
        "keep the label only if your cluster runs Azure workload identity and the pod's "
        "service account carries your own identity's client id; remove it otherwise"
    ),
}
_POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
# Provider-block keys not worth naming: free billing data, and the credentials file
# (its key in the provider table), said apart below.
_HIDDEN_PROVIDER_KEYS = {"billing"}


def readme_text(fleet: Fleet, hub: Hub, result: ExportResult) -> str:
    cluster = fleet.cluster(hub.cluster)
    parts = [
        _intro(hub),
        _deploy(result),
        _secrets(result),
        _dependencies(fleet, cluster, hub, result),
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
            "AGE_PUBLIC_KEY`). `sops --decrypt FILE` checks that you can open them.\n"
        )
    for item in secret_files:
        lines.append(f"- `{item.path}` (from `{item.source}`), decryptable by:")
        lines.extend(f"  - {who}" for who in item.recipients or ("(no recipients found)",))
    return "\n".join(lines) + "\n"


def _dependencies(fleet: Fleet, cluster: Cluster, hub: Hub, result: ExportResult) -> str:
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
    lines.extend(_identity_lines(fleet, hub, result))
    for path, name, found in accounts:
        bound = ", ".join(found) or "none found"
        lines.append(
            f"\nThe hub's user pods run as the Kubernetes service account `{name}`, which "
            f"the fleet's support release creates in namespace `{hub.namespace}` "
            f"(`hubServiceAccounts` in `{path}`), bound to the fleet's cloud identity by its "
            f"annotations ({bound}). Plain helm of this folder does not create it: create "
            f"it in your namespace (`kubectl create serviceaccount {name} --namespace NAMESPACE`), "
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


@dataclass(frozen=True)
class Identity:
    """One cloud identity a hub's render carries."""

    what: str  # "GCP service account", ...
    value: str
    carrier: str  # e.g. "annotation `iam.gke.io/gcp-service-account` of ServiceAccount `user-sa`"
    origin: str  # the values file and key that set it, or the chart


@dataclass(frozen=True)
class RenderedIdentities:
    """The identities of a hub's render; `error` says why there is no render."""

    identities: tuple[Identity, ...] = ()
    user_account: str | None = None  # the service account the user pods run as
    error: str | None = None


def rendered_identities(
    fleet: Fleet, hub: Hub, exported: Mapping[str, str] | None = None
) -> RenderedIdentities:
    """Every cloud identity the hub's rendered manifests carry (see the module), each
    with its origin; `exported`: repository path -> its path in the export. Rendered
    from the chart cache only (no pull) and with placeholders for every secret."""
    release = hub_release(fleet, hub)
    values = ReleaseValues(
        fleet, sops=None, charts=ChartResolver(root=fleet.root, allow_pull=False)
    )
    try:
        documents = split_documents(values.render_release(release))
        sources = values.documents(release)
        merged = values.merged(release)
    except HubfleetError as exc:
        return RenderedIdentities(error=exc.message)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        return RenderedIdentities(error=f"{type(exc).__name__}: {exc}")
    origins = _Origins(sources, exported or {}, release.chart.name)
    found: dict[tuple[str, str], Identity] = {}

    def add(identity: Identity) -> None:
        found.setdefault((identity.value, identity.carrier), identity)

    for doc in documents:
        kind, name = str(doc.get("kind")), str(_mapping(doc, "metadata").get("name"))
        if kind == "Secret":
            continue  # its data is never read into a README
        if kind == "ServiceAccount":
            annotations = _mapping(doc, "metadata", "annotations")
            for key, what in IDENTITY_ANNOTATIONS.items():
                value = annotations.get(key)
                if isinstance(value, str) and value:
                    carrier = f"annotation `{key}` of ServiceAccount `{name}`"
                    add(Identity(what, value, carrier, origins.of_value(value)))
        labels = _mapping(doc, "spec", "template", "metadata", "labels")
        if kind in _POD_TEMPLATE_KINDS:
            for key, what in IDENTITY_POD_LABELS.items():
                if key in labels:
                    carrier = f"label `{key}` of the pods of {kind} `{name}`"
                    value = str(labels[key])
                    add(Identity(what, value, carrier, origins.of_key(("spec",), value)))
        for value in _identity_strings(doc):
            if not any(value == known.value for known in found.values()):
                what = "AWS IAM role" if value.startswith("arn:") else "GCP service account"
                add(Identity(what, value, f"{kind} `{name}`", origins.of_value(value)))
    nesting = z2jh_values_key(fleet, hub)
    singleuser = at_key(merged, ".".join(str(k) for k in nesting)).get("singleuser")
    singleuser = singleuser if isinstance(singleuser, dict) else {}
    extra = singleuser.get("extraLabels")
    for key, what in IDENTITY_POD_LABELS.items():
        if isinstance(extra, dict) and key in extra:
            path = (*nesting, "singleuser", "extraLabels", key)
            carrier = f"label `{key}` of the user pods (`{format_key_path(path)}`)"
            add(Identity(what, str(extra[key]), carrier, origins.of_key(path, None)))
    account = singleuser.get("serviceAccountName")
    return RenderedIdentities(
        tuple(sorted(found.values(), key=lambda i: (i.what, i.value, i.carrier))),
        account if isinstance(account, str) and account else None,
    )


class _Origins:
    """Which of a release's values files (the last in helm's order) sets a value."""

    def __init__(
        self, sources: Sequence[ValuesDocument], exported: Mapping[str, str], chart: str
    ) -> None:
        self.sources = sources
        self.exported = exported
        self.chart = chart

    def _where(self, document: ValuesDocument, key: PathKey) -> str:
        here = self.exported.get(document.path)
        shown = f"`{document.path}`" + (f" (in this folder `{here}`)" if here else "")
        return f"set in {shown} at `{format_key_path(key)}`"

    def of_value(self, value: str) -> str:
        for document in reversed(self.sources):
            key = _path_of_value(document.data, value)
            if key is not None:
                return self._where(document, key)
        return f"from the chart `{self.chart}` (its default values or templates)"

    def of_key(self, key: PathKey, value: str | None) -> str:
        for document in reversed(self.sources):
            found: Any = document.data
            for level in key:
                found = found.get(level) if isinstance(found, dict) else None
            if found is not None and (value is None or str(found) == value):
                return self._where(document, key)
        return f"from the chart `{self.chart}` (its default values or templates)"


def _path_of_value(data: Any, value: str, path: PathKey = ()) -> PathKey | None:
    """The key path of the first string leaf of `data` equal to `value`."""
    if isinstance(data, dict):
        items: Iterator[tuple[str | int, Any]] = iter(data.items())
    elif isinstance(data, list):
        items = iter(enumerate(data))
    else:
        return path if data == value else None
    for key, item in items:
        found = _path_of_value(item, value, (*path, key))
        if found is not None:
            return found
    return None


def _mapping(doc: Any, *keys: str) -> dict[str, Any]:
    for key in keys:
        doc = doc.get(key) if isinstance(doc, dict) else None
    return doc if isinstance(doc, dict) else {}


def _identity_strings(data: Any) -> Iterator[str]:
    """Identity-shaped strings (an IAM role ARN, a GCP service account's email)."""
    if isinstance(data, dict):
        for item in data.values():
            yield from _identity_strings(item)
    elif isinstance(data, list):
        for item in data:
            yield from _identity_strings(item)
    elif isinstance(data, str):
        yield from _IDENTITY_VALUES.findall(data)


def _identity_lines(fleet: Fleet, hub: Hub, result: ExportResult) -> list[str]:
    exported = {f.source: f.path for f in result.files if f.source is not None}
    rendered = rendered_identities(fleet, hub, exported)
    if rendered.error is not None:
        lines = [
            f"The hub could not be rendered here ({rendered.error}): the cloud identities "
            "of its manifests are not known. Render it (`hubfleet render "
            f"{hub.cluster} {hub.name}`) and look for ServiceAccount annotations "
            + ", ".join(f"`{key}`" for key in IDENTITY_ANNOTATIONS)
            + " and pod labels "
            + ", ".join(f"`{key}`" for key in IDENTITY_POD_LABELS)
            + ".\n",
        ]
        named = sorted(set(_identities(fleet, hub)))
        if named:
            lines.append("Its plain values files name these cloud identities:\n")
            lines.extend(f"- {item}" for item in named)
        else:
            lines.append("Its plain values files name no cloud identity (service account, role).")
        return lines
    if not rendered.identities:
        return [
            "The hub's rendered manifests carry no cloud identity (no ServiceAccount "
            "annotation nor pod label of GKE, EKS or Azure workload identity)."
        ]
    lines = [
        "The hub's rendered manifests carry these cloud identities. They belong to the "
        "fleet's cloud account: where the hub goes, they do not exist or must not be "
        "shared.\n"
    ]
    for item in rendered.identities:
        lines.append(f"- {item.what} `{item.value}`: {item.carrier}; {item.origin}")
    if rendered.user_account is not None:
        lines.append(f"\nThe user pods run as the service account `{rendered.user_account}`.")
    lines.append("\nWithout them, for each kind:\n")
    for what in sorted({item.what for item in rendered.identities}):
        lines.append(f"- {what}: {_REPLACE[what]}.")
    return lines


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
