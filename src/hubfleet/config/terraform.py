"""Checks of a cluster's `terraform:` block that need more than its schema.

- a `vars` entry must not repeat a fact the provider block already has (project,
  account, region, zone, cluster name, ...): the error names both lines;
- a `vars` entry must not set an input hubfleet computes itself (names, buckets,
  identities, node pools): those come from the block's own keys;
- every hub in `hub_access` is a hub of the cluster;
- the credentials file and the module folder must be inside the repository
  (checked by the caller's path checker, like every other file cluster.yaml names;
  `module` is relative to the repository root, the credentials to cluster.yaml).
"""

from __future__ import annotations

from collections.abc import Callable

from hubfleet.base.errors import Problem, did_you_mean
from hubfleet.base.yamlio import LineMap
from hubfleet.config.fleet import normalize
from hubfleet.config.models import ClusterFile

MODULES_DIR = "terraform"


def module_folder(provider: str, module: str | None = None) -> str:
    """The repository-relative root module folder of a cluster: its `terraform.module`,
    or `terraform/<provider>` (where `hubfleet terraform scaffold` writes the shipped one)."""
    return (module or "").strip("/") or f"{MODULES_DIR}/{provider}"


# Module inputs that are facts of the provider block: vars key -> provider block key.
PROVIDER_FACTS: dict[str, dict[str, str]] = {
    "gcp": {
        "project": "project",
        "project_id": "project",
        "cluster": "cluster",
        "cluster_name": "cluster",
        "zone": "zone",
        "region": "region",
        "location": "region",
    },
    "aws": {
        "account": "account",
        "account_id": "account",
        "cluster_name": "clusterName",
        "region": "region",
    },
    "azure": {
        "resource_group": "resource_group",
        "resource_group_name": "resource_group",
        "cluster_name": "cluster",
        "subscription": "subscription",
        "subscription_id": "subscription",
    },
}
# Inputs hubfleet computes from the block (never set through vars).
COMPUTED_INPUTS = frozenset(
    {
        "hubfleet_cluster",
        "buckets",
        "hub_identities",
        "node_pools",
        "deployer",
        "storage_account_name",
    }
)


def terraform_problems(
    spec: ClusterFile,
    file: str,
    lines: LineMap,
    hub_names: set[str],
    check_file: Callable[..., str],
) -> list[Problem]:
    """Every problem of the cluster's terraform block (none without one)."""
    block = spec.terraform
    if block is None:
        return []
    problems: list[Problem] = []
    facts = PROVIDER_FACTS.get(spec.provider, {})
    provider_block = getattr(spec, spec.provider, None)
    if spec.provider not in PROVIDER_FACTS:
        problems.append(
            Problem(
                file,
                lines.line(("terraform",)),
                f"a terraform: block needs provider gcp, aws or azure, not {spec.provider!r}",
                "remove the terraform: block, or build this cluster with your own Terraform",
            )
        )
    for name in sorted(block.vars):
        where = lines.line(("terraform", "vars", name))
        fact = facts.get(name)
        if fact is not None and provider_block is not None:
            fact_line = lines.line((spec.provider, fact))
            problems.append(
                Problem(
                    file,
                    where,
                    f"terraform.vars.{name} repeats {spec.provider}.{fact} "
                    f"(line {fact_line}): hubfleet passes it from the provider block",
                    f"remove terraform.vars.{name}; keep {spec.provider}.{fact} at line "
                    f"{fact_line}",
                )
            )
        elif name in COMPUTED_INPUTS:
            problems.append(
                Problem(
                    file,
                    where,
                    f"terraform.vars.{name} is an input hubfleet computes",
                    "set buckets, hub_access and node_pools in the terraform: block instead",
                )
            )
    for hub in sorted(block.hub_access):
        if hub not in hub_names:
            problems.append(
                Problem(
                    file,
                    lines.line(("terraform", "hub_access", hub)),
                    f"terraform.hub_access names {hub!r}, which is not a hub of this cluster",
                    did_you_mean(hub, hub_names) or "list a hub from hubs:",
                )
            )
    if block.credentials:
        check_file(block.credentials, ("terraform", "credentials"))
    if block.module:
        module = normalize(block.module)
        check_file(block.module, ("terraform", "module"), folder_ok=True, resolved=module)
    return problems
