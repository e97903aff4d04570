"""The provider blocks' keys, from the configuration models (one source of truth)."""

from __future__ import annotations

import typing
from dataclasses import dataclass

from pydantic import BaseModel

from hubfleet.base.errors import ConfigError, did_you_mean
from hubfleet.config.models import ClusterFile
from hubfleet.config.providers import CREDENTIALS_KEY, PROVIDERS


def _block(provider: str) -> type[BaseModel]:
    """The model of the provider's block: the type of ClusterFile's field of that name."""
    annotation = ClusterFile.model_fields[provider].annotation
    block = next(t for t in typing.get_args(annotation) if t is not type(None))
    assert isinstance(block, type) and issubclass(block, BaseModel)
    return block


BLOCKS: dict[str, type[BaseModel]] = {provider: _block(provider) for provider in PROVIDERS}
# Keys the models cannot mark required: gcp needs a zone or a region (zone asked).
_ALSO_ASKED = {"gcp": ("zone",)}
# Keys naming a sops-encrypted credentials file (filled by `credentials_from`).
CREDENTIAL_KEY = CREDENTIALS_KEY
_ALTERNATIVES = {("gcp", "zone"): "region"}


@dataclass(frozen=True)
class ProviderKey:
    name: str
    description: str


def check_provider(provider: str) -> None:
    if provider not in PROVIDERS:
        raise ConfigError(
            f"unknown provider {provider!r}",
            hint=did_you_mean(provider, list(PROVIDERS)) or f"one of: {', '.join(PROVIDERS)}",
        )


def required_keys(provider: str) -> list[ProviderKey]:
    """The keys `hubfleet new cluster` asks for (credential files excluded)."""
    check_provider(provider)
    model = BLOCKS[provider]
    keys = []
    for name, field in model.model_fields.items():
        if name == CREDENTIAL_KEY.get(provider):
            continue
        if field.is_required() or name in _ALSO_ASKED.get(provider, ()):
            keys.append(ProviderKey(name, field.description or name))
    return keys


def known_keys(provider: str) -> list[str]:
    check_provider(provider)
    return list(BLOCKS[provider].model_fields)


def satisfied(provider: str, key: str, settings: dict[str, str]) -> bool:
    """Is `key` given, or its alternative (gcp: region instead of zone)?"""
    alternative = _ALTERNATIVES.get((provider, key))
    return bool(settings.get(key)) or bool(alternative and settings.get(alternative))
