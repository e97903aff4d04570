"""The commented-out `terraform:` block `hubfleet new cluster` appends to a cloud
cluster's cluster.yaml: the cluster's own state (`backend`) and its users' home
storage (`home`, with the kinds the provider's shipped module builds), ready to be
uncommented and filled in (docs/terraform.md). Uncommented as written, it validates."""

from __future__ import annotations

from hubfleet.config.terraform import HOME_KINDS, SUGGESTED_BACKENDS

_TIERS = {
    "filestore": "BASIC_HDD",
    "nfs-disk": "pd-balanced",
    "efs": "elastic",
    "azure-files": "Premium",
}


def commented_block(name: str, provider: str, region: str = "") -> str:
    """The block as comment lines (`""` for a provider without a shipped module)."""
    if provider not in SUGGESTED_BACKENDS or provider not in HOME_KINDS:
        return ""
    kinds = HOME_KINDS[provider]
    backend, settings = SUGGESTED_BACKENDS[provider]
    values = {key: value.format(name=name) or region or "REGION" for key, value in settings}
    backups = " (nfs-disk: filestore has none)" if "filestore" in kinds else ""
    lines = [
        "terraform:",
        "  backend:                        # the cluster's own Terraform state",
        f"    type: {backend}",
        "    settings:",
        *(f"      {key}: {value}" for key, value in values.items()),
        "  home:                           # the users' home directories: one storage,",
        "                                  # a directory per hub of hub_access",
        f"    kind: {kinds[0]}" + " " * max(1, 24 - len(kinds[0])) + f"# {' or '.join(kinds)}",
        "    size_gb: 1024",
        f"    # tier: {_TIERS[kinds[0]]}",
        f"    # backups: {{every_hours: 24, retention_days: 30}}   # snapshots{backups}",
    ]
    head = [
        "",
        "# The cluster's infrastructure (docs/terraform.md): uncomment, fill in, then",
        f"# `hubfleet terraform plan {name}`. Home storage kinds on {provider}: "
        f"{', '.join(kinds)}.",
    ]
    return "\n".join([*head, *(f"# {line}" for line in lines)]) + "\n"
