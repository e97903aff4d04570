"""Deployer keys in the formats of the largest public multi-hub repository (the
layout fixture fleet) as well as hubfleet's own, for gcp, aws and azure."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import SECRET_MARKER
from tests.fakes import FakeTools
from tests.providers.conftest import context, load

from hubfleet.base.errors import DeployError
from hubfleet.providers import get_provider
from hubfleet.providers.azure import ServicePrincipal, service_principal
from hubfleet.providers.gcp import check_key
from hubfleet.secrets.sops import encrypt

LAYOUT = Path(__file__).parents[1] / "fixtures" / "layout2i2c" / "fleet"
KEY = "enc-deployer-credentials.secret.json"


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    target = tmp_path / "fleet"
    shutil.copytree(LAYOUT, target, symlinks=True)
    return target


def replace_key(root: Path, cluster: str, data: Any) -> None:
    path = f"config/clusters/{cluster}/{KEY}"
    sops_rules = (root / ".sops.yaml").read_text()
    recipient = sops_rules.split("age: ")[1].split()[0]
    ciphertext = encrypt(
        json.dumps(data).encode(), filename=path, cwd=root, age_recipients=[recipient]
    )
    (root / path).write_bytes(ciphertext)


def test_azure_key_in_the_layouts_format(
    layout: Path, age_key: Path, fake_tools: FakeTools, isolated_tmp: Path
) -> None:
    ctx = context(load(layout), "azure-three")
    with get_provider("azure").credentials(ctx) as creds:
        kubeconfig = creds.kubeconfig
    login, get = fake_tools.calls("az")
    assert login["argv"] == [
        "login", "--service-principal",
        "--username=11111111-1111-1111-1111-111111111111",
        "--tenant=22222222-2222-2222-2222-222222222222",
        "--password=@-", "--output=none",
    ]  # fmt: skip
    assert fake_tools.stdin(login) == b"azure-three-sp-password-s3cr3t"
    # The cluster.yaml names no subscription: the key's is used.
    assert get["argv"] == [
        "aks", "get-credentials", "--name=azure-three-aks",
        "--resource-group=azure-three-rg",
        f"--file={kubeconfig}", "--overwrite-existing", "--only-show-errors",
        "--subscription=33333333-3333-3333-3333-333333333333",
    ]  # fmt: skip
    assert not any(SECRET_MARKER in word for word in login["argv"])


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"appId": "a", "tenant": "t", "password": "p", "displayName": "x"},
            ServicePrincipal("a", "t", "p", None, None),
        ),
        (
            {"appId": "a", "tenant": "t", "certificate": "PEM"},
            ServicePrincipal("a", "t", None, "PEM", None),
        ),
        (
            {
                "service_principal_id": "a",
                "service_principal_password": "p",
                "tenant_id": "t",
                "subscription_id": "s",
            },
            ServicePrincipal("a", "t", "p", None, "s"),
        ),
    ],
    ids=["create-for-rbac", "certificate", "layout"],
)
def test_azure_key_formats(data: dict[str, str], expected: ServicePrincipal) -> None:
    assert service_principal(data) == expected


@pytest.mark.parametrize(
    "data",
    [
        {"appId": "a", "tenant": "t"},
        {"service_principal_id": "a", "tenant_id": "t", "subscription_id": "s"},
        {"service_principal_id": "a", "service_principal_password": "p"},
        {"client_id": "a", "client_secret": "p"},
        ["not", "a", "mapping"],
    ],
)
def test_azure_key_without_what_a_login_needs(data: Any) -> None:
    with pytest.raises(ValueError, match="service_principal_id, service_principal_password"):
        service_principal(data)


def test_azure_bad_key_fails_without_showing_it(
    layout: Path, age_key: Path, fake_tools: FakeTools, isolated_tmp: Path
) -> None:
    replace_key(layout, "azure-three", {"service_principal_id": "id-s3cr3t", "tenant_id": "t"})
    with (
        pytest.raises(DeployError, match="needs appId, tenant and password") as caught,
        get_provider("azure").credentials(context(load(layout), "azure-three")),
    ):
        pass
    assert SECRET_MARKER not in str(caught.value) + str(caught.value.hint)
    assert fake_tools.calls("az") == []


def test_aws_key_in_the_layouts_format(
    layout: Path, age_key: Path, fake_tools: FakeTools, isolated_tmp: Path
) -> None:
    """`aws iam create-access-key` output, UserName, Status and CreateDate included."""
    with get_provider("aws").credentials(context(load(layout), "aws-two")):
        pass
    [call] = fake_tools.calls("aws")
    assert call["env"]["AWS_ACCESS_KEY_ID"] == "AKIAFAKEFIXTURE00002"
    assert call["env"]["AWS_SECRET_ACCESS_KEY"] == "aws-two-secret-access-key-s3cr3t"
    assert call["argv"][:3] == ["eks", "update-kubeconfig", "--name=aws-two-eks"]


def test_aws_key_flat_format(
    layout: Path, age_key: Path, fake_tools: FakeTools, isolated_tmp: Path
) -> None:
    replace_key(layout, "aws-two", {"AccessKeyId": "AKIAFLAT", "SecretAccessKey": "flat-s3cr3t"})
    with get_provider("aws").credentials(context(load(layout), "aws-two")):
        pass
    [call] = fake_tools.calls("aws")
    assert call["env"]["AWS_ACCESS_KEY_ID"] == "AKIAFLAT"


def test_aws_key_without_an_access_key(
    layout: Path, age_key: Path, fake_tools: FakeTools, isolated_tmp: Path
) -> None:
    replace_key(layout, "aws-two", {"AccessKey": {"UserName": "deployer"}})
    with (
        pytest.raises(DeployError, match=r"AccessKey\.AccessKeyId"),
        get_provider("aws").credentials(context(load(layout), "aws-two")),
    ):
        pass
    assert fake_tools.calls("aws") == []


def test_gcp_key_in_the_layouts_format(
    layout: Path, age_key: Path, fake_tools: FakeTools, isolated_tmp: Path
) -> None:
    with get_provider("gcp").credentials(context(load(layout), "gcp-one")) as creds:
        key_file = Path(creds.env["CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE"])
        assert json.loads(key_file.read_text())["type"] == "service_account"
    [call] = fake_tools.calls("gcloud")
    assert call["argv"][:4] == ["container", "clusters", "get-credentials", "gcp-one-cluster"]


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (b"not json", "not JSON"),
        (b'{"client_email": "x"}', "no 'type'"),
        (b'{"type": "service_account", "client_email": "x"}', "no private_key"),
    ],
)
def test_gcp_key_checks(key: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_key(key)
    check_key(b'{"type": "external_account", "audience": "x"}')


def test_gcp_bad_key_fails_before_gcloud(
    layout: Path, age_key: Path, fake_tools: FakeTools, isolated_tmp: Path
) -> None:
    replace_key(layout, "gcp-one", {"type": "service_account", "private_key_id": "k-s3cr3t"})
    with (
        pytest.raises(DeployError, match="no private_key or client_email") as caught,
        get_provider("gcp").credentials(context(load(layout), "gcp-one")),
    ):
        pass
    assert SECRET_MARKER not in str(caught.value)
    assert fake_tools.calls("gcloud") == []
