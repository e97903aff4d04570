"""A cluster's module inputs (`.tfvars.json`), computed from cluster.yaml alone.

The provider block gives the facts (project, account, region, cluster name), the
`terraform:` block the buckets, hub identities and node pools, `names` every
cloud name; `vars` are passed as they are after a check against the module's
`variables.tf` (every name must be a variable the module declares).

A decommissioned hub (cluster.yaml's `decommissioned:`, docs/decommission.md) drops
out: its `hub_access` entry (its cloud identity) always, and the buckets only
decommissioned hubs reached when every one of those hubs decided `data: delete`
(with `data: keep` its buckets stay, like its namespace and volumes). The next
`terraform plan` deletes what dropped out, and its summary flags every delete.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubfleet.base.errors import ConfigError, did_you_mean
from hubfleet.config.fleet import Cluster, Fleet
from hubfleet.config.models import TerraformBlock
from hubfleet.config.terraform import module_folder
from hubfleet.terraform.names import ClusterNames, RefusedName, cluster_names

_VARIABLE = re.compile(r'^\s*variable\s+"([A-Za-z_][A-Za-z0-9_-]*)"\s*\{', re.MULTILINE)


@dataclass(frozen=True)
class Inputs:
    cluster: str
    module: str  # repository-relative folder of the root module
    variables: dict[str, Any]  # the .tfvars.json content
    names: ClusterNames


def block(cluster: Cluster) -> TerraformBlock:
    """The cluster's terraform: block without what its decommissioned hubs leave behind
    (`live_block`); a ConfigError when it has none."""
    found = cluster.spec.terraform
    if found is None:
        raise ConfigError(
            f"cluster {cluster.name!r} has no terraform: block",
            path=cluster.file,
            line=1,
            hint="add one (docs/terraform.md), or run terraform for it by hand",
        )
    return live_block(cluster, found)


def live_block(cluster: Cluster, declared: TerraformBlock) -> TerraformBlock:
    """`declared` without the decommissioned hubs: their `hub_access` entries, and the
    buckets that only they reached when each of them decided `data: delete`."""
    gone = {entry.name: entry.data for entry in cluster.decommissioned}
    if not gone.keys() & declared.hub_access.keys():
        return declared
    live = {hub: access for hub, access in declared.hub_access.items() if hub not in gone}
    kept = {bucket for access in live.values() for bucket in access.buckets}
    kept |= {
        bucket
        for hub, access in declared.hub_access.items()
        if gone.get(hub) == "keep"
        for bucket in access.buckets
    }
    reached = {bucket for access in declared.hub_access.values() for bucket in access.buckets}
    buckets = {
        name: bucket
        for name, bucket in declared.buckets.items()
        if name in kept or name not in reached  # a bucket no hub reaches is the cluster's
    }
    return declared.model_copy(update={"hub_access": live, "buckets": buckets})


def dropped(cluster: Cluster) -> tuple[list[str], list[str]]:
    """(hubs, buckets) the decommissioned hubs take out of the cluster's inputs."""
    declared = cluster.spec.terraform
    if declared is None:
        return [], []
    live = live_block(cluster, declared)
    return (
        sorted(set(declared.hub_access) - set(live.hub_access)),
        sorted(set(declared.buckets) - set(live.buckets)),
    )


def module_dir(cluster: Cluster) -> str:
    return module_folder(cluster.provider, block(cluster).module)


def scope(cluster: Cluster) -> str:
    """What makes global names unique: the project, account or subscription."""
    spec = cluster.spec
    if spec.gcp is not None:
        return spec.gcp.project
    if spec.aws is not None:
        return str(spec.aws.account or spec.aws.clusterName)
    if spec.azure is not None:
        return spec.azure.subscription or spec.azure.resource_group
    return cluster.name


def provider_facts(cluster: Cluster) -> dict[str, Any]:
    spec = cluster.spec
    if spec.gcp is not None:
        return {
            "project_id": spec.gcp.project,
            "cluster_name": spec.gcp.cluster,
            "location": spec.gcp.zone or spec.gcp.region,
        }
    if spec.aws is not None:
        account = "" if spec.aws.account is None else str(spec.aws.account)
        return {
            "account_id": account,
            "cluster_name": spec.aws.clusterName,
            "region": spec.aws.region,
        }
    if spec.azure is not None:
        return {
            "subscription_id": spec.azure.subscription or "",
            "resource_group_name": spec.azure.resource_group,
            "cluster_name": spec.azure.cluster,
        }
    raise ConfigError(
        f"cluster {cluster.name!r}: terraform needs provider gcp, aws or azure",
        path=cluster.file,
        line=cluster.lines.line(("provider",)),
    )


