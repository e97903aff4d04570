"""The root modules shipped with hubfleet (package data) written into a fleet."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from hubfleet.base.atomic import write_atomic
from hubfleet.base.errors import ConfigError
from hubfleet.terraform.inputs import MODULES_DIR

PROVIDERS = ("gcp", "aws", "azure")


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
    target = f"{MODULES_DIR}/{provider}"
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
