"""`hubfleet new cluster` on a cloud: cluster.yaml carries a commented-out `terraform:`
block (the cluster's state and its home storage, with the provider's kinds), and the
support chart gets the home-volume template beside the service-account one, as
`hubfleet terraform scaffold` writes them. The file validates as written, and with
the block uncommented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hubfleet.config.load import load_fleet
from hubfleet.config.terraform import HOME_KINDS
from hubfleet.new.scaffold import new_cluster, validate_result
from hubfleet.terraform.scaffold import HOME_TEMPLATE, SUPPORT_TEMPLATE, support_template

from .conftest import KEY_ENV

CLOUDS = [
    ("gcp", {"project": "p", "cluster": "c", "zone": "europe-west1-b"}),
    ("aws", {"clusterName": "eks1", "region": "us-west-2"}),
    ("azure", {"resource_group": "rg", "cluster": "aks1"}),
]


def _uncomment(text: str) -> str:
    """The block's lines without their first `# ` (its own comments stay comments)."""
    start = text.index("# terraform:\n")
    block = re.sub(r"^# ?", "", text[start:], flags=re.M)
    return text[:start] + block


@pytest.mark.parametrize(("provider", "settings"), CLOUDS)
def test_the_home_block_is_there_commented_and_validates_uncommented(
    repo: Path, provider: str, settings: dict[str, str]
) -> None:
    created = new_cluster(repo, "epsilon", provider, settings, env=KEY_ENV)
    assert created.ok, [p.render() for p in created.problems]
    path = repo / "config/clusters/epsilon/cluster.yaml"
    text = path.read_text()
    assert "# terraform:\n" in text and "#   home:" in text
    assert f"Home storage kinds on {provider}: {', '.join(HOME_KINDS[provider])}." in text
    assert load_fleet(repo).fleet_or_raise().cluster("epsilon").spec.terraform is None

    path.write_text(_uncomment(text))
    terraform = load_fleet(repo).fleet_or_raise().cluster("epsilon").spec.terraform
    assert terraform is not None and terraform.home is not None
    assert terraform.home.kind == HOME_KINDS[provider][0]
    problems = validate_result(repo, "epsilon", env=KEY_ENV)
    assert not [p for p in problems if p.severity == "error"], [p.render() for p in problems]


def test_a_kind_of_another_cloud_is_refused_once_uncommented(repo: Path) -> None:
    """The bypass: the block is checked like any other (a kind the module does not build)."""
    provider, settings = CLOUDS[1]
    new_cluster(repo, "epsilon", provider, settings, env=KEY_ENV)
    path = repo / "config/clusters/epsilon/cluster.yaml"
    path.write_text(_uncomment(path.read_text()).replace("kind: efs", "kind: filestore"))
    problems = load_fleet(repo).problems
    assert any("terraform.home.kind 'filestore'" in p.message for p in problems)


def test_both_support_templates_are_written(repo: Path) -> None:
    provider, settings = CLOUDS[0]
    created = new_cluster(repo, "epsilon", provider, settings, env=KEY_ENV)
    for name in (SUPPORT_TEMPLATE, HOME_TEMPLATE):
        template = f"helm-charts/support/templates/{name}"
        assert template in created.files
        assert (repo / template).read_text() == support_template(name)


def test_no_block_for_a_cluster_without_a_module(repo: Path) -> None:
    new_cluster(repo, "epsilon", "local", {}, env=KEY_ENV)
    assert "terraform" not in (repo / "config/clusters/epsilon/cluster.yaml").read_text()
