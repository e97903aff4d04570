"""What `hubfleet validate` checks of the clusters' Terraform side.

- each generated `<hub>.terraform.values.yaml` still matches cluster.yaml (its
  deterministic part is derived again): a stale one is an error at its line;
- each hub in `hub_access` lists its generated file (a warning otherwise);
- a cluster with `hub_access` has a support release that lists the generated
  `support.terraform.values.yaml` (an error at the `hub_access` line otherwise):
  that release creates the hubs' service accounts, without which user pods
  cannot start;
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

from hubfleet.base.errors import ConfigError, Problem
from hubfleet.base.yamlio import decode_text, read_fleet_file
from hubfleet.config.fleet import Cluster, Fleet
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


def terraform_problems(fleet: Fleet, clusters: Sequence[Cluster]) -> list[Problem]:
    problems: list[Problem] = []
    computed: list[tuple[Cluster, Inputs]] = []
    for cluster in clusters:
        tf = cluster.spec.terraform
        if tf is None or cluster.provider not in ("gcp", "aws", "azure"):
            continue
        inputs = compute(cluster)
        computed.append((cluster, inputs))
        problems += stale(fleet, cluster, inputs)
        problems += _support_lists_accounts(cluster)
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


def _cloud_names(cluster: Cluster, inputs: Inputs) -> list[tuple[str, str]]:
    """(cloud name, what it names) for every name of the cluster that must be unique in
    its scope. Azure containers live in the cluster's own storage account."""
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
    return owned


def _name_clashes(computed: Sequence[tuple[Cluster, Inputs]]) -> list[Problem]:
    """Two things that would get one cloud name (Terraform would fail, or worse, share)."""
    seen: dict[tuple[str, str, str], tuple[Cluster, str]] = {}
    problems: list[Problem] = []
    for cluster, inputs in computed:
        where = cluster.lines.line(("terraform",))
        for name, what in sorted(_cloud_names(cluster, inputs)):
            key = (cluster.provider, scope(cluster), name)
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
                    "rename the hub or the cluster: hubfleet derives every cloud name from them",
                )
            )
    return problems


def _support_lists_accounts(cluster: Cluster) -> list[Problem]:
    """The problem of a cluster whose hubs have cloud identities but whose support
    release would not create their service accounts."""
    tf = cluster.spec.terraform
    if tf is None or not tf.hub_access:
        return []
    support = cluster.support
    if support is not None and support_values_file(cluster) in support.values_files:
        return []
    what = (
        "has no support release"
        if support is None
        else f"has a support release that does not list {SUPPORT_VALUES}"
    )
    return [
        Problem(
            cluster.file,
            cluster.lines.line(("terraform", "hub_access")),
            f"cluster {cluster.name} {what}: nothing creates the service accounts of the "
            f"hubs in hub_access (their user pods would not start)",
            f"run `hubfleet terraform values {cluster.name}`, list {SUPPORT_VALUES} in "
            f"support.helm_chart_values_files, and give the support chart the template "
            f"{SUPPORT_CHART}/templates/{SUPPORT_TEMPLATE} (`hubfleet terraform scaffold "
            f"{cluster.provider}` writes it)",
        )
    ]


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
