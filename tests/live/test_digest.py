"""The digest of a release's inputs: every input byte counts, no decrypted byte enters."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from hubfleet.base.redact import Redactor
from hubfleet.config.fleet import Fleet
from hubfleet.config.load import load_fleet
from hubfleet.live.digest import Digests
from hubfleet.release.pipeline import Release, hub_release, support_release
from hubfleet.release.values import ReleaseValues
from hubfleet.secrets.sops import Sops
from tests.conftest import AGE_KEY
from tests.secretscan import decrypted_leaves, find_secrets


def fleet_of(root: Path) -> Fleet:
    return load_fleet(root).fleet


def digest(root: Path, cluster: str, hub: str | None) -> str:
    fleet = fleet_of(root)
    return Digests(ReleaseValues(fleet, sops=None)).of(release_of(fleet, cluster, hub))


def release_of(fleet: Fleet, cluster: str, hub: str | None) -> Release:
    if hub is None:
        found = support_release(fleet, fleet.cluster(cluster))
        assert found is not None
        return found
    return hub_release(fleet, fleet.cluster(cluster).hub(hub))


def test_same_inputs_same_digest_and_releases_differ(fleet_copy: Path) -> None:
    first = digest(fleet_copy, "alpha", "prod1")
    assert first.startswith("sha256:") and len(first) == 7 + 64
    assert digest(fleet_copy, "alpha", "prod1") == first
    assert digest(fleet_copy, "alpha", "prod2") != first
    assert digest(fleet_copy, "alpha", None) != first


@pytest.mark.parametrize(
    ("path", "cluster", "hub"),
    [
        ("config/clusters/alpha/common.values.yaml", "alpha", "prod1"),
        ("config/clusters/alpha/prod1.values.yaml", "alpha", "prod1"),
        ("config/clusters/alpha/support.values.yaml", "alpha", None),
    ],
)
def test_any_values_byte_changes_it(
    fleet_copy: Path, path: str, cluster: str, hub: str | None
) -> None:
    before = digest(fleet_copy, cluster, hub)
    target = fleet_copy / path
    data = target.read_bytes()
    # A comment changes nothing helm sees, but it is a changed input: never "in sync"
    # by mistake (a spurious "changed" is accepted, a missed change is not).
    for changed in (data + b"\n", data + b"# x\n", data.replace(b":", b": ", 1)):
        target.write_bytes(changed)
        assert digest(fleet_copy, cluster, hub) != before, changed
    target.write_bytes(data)
    assert digest(fleet_copy, cluster, hub) == before


def test_an_encrypted_file_counts_as_stored(fleet_copy: Path) -> None:
    before = digest(fleet_copy, "alpha", "prod1")
    target = fleet_copy / "config/clusters/alpha/enc-prod1.secret.values.yaml"
    data = target.read_bytes()
    target.write_bytes(data.replace(b"sops:", b"#\nsops:", 1))
    assert digest(fleet_copy, "alpha", "prod1") != before


def test_re_encrypting_changes_it(fleet_copy: Path, age_key: Path) -> None:
    """Same plaintext, new ciphertext: a spurious "changed" (accepted, never "in sync"
    for a real change): proves the digest never saw the plaintext."""
    before = digest(fleet_copy, "alpha", "prod1")
    target = fleet_copy / "config/clusters/alpha/enc-prod1.secret.values.yaml"
    plain = subprocess.run(["sops", "--decrypt", str(target)], capture_output=True, check=True)
    # A new data key: every value encrypted again, the plaintext unchanged.
    subprocess.run(["sops", "--rotate", "--in-place", str(target)], check=True, capture_output=True)
    again = subprocess.run(["sops", "--decrypt", str(target)], capture_output=True, check=True)
    assert again.stdout == plain.stdout
    assert digest(fleet_copy, "alpha", "prod1") != before


def test_a_local_chart_file_changes_it(fleet_copy: Path) -> None:
    before = digest(fleet_copy, "delta", "prod")  # a chart_override folder
    template = fleet_copy / "config/clusters/delta/chart-override/testhub/templates/configmap.yaml"
    template.write_bytes(template.read_bytes() + b"\n")
    assert digest(fleet_copy, "delta", "prod") != before
    shared = digest(fleet_copy, "alpha", "prod1")
    values = fleet_copy / "helm-charts/testhub/values.yaml"
    values.write_bytes(values.read_bytes() + b"# changed\n")
    assert digest(fleet_copy, "alpha", "prod1") != shared


def test_no_secret_is_in_the_digests(fleet_copy: Path, age_key: Path) -> None:
    fleet = fleet_of(fleet_copy)
    pipeline = ReleaseValues(fleet, sops=Sops(Redactor(), cwd=fleet_copy))
    digests = Digests(pipeline)
    found = []
    for cluster in fleet.clusters:
        releases = [hub_release(fleet, hub) for hub in cluster.hubs]
        support = support_release(fleet, cluster)
        for release in [*releases, *([support] if support else [])]:
            found.append(digests.of(release))
    secrets = decrypted_leaves(fleet_copy / "config/clusters", AGE_KEY)
    assert secrets and len(set(found)) == len(found)
    assert find_secrets("\n".join(found).encode(), secrets) == []


def test_digests_are_the_same_with_or_without_a_key(fleet_copy: Path, age_key: Path) -> None:
    """The digest never depends on decryption: status (no key needed) and deploy agree."""
    fleet = fleet_of(fleet_copy)
    release = release_of(fleet, "alpha", "prod1")
    with_key = Digests(ReleaseValues(fleet, sops=Sops(Redactor(), cwd=fleet_copy))).of(release)
    assert with_key == Digests(ReleaseValues(fleet, sops=None)).of(release)


def test_renamed_chart_folder_is_a_different_input(fleet_copy: Path) -> None:
    before = digest(fleet_copy, "delta", "prod")
    folder = fleet_copy / "config/clusters/delta/chart-override/testhub"
    extra = folder / "templates" / "extra.yaml"
    shutil.copy(folder / "templates" / "configmap.yaml", extra)
    assert digest(fleet_copy, "delta", "prod") != before
