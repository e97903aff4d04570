"""`hubfleet new cluster`: provider blocks from flags or prompts, then validate."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hubfleet.base.errors import ConfigError
from hubfleet.config.load import load_fleet
from hubfleet.config.providers import PROVIDERS
from hubfleet.new import providers
from hubfleet.new.names import InvalidNameError
from hubfleet.new.scaffold import new_cluster, new_hub
from hubfleet.secrets.sops import is_encrypted
from hubfleet.terraform.scaffold import SUPPORT_TEMPLATE, shipped, support_template

from .conftest import KEY_ENV

# Among the slowest files of the suite: scripts/test -m "not slow" leaves it out.
pytestmark = pytest.mark.slow

HUBFLEET = str(Path(sys.executable).parent / "hubfleet")


@pytest.mark.parametrize(
    ("provider", "settings"),
    [
        ("gcp", {"project": "p", "cluster": "c", "zone": "europe-west1-b"}),
        ("aws", {"clusterName": "eks1", "region": "us-west-2"}),
        ("azure", {"resource_group": "rg", "cluster": "aks1"}),
        ("local", {}),
    ],
)
def test_new_cluster_and_hub_validate(repo: Path, provider: str, settings: dict[str, str]) -> None:
    created = new_cluster(repo, "epsilon", provider, settings, env=KEY_ENV)
    assert created.ok, [p.render() for p in created.problems]
    fleet = load_fleet(repo).fleet_or_raise()
    cluster = fleet.cluster("epsilon")
    assert cluster.provider == provider
    assert cluster.support is not None
    hub = new_hub(repo, "epsilon", "staging", "staging.epsilon.example.org", env=KEY_ENV)
    assert hub.ok, [p.render() for p in hub.problems]
    assert load_fleet(repo).fleet_or_raise().cluster("epsilon").hub("staging").staging


def test_kubeconfig_cluster_encrypts_its_credentials(repo: Path) -> None:
    kubeconfig = b"apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: []\n"
    created = new_cluster(repo, "onprem", "kubeconfig", {}, credentials=kubeconfig, env=KEY_ENV)
    assert created.ok, [p.render() for p in created.problems]
    path = repo / "config/clusters/onprem/enc-deployer-credentials.secret.yaml"
    assert is_encrypted(path.read_text(), path.name)
    cluster = load_fleet(repo).fleet_or_raise().cluster("onprem")
    assert cluster.credential_files == (
        "config/clusters/onprem/enc-deployer-credentials.secret.yaml",
    )
    with pytest.raises(ConfigError, match="needs its kubeconfig"):
        new_cluster(repo, "onprem2", "kubeconfig", {}, env=KEY_ENV)


def test_a_plain_token_as_credentials_is_encrypted_as_a_plain_file(repo: Path) -> None:
    """A credentials file that is neither JSON nor a YAML mapping (an API token) is
    stored as a sops binary file, not as YAML that sops cannot parse."""
    created = new_cluster(repo, "onprem", "kubeconfig", {}, credentials=b"tok-123\n", env=KEY_ENV)
    assert created.ok, [p.render() for p in created.problems]
    path = repo / "config/clusters/onprem/enc-deployer-credentials.secret.txt"
    cluster = load_fleet(repo).fleet_or_raise().cluster("onprem")
    assert cluster.credential_files == (str(path.relative_to(repo)),)
    assert is_encrypted(path.read_text(), path.name)
    assert "tok-123" not in path.read_text()


def test_which_providers_require_their_credentials_file() -> None:
    """Derived from the block models (a required credentials key), not a provider name."""
    required = {p: providers.credentials_required(p) for p in PROVIDERS}
    assert required == {p: p == "kubeconfig" for p in PROVIDERS}


def test_missing_and_unknown_settings_are_refused(repo: Path) -> None:
    with pytest.raises(ConfigError, match="gcp needs: cluster, zone"):
        new_cluster(repo, "epsilon", "gcp", {"project": "p"}, env=KEY_ENV)
    with pytest.raises(ConfigError, match="unknown aws setting"):
        new_cluster(repo, "epsilon", "aws", {"clusterName": "x", "region": "r", "zone": "z"})
    with pytest.raises(ConfigError, match="unknown provider 'gpc'") as raised:
        new_cluster(repo, "epsilon", "gpc", {})
    assert "gcp" in (raised.value.hint or "")
    assert not (repo / "config/clusters/epsilon").exists()


@pytest.mark.parametrize(("name", "message"), [("alpha", "already exists"), ("Bad!", "invalid")])
def test_cluster_name_clash_and_invalid_name(repo: Path, name: str, message: str) -> None:
    with pytest.raises(InvalidNameError, match=message):
        new_cluster(repo, name, "local", {}, env=KEY_ENV)


def _cli(repo: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HUBFLEET, "--repo", str(repo), "new", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **KEY_ENV},
        timeout=120,
    )


def test_cli_prompts_for_required_keys(repo: Path) -> None:
    done = _cli(repo, "cluster", "zeta", "--provider", "aws", stdin="zeta-eks\nus-east-2\n")
    assert done.returncode == 0, done.stderr
    assert "validation: no problems" in done.stdout
    block = load_fleet(repo).fleet_or_raise().cluster("zeta").spec.aws
    assert block is not None
    assert (block.clusterName, block.region) == ("zeta-eks", "us-east-2")


def test_cli_flags_and_hub(repo: Path) -> None:
    done = _cli(
        repo,
        "cluster",
        "eta",
        "-p",
        "gcp",
        "--set",
        "project=p",
        "--set",
        "cluster=c",
        "--set",
        "region=us-east1",
        "--no-input",
    )
    assert done.returncode == 0, done.stderr
    done = _cli(
        repo,
        "hub",
        "eta",
        "one",
        "--domain",
        "one.eta.example.org",
        "--staging",
        "--output",
        "json",
    )
    assert done.returncode == 0, done.stderr
    assert '"ok": true' in done.stdout


def test_cli_clash_is_a_clear_error(repo: Path) -> None:
    done = _cli(repo, "hub", "alpha", "prod1", "--domain", "x.alpha.example.org")
    assert done.returncode == 2
    assert "already has a hub 'prod1'" in done.stderr
    assert "Traceback" not in done.stderr
    done = _cli(repo, "cluster", "theta", "-p", "gcp", "--no-input")
    assert done.returncode == 2
    assert "gcp needs 'project'" in done.stderr


def test_new_cloud_cluster_writes_the_shipped_module_once(repo: Path) -> None:
    assert not (repo / "terraform").exists()
    created = new_cluster(
        repo, "epsilon", "aws", {"clusterName": "eks1", "region": "us-west-2"}, env=KEY_ENV
    )
    assert created.ok, [p.render() for p in created.problems]
    for name, text in shipped("aws").items():
        assert (repo / "terraform" / "aws" / name).read_text() == text
        assert f"terraform/aws/{name}" in created.files
    template = f"helm-charts/support/templates/{SUPPORT_TEMPLATE}"
    assert (repo / template).read_text() == support_template() and template in created.files
    assert any("wrote the shipped Terraform module terraform/aws/" in n for n in created.notes)
    # a second aws cluster keeps the fleet's module (it is the fleet's own now)
    main_tf = repo / "terraform" / "aws" / "main.tf"
    main_tf.write_text("# adapted by the fleet\n")
    again = new_cluster(
        repo, "zeta", "aws", {"clusterName": "eks2", "region": "us-west-2"}, env=KEY_ENV
    )
    assert again.ok, [p.render() for p in again.problems]
    assert main_tf.read_text() == "# adapted by the fleet\n"
    assert not any(path.startswith(("terraform/", "helm-charts/")) for path in again.files)
    assert any("terraform/aws/ exists: kept" in n for n in again.notes)


def test_new_kubeconfig_or_local_cluster_writes_no_module(repo: Path) -> None:
    created = new_cluster(repo, "epsilon", "local", {}, env=KEY_ENV)
    assert created.ok and not (repo / "terraform").exists()
    assert all(path.startswith("config/") for path in created.files)


def test_cli_says_it_wrote_the_module(repo: Path) -> None:
    result = subprocess.run(
        [HUBFLEET, "--repo", str(repo), "new", "cluster", "epsilon", "--provider", "gcp",
         "--set", "project=p", "--set", "cluster=c", "--set", "zone=europe-west1-b", "--no-input"],
        capture_output=True,
        text=True,
        env={**os.environ, **KEY_ENV},
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "  + terraform/gcp/main.tf" in result.stdout
    assert "note: wrote the shipped Terraform module terraform/gcp/" in result.stdout
