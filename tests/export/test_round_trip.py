"""The round trip holds for every hub: hubfleet's render equals the export's."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hubfleet.base.redact import Redactor
from hubfleet.config.charts import ChartSource
from hubfleet.config.fleet import Fleet
from hubfleet.config.load import load_fleet
from hubfleet.export.build import export_hub
from hubfleet.export.layout import README, parse_command
from hubfleet.export.verify import RoundTripError, verify_export
from hubfleet.helm.charts import cached_chart_paths, resolve_chart

from .conftest import EXAMPLE_FLEET, FIXTURE_FLEET, MARKER, make_sops

HUBS = [(hub.cluster, hub.name) for hub in load_fleet(FIXTURE_FLEET).fleet_or_raise().hubs()]


@pytest.mark.parametrize(("cluster", "name"), HUBS, ids=[f"{c}/{h}" for c, h in HUBS])
def test_every_test_fleet_hub_round_trips(
    fleet: Fleet, tmp_path: Path, cluster: str, name: str
) -> None:
    hub = fleet.cluster(cluster).hub(name)
    result = export_hub(fleet, hub, tmp_path / "export")
    redactor = Redactor()
    with_key = verify_export(fleet, hub, result.directory, sops=make_sops(redactor, fleet.root))
    without_key = verify_export(fleet, hub, result.directory, sops=None)
    for round_trip in (with_key, without_key):
        assert round_trip.status == "same", [d.render() for d in round_trip.differences]
        assert round_trip.resources >= 5
    encrypted = any("secret" in path for path in hub.values_files)
    assert with_key.secrets == ("decrypted" if encrypted else "none")
    assert without_key.secrets == ("placeholders" if encrypted else "none")
    if encrypted:  # the key really was used: the decrypted values went to the redactor
        assert len(redactor) > 0


def test_several_values_files_keep_their_order(fleet: Fleet, tmp_path: Path) -> None:
    hub = fleet.cluster("alpha").hub("staging")
    result = export_hub(fleet, hub, tmp_path / "export")
    command = parse_command((result.directory / README).read_text())
    assert [entry.path for entry in command.values] == [
        "values/00-hubfleet-defaults.values.yaml",
        "values/01-common.values.yaml",
        "values/02-staging.values.yaml",
        "values/03-enc-staging.secret.values.yaml",
    ]
    assert [entry.decrypt for entry in command.values] == [False, False, False, True]


def test_chart_override_is_the_exported_chart(fleet: Fleet, tmp_path: Path) -> None:
    hub = fleet.cluster("delta").hub("prod")
    assert hub.chart_override
    result = export_hub(fleet, hub, tmp_path / "export")
    override = fleet.abspath(hub.chart_override)
    exported = result.directory / "chart"
    originals = sorted(p.relative_to(override) for p in override.rglob("*") if p.is_file())
    copies = sorted(p.relative_to(exported) for p in exported.rglob("*") if p.is_file())
    assert originals == copies
    assert (exported / "templates" / "secret.yaml").read_bytes() == (
        override / "templates" / "secret.yaml"
    ).read_bytes()
    assert verify_export(fleet, hub, result.directory, sops=None).status == "same"


def _add_hub(root: Path, cluster: str, entry: str, files: dict[str, str]) -> Fleet:
    folder = root / "config" / "clusters" / cluster
    for name, text in files.items():
        (folder / name).write_text(text)
    with (folder / "cluster.yaml").open("a") as handle:
        handle.write(entry)
    return load_fleet(root).fleet_or_raise()


def test_null_that_removes_a_chart_default_round_trips(fleet_copy: Path, tmp_path: Path) -> None:
    copy = _add_hub(
        fleet_copy,
        "alpha",
        "- name: nulled\n"
        "  domain: nulled.alpha.example.org\n"
        "  helm_chart_values_files:\n"
        "  - common.values.yaml\n"
        "  - nulled.values.yaml\n",
        {
            "nulled.values.yaml": "ingress:\n  hosts: [nulled.alpha.example.org]\n"
            "singleuser:\n  memory:\n    limit: null\n"
        },
    )
    hub = copy.cluster("alpha").hub("nulled")
    result = export_hub(copy, hub, tmp_path / "export")
    round_trip = verify_export(copy, hub, result.directory, sops=None)
    assert round_trip.status == "same", [d.render() for d in round_trip.differences]
    # The null really removed the chart's default (1G) on both sides.
    from hubfleet.helm.engine import render
    from hubfleet.release.pipeline import hub_release
    from hubfleet.release.values import ReleaseValues

    release = hub_release(copy, hub)
    rendered = render(
        resolve_chart(release.chart),
        ReleaseValues(copy, sops=None).merged(release),
        release="nulled",
        namespace="nulled",
    )
    assert "1G" not in "".join(rendered.values())
    assert "512M" in "".join(rendered.values())


def test_a_changed_export_is_a_difference_naming_resource_and_field(
    fleet: Fleet, tmp_path: Path
) -> None:
    hub = fleet.cluster("alpha").hub("prod2")
    result = export_hub(fleet, hub, tmp_path / "export")
    values = result.directory / "values" / "02-prod2.values.yaml"
    data = yaml.safe_load(values.read_text())
    data.setdefault("extras", {})["message"] = "changed after export"
    values.write_text(yaml.safe_dump(data))
    round_trip = verify_export(fleet, hub, result.directory, sops=None)
    assert round_trip.status == "different"
    fields = {(d.resource.split("/")[0], d.field) for d in round_trip.differences}
    assert ("ConfigMap", "data.message") in fields
    with pytest.raises(RoundTripError) as raised:
        round_trip.raise_for_differences()
    assert "data.message" in str(raised.value)
    assert raised.value.exit_code == 1


def test_the_readme_command_is_what_is_rendered(fleet: Fleet, tmp_path: Path) -> None:
    """Dropping one --values line from the README changes the export's render."""
    hub = fleet.cluster("alpha").hub("staging")
    result = export_hub(fleet, hub, tmp_path / "export")
    readme = result.directory / README
    line = "--values values/02-staging.values.yaml \\\n  "
    assert line in readme.read_text()
    readme.write_text(readme.read_text().replace(line, ""))
    round_trip = verify_export(fleet, hub, result.directory, sops=None)
    assert round_trip.status == "different"
    assert ("ConfigMap/staging/staging-extras", "data.message") in {
        (d.resource, d.field) for d in round_trip.differences
    }


