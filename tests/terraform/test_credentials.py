"""Terraform's credentials are parsed by the providers' own parsers (issue 22): each key
format has one reader, and a key the deploy refuses, Terraform refuses with the same
words (before, a missing field became an empty variable)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from hubfleet.base.errors import SecretsError
from hubfleet.config.fleet import Cluster
from hubfleet.config.load import load_fleet
from hubfleet.providers import aws, azure, gcp
from hubfleet.terraform.tf import credential_env

GCP_KEY = {
    "type": "service_account",
    "private_key": "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n",
    "client_email": "deployer@alpha-project.iam.gserviceaccount.com",
}


@pytest.fixture
def clusters(tf_fleet: Path) -> dict[str, Cluster]:
    fleet = load_fleet(tf_fleet).fleet_or_raise()
    return {c.provider: c for c in fleet.clusters}


def _refused(cluster: Cluster, secret: Any) -> str:
    with pytest.raises(SecretsError) as caught:
        credential_env(cluster, secret)
    assert caught.value.path == cluster.file
    assert caught.value.line == cluster.lines.line(("terraform", "credentials"))
    return caught.value.message


def test_each_format_becomes_its_variables(clusters: dict[str, Cluster]) -> None:
    gcp_env = credential_env(clusters["gcp"], GCP_KEY)
    assert list(gcp_env) == ["GOOGLE_CREDENTIALS"]
    nested = {"AccessKey": {"AccessKeyId": "AKIAID", "SecretAccessKey": "s3cret"}}
    assert credential_env(clusters["aws"], nested) == {
        "AWS_ACCESS_KEY_ID": "AKIAID",
        "AWS_SECRET_ACCESS_KEY": "s3cret",
    }
    flat = {"AccessKeyId": "ASIAID", "SecretAccessKey": "s3cret", "SessionToken": "tok"}
    assert credential_env(clusters["aws"], flat)["AWS_SESSION_TOKEN"] == "tok"
    rbac = {"appId": "app", "password": "pw", "tenant": "ten"}
    legacy = {
        "service_principal_id": "app",
        "service_principal_password": "pw",
        "tenant_id": "ten",
        "subscription_id": "sub-from-key",
    }
    azure_env = credential_env(clusters["azure"], rbac)
    assert (azure_env["ARM_CLIENT_ID"], azure_env["ARM_CLIENT_SECRET"]) == ("app", "pw")
    assert azure_env["ARM_TENANT_ID"] == "ten"
    block = clusters["azure"].spec.azure
    assert block is not None
    expected = block.subscription or "sub-from-key"
    assert credential_env(clusters["azure"], legacy)["ARM_SUBSCRIPTION_ID"] == expected


def test_a_key_the_provider_refuses_terraform_refuses_in_its_words(
    clusters: dict[str, Cluster],
) -> None:
    cases: list[tuple[str, Any, str]] = [
        ("aws", {"AccessKey": {"AccessKeyId": "AKIAID"}}, aws.KEY_FORMAT),
        ("aws", {"AccessKeyId": "AKIAID"}, aws.KEY_FORMAT),
        ("azure", {"appId": "app", "tenant": "ten"}, azure.KEY_FORMATS),
        ("gcp", {"private_key": "k"}, "has no 'type'"),
        ("gcp", {"type": "service_account", "private_key": "k"}, "no private_key or client_email"),
    ]
    for provider, secret, words in cases:
        message = _refused(clusters[provider], secret)
        assert message.startswith(f"cluster {clusters[provider].name}: terraform.credentials: ")
        assert words in message
        with pytest.raises(ValueError, match=re.escape(words)):
            {"aws": aws.access_key, "azure": azure.service_principal}.get(
                provider, gcp.check_key_data
            )(secret)


def test_a_certificate_principal_or_a_list_is_refused(clusters: dict[str, Cluster]) -> None:
    certificate = {"appId": "app", "tenant": "ten", "certificate": "PEM"}
    assert "password, not a certificate" in _refused(clusters["azure"], certificate)
    assert _refused(clusters["aws"], ["AKIAID"]).endswith(
        "terraform.credentials is not a JSON or YAML mapping"
    )


def test_no_value_of_a_refused_key_is_in_the_message(clusters: dict[str, Cluster]) -> None:
    message = _refused(clusters["aws"], {"AccessKey": {"SecretAccessKey": "hunter2-secret"}})
    assert "hunter2" not in message
