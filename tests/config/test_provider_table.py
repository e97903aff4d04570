"""The provider table is the one list of providers: every other list derives from it."""

from __future__ import annotations

import typing

from hubfleet.config import models, providers
from hubfleet.config.providers import TABLE
from hubfleet.deploy.checks import health_checks
from hubfleet.providers import NAMES, get_provider


def test_the_provider_literal_is_the_table() -> None:
    assert typing.get_args(providers.Provider) == providers.PROVIDERS
    assert tuple(f.name for f in TABLE) == providers.PROVIDERS


def test_every_provider_of_the_table_has_a_module_a_block_and_a_check() -> None:
    assert sorted(NAMES) == sorted(providers.PROVIDERS)
    for facts in TABLE:
        assert get_provider(facts.name).name == facts.name
        assert facts.name in models.ClusterFile.model_fields
    assert set(health_checks()) == set(providers.PROVIDERS)
    assert providers.KUBERNETES == ("aws", "azure", "gcp", "kubeconfig")
    assert providers.CI_PROVIDERS == ("gcp", "aws", "azure", "kubeconfig")
    assert providers.CLOUD_PROVIDERS == ("gcp", "aws", "azure")
