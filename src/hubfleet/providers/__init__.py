"""Providers by name: each gives a cluster's credentials for the duration of a block."""

from __future__ import annotations

import importlib

from hubfleet.base.errors import ConfigError, did_you_mean
from hubfleet.config.providers import PROVIDERS
from hubfleet.providers.base import Credentials, Provider, ProviderContext

# The provider table's names (`hubfleet.config.providers`), sorted.
NAMES: tuple[str, ...] = tuple(sorted(PROVIDERS))

__all__ = [
    "NAMES",
    "Credentials",
    "Provider",
    "ProviderContext",
    "get_provider",
]


def get_provider(name: str) -> Provider:
    """The provider named `name` (its module is imported on first use)."""
    if name not in NAMES:
        raise ConfigError(f"unknown provider {name!r}", hint=did_you_mean(name, NAMES))
    module = importlib.import_module(f"hubfleet.providers.{name}")
    provider: Provider = module.PROVIDER
    return provider
