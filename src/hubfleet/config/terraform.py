"""Checks of a cluster's `terraform:` block that need more than its schema.

- a `vars` entry must not repeat a fact the provider block already has (project,
  account, region, zone, cluster name, ...): the error names both lines;
- a `vars` entry must not set an input hubfleet computes itself (names, buckets,
  identities, node pools): those come from the block's own keys;
- every hub in `hub_access` is a hub of the cluster;
- `home`: a kind the cluster's cloud module builds, directories only of hubs in
  `hub_access` and never shared, backups only where the module schedules them;
- `hub_access` external buckets only on GCP and AWS; `names` only of things the
  block has (cloud limits and collisions are checked with the derived names, in
  `hubfleet.terraform.names`);
- the credentials file and the module folder must be inside the repository
  (checked by the caller's path checker, like every other file cluster.yaml names;
  `module` is relative to the repository root, the credentials to cluster.yaml).
"""

from __future__ import annotations

from collections.abc import Callable

from hubfleet.base.errors import Problem, did_you_mean
from hubfleet.base.yamlio import LineMap
from hubfleet.config.fleet import normalize
from hubfleet.config.models import ClusterFile, TerraformBlock
from hubfleet.config.tfmodels import EXTERNAL_KEY

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
# The home storage kinds each cloud's module builds (terraform.home.kind).
HOME_KINDS: dict[str, tuple[str, ...]] = {
    "gcp": ("filestore", "nfs-disk"),
    "aws": ("efs",),
    "azure": ("azure-files",),
}
# The state backend a new cluster's cluster.yaml suggests per cloud (`hubfleet new
# cluster`): its type and settings, placeholders named after the cluster (`{name}`; an
# empty value is the cluster's region).
SUGGESTED_BACKENDS: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "gcp": ("gcs", (("bucket", "{name}-tfstate"), ("prefix", "{name}"))),
    "aws": ("s3", (("bucket", "{name}-tfstate"), ("key", "{name}.tfstate"), ("region", ""))),
    "azure": (
        "azurerm",
        (
            ("resource_group_name", "{name}-tfstate"),
            ("storage_account_name", "tfstate"),
            ("container_name", "tfstate"),
            ("key", "{name}.tfstate"),
        ),
    ),
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
        "home",
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
    problems += _home_problems(spec.provider, block, file, lines)
    problems += _access_problems(spec.provider, block, file, lines)
    problems += _name_problems(spec.provider, block, file, lines)
    if block.credentials:
        check_file(block.credentials, ("terraform", "credentials"))
    if block.module:
        module = normalize(block.module)
        check_file(block.module, ("terraform", "module"), folder_ok=True, resolved=module)
    return problems


def _home_problems(
    provider: str, block: TerraformBlock, file: str, lines: LineMap
) -> list[Problem]:
    home = block.home
    if home is None:
        return []
    problems: list[Problem] = []
    kinds = HOME_KINDS.get(provider, ())
    if home.kind not in kinds:
        problems.append(
            Problem(
                file,
                lines.line(("terraform", "home", "kind")),
                f"terraform.home.kind {home.kind!r} is not built by the {provider} module",
                f"use {' or '.join(kinds)}" if kinds else "remove terraform.home",
            )
        )
    if home.kind == "filestore" and home.backups is not None:
        problems.append(
            Problem(
                file,
                lines.line(("terraform", "home", "backups")),
                "terraform.home.backups: Terraform has no scheduled Filestore backup "
                "(google_filestore_backup is one backup, made once)",
                "use kind nfs-disk (a snapshot schedule), or schedule Filestore backups "
                "outside Terraform and remove backups:",
            )
        )
    owners: dict[str, str] = {}
    for hub in sorted(home.directories):
        where = lines.line(("terraform", "home", "directories", hub))
        if hub not in block.hub_access:
            problems.append(
                Problem(
                    file,
                    where,
                    f"terraform.home.directories names {hub!r}, which is not in hub_access",
                    "home directories are for the hubs of hub_access (add it there, {} "
                    "gives it no bucket)",
                )
            )
    for hub in sorted(block.hub_access):
        directory = home.directories.get(hub, hub)
        other = owners.setdefault(directory, hub)
        if other != hub:
            problems.append(
                Problem(
                    file,
                    lines.line(("terraform", "home", "directories", hub)),
                    f"hubs {other} and {hub} would share the home directory {directory!r}",
                    "give each hub its own directory in terraform.home.directories",
                )
            )
    return problems


def _access_problems(
    provider: str, block: TerraformBlock, file: str, lines: LineMap
) -> list[Problem]:
    problems: list[Problem] = []
    for hub, access in sorted(block.hub_access.items()):
        if access.external_buckets and provider == "azure":
            problems.append(
                Problem(
                    file,
                    lines.line(("terraform", "hub_access", hub, EXTERNAL_KEY)),
                    f"terraform.hub_access.{hub}.{EXTERNAL_KEY}: the azure module grants "
                    "external reads by role only",
                    "give the hub a role on the storage account in extra_policies and "
                    "scope it in your own module",
                )
            )
        variables = list(access.buckets.values()) + [
            e.env for e in access.external_buckets.values() if e.env
        ]
        for variable in sorted({v for v in variables if variables.count(v) > 1}):
            problems.append(
                Problem(
                    file,
                    lines.line(("terraform", "hub_access", hub)),
                    f"terraform.hub_access.{hub} uses the environment variable {variable} "
                    "for two buckets",
                    "give each bucket its own variable",
                )
            )
    return problems


def _name_problems(
    provider: str, block: TerraformBlock, file: str, lines: LineMap
) -> list[Problem]:
    names = block.names
    problems: list[Problem] = []
    unknown = [("buckets", key) for key in names.buckets if key not in block.buckets]
    unknown += [("hubs", hub) for hub in names.hubs if hub not in block.hub_access]
    for part, key in sorted(unknown):
        problems.append(
            Problem(
                file,
                lines.line(("terraform", "names", part, key)),
                f"terraform.names.{part} names {key!r}, which the block does not have",
                "buckets: a key of terraform.buckets; hubs: a hub of terraform.hub_access",
            )
        )
    if names.storage_account is not None and provider != "azure":
        problems.append(
            Problem(
                file,
                lines.line(("terraform", "names", "storage_account")),
                "terraform.names.storage_account is an Azure name",
                "remove it",
            )
        )
    for key in ("home", "backup"):
        if getattr(names, key) is not None and block.home is None:
            problems.append(
                Problem(
                    file,
                    lines.line(("terraform", "names", key)),
                    f"terraform.names.{key} names a home storage the block does not have",
                    "add terraform.home, or remove the name",
                )
            )
    return problems
