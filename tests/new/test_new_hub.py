"""`hubfleet new hub`: files, cluster.yaml kept as written, validation, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tests.local.hubs import wrapper_chart

from hubfleet.base.errors import ConfigError
from hubfleet.base.redact import Redactor
from hubfleet.config.load import load_fleet
from hubfleet.export.build import export_hub
from hubfleet.export.verify import verify_export
from hubfleet.new.names import InvalidNameError
from hubfleet.new.scaffold import new_hub
from hubfleet.secrets.sops import Sops, is_encrypted
from hubfleet.validate.run import Selection, validate

from .conftest import KEY_ENV

COMMENTED = """\
# The alpha cluster: comments must survive.
name: alpha   # the folder name
provider: gcp
gcp:
  zone: us-central1-b     # zonal
  project: alpha-project
  cluster: alpha-cluster
  key: enc-deployer-credentials.secret.json
support:
  helm_chart_values_files:
    - support.values.yaml
    - enc-support.secret.values.yaml
hubs:
  # canary first
  - name: staging
    domain: "staging.alpha.example.org"
    helm_chart_values_files:
      - common.values.yaml
      - staging.values.yaml
      - enc-staging.secret.values.yaml
  - name: prod1
    domain: prod1.alpha.example.org  # production
    helm_chart_values_files:
      - common.values.yaml
      - prod1.values.yaml
      - enc-prod1.secret.values.yaml
  - name: prod2
    domain: prod2.alpha.example.org
    helm_chart_values_files:
      - common.values.yaml
      - prod2.values.yaml
