"""Providers by name: each gives a cluster's credentials for the duration of a block."""

from __future__ import annotations

import importlib

from hubfleet.base.errors import ConfigError, did_you_mean
from hubfleet.providers.base import (
    Credentials,
    DeployHook,
    Provider,
    ProviderContext,
    ReleaseOutcome,
    open_private_folders,
    remove_all_private_folders,
)

NAMES: tuple[str, ...] = ("aws", "azure", "gcp", "kubeconfig", "local")

__all__ = [
    "NAMES",
    "Credentials",
    "DeployHook",
    "Provider",
    "ProviderContext",
    "ReleaseOutcome",
    "get_provider",
    "open_private_folders",
    "remove_all_private_folders",
]


def get_provider(name: str) -> Provider:
    """The provider named `name` (its module is imported on first use)."""
    if name not in NAMES:
        raise ConfigError(f"unknown provider {name!r}", hint=did_you_mean(name, NAMES))
    module = importlib.import_module(f"hubfleet.providers.{name}")
    provider: Provider = module.PROVIDER
    return provider
