"""The sops policy: sops alone gets the key variables (moved from tests/test_runner.py)."""

from __future__ import annotations

from hubfleet.secrets.environment import sops_environment
from tests.conftest import ENV_SAMPLE


def test_sops_environment() -> None:
    source = ENV_SAMPLE
    sops = sops_environment(source)
    assert sops["SOPS_AGE_KEY_FILE"] == "/k"
    assert sops["GNUPGHOME"] == "/g"
    assert sops["SOPS_DISABLE_VERSION_CHECK"] == "1"
    assert "AWS_ACCESS_KEY_ID" not in sops and "KUBECONFIG" not in sops
    assert sops_environment(source, cloud=True)["AWS_ACCESS_KEY_ID"] == "a"
