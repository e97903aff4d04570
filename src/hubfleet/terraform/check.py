"""What `hubfleet validate` checks of the clusters' Terraform side.

- each generated `<hub>.terraform.values.yaml` still matches cluster.yaml (its
  deterministic part is derived again): a stale one is an error at its line;
- each hub in `hub_access` lists its generated file (a warning otherwise);
- each hub in `hub_access` has its user service account created by something: the
  cluster's support release when it lists the generated `support.terraform.values.yaml`,
  else the hub's own chart when its render (the embedded Helm engine, secrets as
  placeholders) holds a ServiceAccount of that name (basehub creates `user-sa` itself:
  the support release must not create it too). When neither does, an error at the
  `hub_access` line (user pods would not start); when the hub cannot be rendered here
  (its chart is not in the chart cache), a warning that says so instead of the alarm;
- every cloud name hubfleet derives (buckets, hub identities, CI identities) is
  unique within its scope (project, account or subscription) across the fleet: a
  hub `deployer` would get its cluster's CI deployer's name, cluster `lab` hub
  `x-dev` the name of cluster `lab-x` hub `dev` (an error at both clusters' lines);
- a bucket URL (gs://, s3://, an Azure blob URL) in a hand-written plaintext
  values file of the cluster that is not one of its `terraform.buckets` is a
  warning at its line: the name was probably copied by hand.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import yaml

from hubfleet.base.errors import ConfigError, HubfleetError, Problem
from hubfleet.base.yamlio import decode_text, read_fleet_file
from hubfleet.config.fleet import Cluster, Fleet, Hub
from hubfleet.helm.charts import ChartResolver
from hubfleet.helm.manifests import split_documents
from hubfleet.release.pipeline import hub_release
from hubfleet.release.values import ReleaseValues
from hubfleet.terraform.inputs import Inputs, compute, scope
from hubfleet.terraform.scaffold import SUPPORT_CHART, SUPPORT_TEMPLATE
from hubfleet.terraform.values import (
    SUPPORT_VALUES,
    bucket_url,
    stale,
    support_values_file,
    values_file,
)

_BUCKET_URL = re.compile(
    r"(?:gs|s3)://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]"
    r"|https://[a-z0-9]{3,24}\.blob\.core\.windows\.net/[a-z0-9][a-z0-9-]{1,61}[a-z0-9]"
)


def terraform_problems(
    fleet: Fleet, clusters: Sequence[Cluster], *, values: ReleaseValues | None = None
) -> list[Problem]:
    """Every problem of the clusters' Terraform side. `values`: the command's values
    pipeline (its chart resolver, which may pull), through which a hub is rendered when
    its chart may create its service account; without it, one that reads the chart
    cache only (nothing pulled) and reads secrets as placeholders."""
    problems: list[Problem] = []
    renders = values
    if renders is None:
        charts = ChartResolver(root=fleet.root, allow_pull=False)
        renders = ReleaseValues(fleet, sops=None, charts=charts)
    computed: list[tuple[Cluster, Inputs]] = []
    for cluster in clusters:
        tf = cluster.spec.terraform
        if tf is None or cluster.provider not in ("gcp", "aws", "azure"):
            continue
        try:
            inputs = compute(cluster)
        except ConfigError as exc:  # a `terraform.names` entry the cloud refuses
            problems += list(exc.problems)
            continue
        computed.append((cluster, inputs))
        problems += stale(fleet, cluster, inputs)
        problems += _account_problems(fleet, cluster, inputs, renders)
        generated = {values_file(cluster, hub) for hub in tf.hub_access}
        generated.add(support_values_file(cluster))
        for hub_name in sorted(tf.hub_access):
            if not any(h.name == hub_name for h in cluster.hubs):
                continue  # the loader said so
            hub = cluster.hub(hub_name)
            if values_file(cluster, hub_name) not in hub.values_files:
                problems.append(
                    Problem(
                        cluster.file,
                        hub.line,
                        f"hub {hub_name} is in terraform.hub_access but does not list "
                        f"{values_file(cluster, hub_name).rsplit('/', 1)[-1]}",
                        "add it to the hub's helm_chart_values_files",
                        severity="warning",
                    )
                )
        declared = {
            bucket_url(cluster.provider, name, inputs.names.storage_account)
            for name in inputs.names.buckets.values()
        }
        files = {f for hub in cluster.hubs for f in hub.values_files}
        if cluster.support is not None:
            files.update(cluster.support.values_files)
        for path in sorted(files - generated):
            if "secret" in path.rsplit("/", 1)[-1] or not fleet.abspath(path).is_file():
                continue
            problems += _undeclared(fleet, path, declared)
    return problems + _name_clashes(computed)


# The home backups' vault or schedule is a kind of its own on every cloud (an AWS Backup
# vault, a GCE resource policy, a Recovery Services vault): its name may equal the home
# storage's (AWS derives both as hubfleet-<cluster>-home), never another vault's.
BACKUPS = "the home backups"


def _cloud_names(cluster: Cluster, inputs: Inputs) -> list[tuple[str, str]]:
    """(cloud name, what it names) for every name of the cluster that must be unique in
    its scope (the backups' among the backups). Azure containers live in the cluster's
    own storage account."""
    names = inputs.names
    owned: list[tuple[str, str]] = []
    if cluster.provider != "azure":
        owned += [(name, f"bucket {key}") for key, name in names.buckets.items()]
    owned += [(h.identity, f"the identity of hub {hub}") for hub, h in names.hubs.items()]
    owned += [
        (name, f"the CI identity {key}")
        for key, name in names.deployer.items()
        if not key.endswith("federated_name")
    ]
    if names.storage_account is not None:
        owned.append((names.storage_account, "the storage account"))
    if names.home_account is not None:
        owned.append((names.home_account, "the home storage account"))
    if names.home is not None and cluster.provider != "azure":  # Azure: a share of its account
        owned.append((names.home, "the home storage"))
    if names.backup is not None:
        owned.append((names.backup, BACKUPS))
    return owned


def _name_clashes(computed: Sequence[tuple[Cluster, Inputs]]) -> list[Problem]:
    """Two things that would get one cloud name (Terraform would fail, or worse, share)."""
    seen: dict[tuple[str, str, str, bool], tuple[Cluster, str]] = {}
    problems: list[Problem] = []
    for cluster, inputs in computed:
        where = cluster.lines.line(("terraform",))
        for name, what in sorted(_cloud_names(cluster, inputs)):
            key = (cluster.provider, scope(cluster), name, what == BACKUPS)
            first = seen.setdefault(key, (cluster, what))
            if first == (cluster, what):
                continue
            other, other_what = first
            problems.append(
                Problem(
                    cluster.file,
                    where,
                    f"cluster {cluster.name}: {what} and {other_what} of cluster "
                    f"{other.name} ({other.file}:{other.lines.line(('terraform',))}) "
                    f"would both be named {name!r}",
                    "rename the hub or the cluster (hubfleet derives every cloud name from "
                    "them), or give one of them another name in terraform.names",
                )
            )
    return problems


def _account_problems(
    fleet: Fleet, cluster: Cluster, inputs: Inputs, values: ReleaseValues
) -> list[Problem]:
    """The problems of hubs with a cloud identity whose user service account nothing
    creates: not the support release (it does not list the generated file), nor the
    hub's own chart (its render has no ServiceAccount of that name)."""
    tf = cluster.spec.terraform
    if tf is None or not tf.hub_access:
        return []
    support = cluster.support
    if support is not None and support_values_file(cluster) in support.values_files:
        return []
    missing: list[str] = []
    unknown: list[tuple[str, str]] = []
    for hub_name in sorted(tf.hub_access):
        hub = next((h for h in cluster.hubs if h.name == hub_name), None)
        if hub is None:
            continue  # the loader said so
        account = inputs.names.hubs[hub_name].service_account
        created = chart_creates_account(fleet, hub, account, values)
        if isinstance(created, str):
            unknown.append((hub_name, created))
        elif not created:
            missing.append(hub_name)
    line = cluster.lines.line(("terraform", "hub_access"))
    what = (
        "has no support release"
        if support is None
        else f"has a support release that does not list {SUPPORT_VALUES}"
    )
    problems: list[Problem] = []
    if missing:
        problems.append(
            Problem(
                cluster.file,
                line,
                f"cluster {cluster.name} {what}: nothing creates the service accounts of the "
                f"hubs in hub_access (their user pods would not start; the chart of "
                f"{', '.join(missing)} does not create it either)",
                f"run `hubfleet terraform values {cluster.name}`, list {SUPPORT_VALUES} in "
                f"support.helm_chart_values_files, and give the support chart the template "
                f"{SUPPORT_CHART}/templates/{SUPPORT_TEMPLATE} (`hubfleet terraform scaffold "
                f"{cluster.provider}` writes it)",
            )
        )
    problems += [
        Problem(
            cluster.file,
            line,
            f"cluster {cluster.name} {what}: cannot tell whether the chart of hub "
            f"{hub_name} creates its service account (in hub_access; the hub could not be "
            f"rendered here: {reason}); if nothing does, its user pods would not start",
            "make the hub's chart available (the chart cache) and validate again, or list "
            f"{SUPPORT_VALUES} in support.helm_chart_values_files if the chart does not "
            "create the account",
            severity="warning",
        )
        for hub_name, reason in unknown
    ]
    return problems


def chart_creates_account(
    fleet: Fleet, hub: Hub, account: str, values: ReleaseValues
) -> bool | str:
    """Whether the hub's render holds the ServiceAccount `account` (in the hub's
    namespace); the reason as a string when the hub cannot be rendered here."""
    try:
        manifests = values.render_release(hub_release(fleet, hub))
        documents = split_documents(manifests)
    except HubfleetError as exc:
        return exc.message
    except (yaml.YAMLError, OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    for doc in documents:
        meta = doc.get("metadata")
        if doc.get("kind") != "ServiceAccount" or not isinstance(meta, dict):
            continue
        if meta.get("name") == account and meta.get("namespace") in (None, hub.namespace):
            return True
    return False


def _undeclared(fleet: Fleet, path: str, declared: set[str]) -> list[Problem]:
    try:
        text = decode_text(read_fleet_file(fleet.root, path), path)
    except ConfigError:
        return []  # the file checks report it
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for url in _BUCKET_URL.findall(line):
            if url not in declared:
                found.append(
                    Problem(
                        path,
                        number,
                        f"bucket {url} is not one of the cluster's terraform.buckets",
                        "declare it in terraform.buckets and give the hub access in "
                        "hub_access: the generated values file then carries its URL",
                        severity="warning",
                    )
                )
    return found