def compute(cluster: Cluster) -> Inputs:
    """The module inputs of `cluster` (deterministic: sorted keys, names from `names`)."""
    tf = block(cluster)
    facts = provider_facts(cluster)
    names = names_of(cluster)
    variables: dict[str, Any] = {
        "hubfleet_cluster": cluster.name,
        **facts,
        "buckets": {
            key: {
                "name": names.buckets[key],
                "lifecycle_days": bucket.lifecycle_days,
                "public_read": bucket.public_read,
                "versioning": bucket.versioning,
            }
            for key, bucket in sorted(tf.buckets.items())
        },
        "hub_identities": {
            hub: {
                "name": names.hubs[hub].identity,
                "federated_name": names.hubs[hub].federated,
                "namespace": names.hubs[hub].namespace,
                "service_account": names.hubs[hub].service_account,
                "buckets": sorted(access.buckets),
                "external_buckets": {
                    key: {"name": bucket.name, "requester_pays": bucket.requester_pays}
                    for key, bucket in sorted(access.external_buckets.items())
                },
                "extra_policies": sorted(set(access.extra_policies)),
            }
            for hub, access in sorted(tf.hub_access.items())
        },
        "node_pools": {
            name: {
                "machine_type": pool.machine_type,
                "min_nodes": pool.min_nodes,
                "max_nodes": pool.max_nodes,
                "disk_size_gb": pool.disk_size_gb,
                "gpu_type": pool.gpu_type,
                "gpu_count": pool.gpu_count,
                "labels": dict(sorted(pool.labels.items())),
                "taints": list(pool.taints),
            }
            for name, pool in sorted(tf.node_pools.items())
        },
        "deployer": dict(sorted(names.deployer.items())),
    }
    if names.storage_account is not None:
        variables["storage_account_name"] = names.storage_account
    home = home_input(cluster, names)
    if home is not None:  # a module of an older scaffold need not declare it
        variables["home"] = home
    variables.update(sorted(tf.vars.items()))
    return Inputs(cluster.name, module_dir(cluster), variables, names)


def names_of(cluster: Cluster) -> ClusterNames:
    """The cluster's cloud names: derived, with its `terraform.names` laid over them (a
    ConfigError at the line of a name the cloud would refuse)."""
    tf = block(cluster)
    try:
        return cluster_names(
            cluster.provider,
            cluster.name,
            scope(cluster),
            sorted(tf.buckets),
            sorted(tf.hub_access),
            home=tf.home is not None,
            overrides=tf.names,
        )
    except RefusedName as exc:
        raise ConfigError(
            str(exc),
            path=cluster.file,
            line=cluster.lines.line(("terraform", "names", *exc.path)),
            hint="give a name the cloud accepts (docs/terraform.md, Names)",
        ) from None


def home_directory(cluster: Cluster, hub: str) -> str:
    """The hub's directory under the home storage's root (default: its name)."""
    home = block(cluster).home
    return (home.directories.get(hub) if home else None) or hub


def home_input(cluster: Cluster, names: ClusterNames) -> dict[str, Any] | None:
    """The module's `home` input: the storage, each hub's directory, the backups."""
    home = block(cluster).home
    if home is None or names.home is None:
        return None
    backups = home.backups
    return {
        "kind": home.kind,
        "name": names.home,
        "account_name": names.home_account,
        "size_gb": home.size_gb,
        "tier": home.tier,
        "directories": {
            hub: home_directory(cluster, hub) for hub in sorted(block(cluster).hub_access)
        },
        "backups": None
        if backups is None
        else {
            "name": names.backup,
            "every_hours": backups.every_hours,
            "start_hour": backups.start_hour,
            "retention_days": backups.retention_days,
        },
    }


def tfvars_json(inputs: Inputs) -> str:
    return json.dumps(inputs.variables, indent=2, sort_keys=True) + "\n"


def module_variables(folder: Path) -> set[str]:
    """The variables a module declares (`variable "name" {` in its .tf files)."""
    found: set[str] = set()
    for path in sorted(folder.glob("*.tf")):
        found.update(_VARIABLE.findall(path.read_text(encoding="utf-8")))
    return found


def check_module(fleet: Fleet, cluster: Cluster, inputs: Inputs) -> None:
    """A ConfigError at the `vars` line of every input the module does not declare."""
    folder = fleet.abspath(inputs.module)
    if not folder.is_dir():
        raise ConfigError(
            f"cluster {cluster.name!r}: its Terraform module {inputs.module}/ does not exist",
            path=cluster.file,
            line=cluster.lines.line(("terraform", "module")),
            hint=f"run `hubfleet terraform scaffold {cluster.provider}`",
        )
    declared = module_variables(folder)
    tf_vars = block(cluster).vars
    problems = []
    for name in sorted(inputs.variables):
        if name in declared:
            continue
        where = ("terraform", "vars", name) if name in tf_vars else ("terraform",)
        problems.append(
            ConfigError(
                f"{inputs.module} declares no variable {name!r}",
                path=cluster.file,
                line=cluster.lines.line(where),
                hint=did_you_mean(name, declared) or f"declare it in {inputs.module}/variables.tf",
            ).problem()
        )
    if problems:
        raise ConfigError(problems)