"""


def test_new_hub_validates_and_has_an_encrypted_secrets_file(repo: Path) -> None:
    created = new_hub(
        repo, "alpha", "newhub", "newhub.alpha.example.org", staging=True, env=KEY_ENV
    )
    assert created.ok, [p.render() for p in created.problems]
    assert "config/clusters/alpha/newhub.values.yaml" in created.files
    secret = repo / "config/clusters/alpha/enc-newhub.secret.values.yaml"
    assert is_encrypted(secret.read_text(), secret.name)
    fleet = load_fleet(repo).fleet_or_raise()
    hub = fleet.cluster("alpha").hub("newhub")
    assert hub.staging
    assert hub.values_files == (
        "config/clusters/alpha/common.values.yaml",
        "config/clusters/alpha/newhub.values.yaml",
        "config/clusters/alpha/enc-newhub.secret.values.yaml",
    )
    # The full validate (decrypting with the key, rendering) is clean for the new hub.
    sops = Sops(Redactor(), cwd=repo, env=KEY_ENV)
    result = validate(repo, selection=Selection(cluster="alpha", hubs=("newhub",)), sops=sops)
    assert not result.errors, [p.render() for p in result.errors]
    assert "alpha/newhub" in result.rendered
    # ... and it is exportable, round trip included.
    exported = export_hub(fleet, hub, repo.parent / "export")
    assert verify_export(fleet, hub, exported.directory, sops=sops).status == "same"


def test_existing_cluster_yaml_keeps_comments_and_key_order(repo: Path) -> None:
    cluster_yaml = repo / "config/clusters/alpha/cluster.yaml"
    cluster_yaml.write_text(COMMENTED)
    created = new_hub(repo, "alpha", "extra", "extra.alpha.example.org", env=KEY_ENV)
    assert created.ok, [p.render() for p in created.problems]
    after = cluster_yaml.read_text()
    assert after.startswith(COMMENTED), after
    assert after[len(COMMENTED) :] == (
        "  - name: extra\n"
        "    domain: extra.alpha.example.org\n"
        "    helm_chart_values_files:\n"
        "      - common.values.yaml\n"
        "      - extra.values.yaml\n"
        "      - enc-extra.secret.values.yaml\n"
    )


def test_from_copies_values_but_never_secrets(repo: Path) -> None:
    created = new_hub(
        repo, "alpha", "copy", "copy.alpha.example.org", from_hub="prod1", env=KEY_ENV
    )
    assert created.ok, [p.render() for p in created.problems]
    folder = repo / "config/clusters/alpha"
    copied = (folder / "copy.values.yaml").read_text()
    original = (folder / "prod1.values.yaml").read_text()
    assert copied == original.replace("prod1.alpha.example.org", "copy.alpha.example.org")
    assert "copy.alpha.example.org" in copied
    hub = load_fleet(repo).fleet_or_raise().cluster("alpha").hub("copy")
    names = [Path(p).name for p in hub.values_files]
    assert names == ["common.values.yaml", "copy.values.yaml", "enc-copy.secret.values.yaml"]
    # The new secrets file is new, not the source hub's.
    new_secret = Sops(Redactor(), cwd=repo, env=KEY_ENV).decrypt(
        folder / "enc-copy.secret.values.yaml"
    )
    assert b"s3cr3t" not in new_secret


def test_from_keeps_the_chart_only_when_the_source_names_one(repo: Path) -> None:
    cluster_yaml = repo / "config/clusters/alpha/cluster.yaml"
    text = cluster_yaml.read_text()
    named = "- name: prod1\n  domain: prod1.alpha.example.org\n"
    assert named in text
    cluster_yaml.write_text(text.replace(named, named + "  helm_chart: testhub\n"))
    for name, source in (("named", "prod1"), ("unnamed", "prod2")):
        created = new_hub(
            repo, "alpha", name, f"{name}.alpha.example.org", from_hub=source, env=KEY_ENV
        )
        assert created.ok, [p.render() for p in created.problems]
    entries = {e["name"]: e for e in yaml.safe_load(cluster_yaml.read_text())["hubs"]}
    assert entries["named"]["helm_chart"] == "testhub"
    assert "helm_chart" not in entries["unnamed"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("prod1", "already has a hub 'prod1'"),
        ("Bad_Name", "invalid hub name"),
        ("-leading", "invalid hub name"),
        ("a" * 54, "at most 53"),
        ("support", "support release"),
        ("default", "namespace Kubernetes keeps"),
        ("kube-extra", "namespace Kubernetes keeps"),
    ],
)
def test_bad_or_taken_hub_names_are_refused(repo: Path, name: str, message: str) -> None:
    before = sorted(p.name for p in (repo / "config/clusters/alpha").iterdir())
    cluster_yaml = (repo / "config/clusters/alpha/cluster.yaml").read_text()
    with pytest.raises(InvalidNameError, match=message):
        new_hub(repo, "alpha", name, "fresh.alpha.example.org", env=KEY_ENV)
    assert sorted(p.name for p in (repo / "config/clusters/alpha").iterdir()) == before
    assert (repo / "config/clusters/alpha/cluster.yaml").read_text() == cluster_yaml


def test_a_53_character_name_is_accepted(repo: Path) -> None:
    name = "h" * 53
    created = new_hub(repo, "local", name, "long.local.example.org", env=KEY_ENV)
    assert created.ok, [p.render() for p in created.problems]


def test_taken_domain_and_unknown_cluster_are_refused(repo: Path) -> None:
    with pytest.raises(InvalidNameError, match="already the domain of hub alpha/prod1"):
        new_hub(repo, "alpha", "other", "prod1.alpha.example.org", env=KEY_ENV)
    with pytest.raises(ConfigError, match="no cluster named 'alfa'") as raised:
        new_hub(repo, "alfa", "other", "other.example.org", env=KEY_ENV)
    assert "alpha" in (raised.value.hint or "")


def test_kubernetes_canary_gets_the_health_check_snippet(repo: Path) -> None:
    from hubfleet.health.kubernetes import values_snippet
    from hubfleet.release.pipeline import hub_release
    from hubfleet.release.values import ReleaseValues

    created = new_hub(repo, "delta", "staging-c", "staging-c.delta.example.org", env=KEY_ENV)
    assert created.ok, [p.render() for p in created.problems]  # the chart's schema accepts it
    assert created.notes == ()
    fleet = load_fleet(repo).fleet_or_raise()
    hub = fleet.cluster("delta").hub("staging-c")
    assert hub.staging
    own = yaml.safe_load((repo / "config/clusters/delta/staging-c.values.yaml").read_text())
    assert own["hub"] == values_snippet()["hub"]
    values = ReleaseValues(fleet, sops=None).merged(hub_release(fleet, hub))
    assert values["hub"]["services"] == {"hubfleet-health-check": {}}
    # Production hubs and local canaries get none.
    new_hub(repo, "delta", "prod-b", "prod-b.delta.example.org", env=KEY_ENV)
    assert "hub" not in yaml.safe_load(
        (repo / "config/clusters/delta/prod-b.values.yaml").read_text()
    )
    new_hub(repo, "local", "staging-2", "staging-2.local.example.org", staging=True, env=KEY_ENV)
    local = yaml.safe_load((repo / "config/clusters/local/staging-2.values.yaml").read_text())
    assert "hub" not in local


def test_new_hub_on_a_wrapper_chart_nests_its_values(repo: Path) -> None:
    from hubfleet.health.kubernetes import values_snippet

    wrapper_chart(repo)
    created = new_hub(
        repo, "delta", "staging-w", "staging-w.delta.example.org", helm_chart="wrapper",
        env=KEY_ENV,
    )  # fmt: skip
    assert created.ok, [p.render() for p in created.problems]
    own = yaml.safe_load((repo / "config/clusters/delta/staging-w.values.yaml").read_text())
    assert list(own) == ["jupyterhub"]
    assert own["jupyterhub"]["ingress"]["hosts"] == ["staging-w.delta.example.org"]
    assert own["jupyterhub"]["hub"] == values_snippet()["hub"]


def test_canary_copied_from_a_hub_without_the_snippet_gets_a_note(repo: Path) -> None:
    created = new_hub(
        repo, "alpha", "canary", "canary.alpha.example.org", staging=True, from_hub="prod1",
        env=KEY_ENV,
    )  # fmt: skip
    assert created.ok
    [note] = created.notes
    assert "canary" in note and "docs/health-check.md" in note
    copied = new_hub(
        repo, "alpha", "staging-2", "staging-2.alpha.example.org", from_hub="staging", env=KEY_ENV
    )
    assert copied.ok and copied.notes == ()


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("hub.values.yaml", "new.values.yaml"),
        ("hub-extra.values.yaml", "new-extra.values.yaml"),
        ("hub_x.yaml", "new_x.yaml"),
        ("github-hub.values.yaml", "new-github-hub.values.yaml"),
        ("hubble.values.yaml", "new-hubble.values.yaml"),
        ("values.yaml", "new-values.yaml"),
    ],
)
def test_copied_file_names(filename: str, expected: str) -> None:
    from hubfleet.new.scaffold import _renamed

    assert _renamed(filename, "hub", "new") == expected
