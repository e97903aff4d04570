"""The provider blocks' keys, from the configuration models (one source of truth)."""

from __future__ import annotations

from dataclasses import dataclass

from hubfleet.base.errors import ConfigError, did_you_mean
from hubfleet.config.models import ProviderBlock, provider_block_model
from hubfleet.config.providers import CREDENTIALS_KEY, PROVIDERS

BLOCKS: dict[str, type[ProviderBlock]] = {p: provider_block_model(p) for p in PROVIDERS}
# Keys naming a sops-encrypted credentials file (filled by `credentials_from`).
CREDENTIAL_KEY = CREDENTIALS_KEY


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
        if field.is_required() or name in model.ASKED_ALTERNATIVES:
            keys.append(ProviderKey(name, field.description or name))
    return keys


def known_keys(provider: str) -> list[str]:
    check_provider(provider)
    return list(BLOCKS[provider].model_fields)


def credentials_required(provider: str) -> bool:
    """Does the provider's block require its credentials file (a kubeconfig's `file`)?"""
    key = CREDENTIAL_KEY.get(provider)
    return key is not None and BLOCKS[provider].model_fields[key].is_required()


def satisfied(provider: str, key: str, settings: dict[str, str]) -> bool:
    """Is `key` given, or its alternative (the block's `ASKED_ALTERNATIVES`: gcp's
    region instead of zone)?"""
    alternative = BLOCKS[provider].ASKED_ALTERNATIVES.get(key)
    return bool(settings.get(key)) or bool(alternative and settings.get(alternative))