def test_secrets_are_compared_decrypted_when_a_key_is_available(
    fleet: Fleet, tmp_path: Path
) -> None:
    """Another hub's (validly encrypted) secrets in the export: same structure, so
    placeholders agree, but the decrypted values differ and the round trip says so."""
    hub = fleet.cluster("alpha").hub("prod1")
    result = export_hub(fleet, hub, tmp_path / "export")
    other = fleet.abspath("config/clusters/alpha/enc-staging.secret.values.yaml").read_bytes()
    (result.directory / "values" / "03-enc-prod1.secret.values.yaml").write_bytes(other)
    assert verify_export(fleet, hub, result.directory, sops=None).status == "same"
    redactor = Redactor()
    keyed = verify_export(fleet, hub, result.directory, sops=make_sops(redactor, fleet.root))
    assert keyed.status == "different"
    assert keyed.differences
    assert all(d.resource.startswith("Secret/") for d in keyed.differences)
    # Secret values in differences are scrubbed by the redactor before printing.
    for difference in keyed.differences:
        assert MARKER not in redactor.scrub(difference.render())


def _remote_hub_fleet(fleet_copy: Path) -> Fleet:
    return _add_hub(
        fleet_copy,
        "beta",
        "- name: remote\n"
        "  domain: remote.beta.example.org\n"
        "  helm_chart: jupyterhub\n"
        "  helm_chart_values_files:\n"
        "  - common.values.yaml\n"
        "  - remote.values.yaml\n",
        {"remote.values.yaml": "ingress:\n  hosts: [remote.beta.example.org]\n"},
    )


def test_remote_chart_is_exported_as_repository_and_version(
    fleet_copy: Path, tmp_path: Path
) -> None:
    copy = _remote_hub_fleet(fleet_copy)
    hub = copy.cluster("beta").hub("remote")
    result = export_hub(copy, hub, tmp_path / "export")
    assert not (result.directory / "chart").exists()
    command = parse_command((result.directory / README).read_text())
    assert command.chart == "jupyterhub"
    assert command.repository == "https://hub.jupyter.org/helm-chart/"
    assert command.version == "4.2.0"
    assert (
        "helm upgrade --install remote jupyterhub \\\n"
        "  --repo https://hub.jupyter.org/helm-chart/ \\\n"
        "  --version 4.2.0" in (result.directory / README).read_text()
    )
    round_trip = verify_export(copy, hub, result.directory, sops=None)
    assert round_trip.status == "skipped"
    assert "not in the chart cache" in round_trip.reason
    assert round_trip.ok


def test_remote_chart_in_the_cache_round_trips(fleet_copy: Path, tmp_path: Path) -> None:
    import shutil

    copy = _remote_hub_fleet(fleet_copy)
    hub = copy.cluster("beta").hub("remote")
    source = copy.hub_chart_source(hub)
    _archive, expanded = cached_chart_paths(source)
    # Seed the (test's private) cache with a chart standing in for jupyterhub 4.2.0.
    shutil.copytree(FIXTURE_FLEET / "helm-charts" / "testhub", expanded, symlinks=False)
    assert resolve_chart(
        ChartSource("jupyterhub", None, source.repository, "4.2.0"), allow_pull=False
    )
    result = export_hub(copy, hub, tmp_path / "export")
    round_trip = verify_export(copy, hub, result.directory, sops=None)
    assert round_trip.status == "same", round_trip.reason or round_trip.differences


def _example_hubs() -> list[tuple[str, str]]:
    if not (EXAMPLE_FLEET / "config" / "clusters").is_dir():
        return []
    loaded = load_fleet(EXAMPLE_FLEET)
    if loaded.errors:
        return []
    return [(hub.cluster, hub.name) for hub in loaded.fleet.hubs()]


EXAMPLE_HUBS = _example_hubs()


@pytest.mark.skipif(not EXAMPLE_HUBS, reason="examples/fleet is absent or does not load yet")
@pytest.mark.parametrize(
    ("cluster", "name"), EXAMPLE_HUBS, ids=[f"{c}/{h}" for c, h in EXAMPLE_HUBS]
)
def test_every_example_fleet_hub_exports_and_round_trips_when_its_chart_is_offline(
    tmp_path: Path, cluster: str, name: str
) -> None:
    example = load_fleet(EXAMPLE_FLEET).fleet_or_raise()
    hub = example.cluster(cluster).hub(name)
    result = export_hub(example, hub, tmp_path / "export")
    assert (result.directory / README).is_file()
    round_trip = verify_export(example, hub, result.directory, sops=None)
    if example.hub_chart_source(hub).local_dir is not None:
        assert round_trip.status == "same", [d.render() for d in round_trip.differences]
    else:  # the test's chart cache is empty: no network, so a clear skip
        assert round_trip.status in ("same", "skipped")
        if round_trip.status == "skipped":
            assert "chart cache" in round_trip.reason
