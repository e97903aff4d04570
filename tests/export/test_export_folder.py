"""The export folder: layout, README, determinism, refusal to overwrite."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from hubfleet.config.fleet import Fleet
from hubfleet.config.load import load_fleet
from hubfleet.export.build import export_hub
from hubfleet.export.layout import ExportError, parse_command


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_export_is_deterministic(fleet: Fleet, tmp_path: Path) -> None:
    hub = fleet.cluster("beta").hub("research")
    first = export_hub(fleet, hub, tmp_path / "one").directory
    second = export_hub(fleet, hub, tmp_path / "two").directory
    assert _tree(first) == _tree(second)


def test_defaults_file_comes_first_and_says_hubfleet_adds_nothing(
    fleet: Fleet, tmp_path: Path
) -> None:
    hub = fleet.cluster("gamma").hub("prod")
    result = export_hub(fleet, hub, tmp_path / "export")
    assert result.command.values[0].path == "values/00-hubfleet-defaults.values.yaml"
    text = (result.directory / result.command.values[0].path).read_text()
    assert yaml.safe_load(text) == {}
    assert "adds no values of its own" in text


def test_readme_names_what_the_hub_depended_on(fleet: Fleet, tmp_path: Path) -> None:
    hub = fleet.cluster("alpha").hub("staging")
    readme = (export_hub(fleet, hub, tmp_path / "export").directory / "README.md").read_text()
    assert "### Cluster `alpha` (provider `gcp`)" in readme
    assert "`gcp.project`: `alpha-project`" in readme
    assert "config/clusters/alpha/enc-deployer-credentials.secret.json" in readme
    assert "`config/clusters/alpha/support.values.yaml`: `clusterName`, `prometheus`" in readme
    assert "cert-manager" in readme and "ingress controller" in readme
    assert "`staging.alpha.example.org`" in readme
    assert "### Cloud identities" in readme


def test_readme_names_cloud_identities_in_values(fleet_copy: Path, tmp_path: Path) -> None:
    values = fleet_copy / "config" / "clusters" / "beta" / "research.values.yaml"
    data = yaml.safe_load(values.read_text())
    data.setdefault("hub", {}).setdefault("extraEnv", {})["ROLE"] = (
        "arn:aws:iam::123456789012:role/research-hub"
    )
    values.write_text(yaml.safe_dump(data))
    copy = load_fleet(fleet_copy).fleet_or_raise()
    readme = (
        export_hub(copy, copy.cluster("beta").hub("research"), tmp_path / "e").directory
        / "README.md"
    ).read_text()
    assert "arn:aws:iam::123456789012:role/research-hub" in readme
    assert "provider `aws`" in readme


def test_readme_command_parses_back(fleet: Fleet, tmp_path: Path) -> None:
    hub = fleet.cluster("beta").hub("staging")
    result = export_hub(fleet, hub, tmp_path / "export")
    parsed = parse_command((result.directory / "README.md").read_text())
    assert parsed == result.command


def test_export_refuses_a_folder_with_files(fleet: Fleet, tmp_path: Path) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="not an empty folder"):
        export_hub(fleet, fleet.cluster("alpha").hub("prod2"), target)
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    export_hub(fleet, fleet.cluster("alpha").hub("prod2"), empty)
    assert (empty / "README.md").is_file()


def test_local_chart_is_copied_whole_with_dependencies(fleet: Fleet, tmp_path: Path) -> None:
    hub = fleet.cluster("alpha").hub("prod2")
    result = export_hub(fleet, hub, tmp_path / "export")
    chart = result.directory / "chart"
    assert (chart / "charts" / "extras" / "Chart.yaml").is_file()
    assert not any(p.is_symlink() for p in chart.rglob("*"))
    # The export stands alone: removing the fleet does not matter.
    moved = tmp_path / "moved"
    shutil.copytree(result.directory, moved)
    assert (moved / "chart" / "values.yaml").is_file()


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fleet"


def test_readme_says_the_support_release_made_the_hubs_service_account(tmp_path: Path) -> None:
    example = load_fleet(EXAMPLE).fleet_or_raise()
    hub = example.cluster("research-aws").hub("research")
    readme = (export_hub(example, hub, tmp_path / "e").directory / "README.md").read_text()
    assert "run as the Kubernetes service account `user-sa`" in readme
    assert "config/clusters/research-aws/support.terraform.values.yaml" in readme
    assert "kubectl create serviceaccount user-sa --namespace NAMESPACE" in readme
    assert "arn:aws:iam::111122223333:role/hubfleet-research-aws-research" in readme
    other = example.cluster("research-aws").hub("teaching")
    text = (export_hub(example, other, tmp_path / "t").directory / "README.md").read_text()
    assert "service account `user-sa`" not in text
