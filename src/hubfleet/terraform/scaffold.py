"""What hubfleet ships for a fleet's Terraform (package data), written into the fleet:
the root modules (`terraform/<provider>/`), and the support chart's template that
creates each hub's user service account (`helm-charts/support/templates/`)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from hubfleet.base.atomic import write_atomic
from hubfleet.base.errors import ConfigError
from hubfleet.config.fleet import CHARTS_DIR
from hubfleet.config.terraform import module_folder

PROVIDERS = ("gcp", "aws", "azure")
SUPPORT_TEMPLATE = "hubfleet-hub-service-accounts.yaml"
HOME_TEMPLATE = "hubfleet-hub-home-volumes.yaml"
SUPPORT_CHART = f"{CHARTS_DIR}/support"


def shipped(provider: str) -> dict[str, str]:
    """File name -> content of the shipped module for `provider`."""
    if provider not in PROVIDERS:
        raise ConfigError(
            f"no Terraform module for provider {provider!r}", hint="one of gcp, aws, azure"
        )
    folder = resources.files("hubfleet.terraform").joinpath("modules", provider)
    return {
        entry.name: entry.read_text(encoding="utf-8")
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".tf")
    }


def scaffold(root: Path, provider: str, *, force: bool = False) -> list[str]:
    """Write terraform/<provider>/*.tf into the fleet; never overwrite without `force`."""
    target = module_folder(provider)
    files = shipped(provider)
    existing = [name for name in files if (root / target / name).exists()]
    if existing and not force:
        raise ConfigError(
            f"{target}/ already has {', '.join(existing)}",
            hint="keep your module, or pass --force to overwrite it with the shipped one",
        )
    for name, text in files.items():
        write_atomic(root / target / name, text.encode())
    return [f"{target}/{name}" for name in files]


def support_template(name: str = SUPPORT_TEMPLATE) -> str:
    """A support chart template hubfleet ships: `SUPPORT_TEMPLATE` renders
    `hubServiceAccounts` (namespaces, service accounts with their identity annotations),
    `HOME_TEMPLATE` renders `hubHomeVolumes` (each hub's home volume and claim)."""
    entry = resources.files("hubfleet.terraform").joinpath("support", name)
    return entry.read_text(encoding="utf-8")


def scaffold_support_template(
    root: Path, *, force: bool = False, name: str = SUPPORT_TEMPLATE
) -> str | None:
    """Write the template into the fleet's local support chart (helm-charts/support/),
    never over an existing file without `force`; the path written, or None (no local
    support chart, or the template is there)."""
    if not (root / SUPPORT_CHART / "Chart.yaml").is_file():
        return None
    target = f"{SUPPORT_CHART}/templates/{name}"
    if (root / target).exists() and not force:
        return None
    write_atomic(root / target, support_template(name).encode())
    return target
