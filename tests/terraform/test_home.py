"""Home storage (terraform.home): the block's checks, the module input, the hub's
generated home-volume values (rendered with the real z2jh chart, whose own
jupyterhub_config.py turns them into the user pod's volume and mount), the support
release's volume and claim, and the plan summary of a storage replacement."""

from __future__ import annotations

import base64
import json
import re
import tarfile
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

from hubfleet.base.errors import ConfigError
from hubfleet.config.load import load_fleet
from hubfleet.helm.engine import render as render_chart
from hubfleet.release.pipeline import hub_release
from hubfleet.release.values import ReleaseValues
from hubfleet.terraform.inputs import compute
from hubfleet.terraform.scaffold import HOME_TEMPLATE, support_template
from hubfleet.terraform.summary import summarize
from hubfleet.terraform.values import render, stale, support_values_file, values_file
from tests.conftest import SHARED_CHARTS
from tests.terraform.conftest import copy_example, line_of

DATA = Path(__file__).with_name("data")
AWS_HOME = """\
  home:
    kind: efs
    size_gb: 512
    directories:
      research: research-homes
    backups:
      every_hours: 24
      retention_days: 14
"""
GCP_HOME = """\
  home:
    kind: filestore
    size_gb: 2048
    tier: BASIC_SSD
"""


def with_block(root: Path, cluster: str, text: str) -> Path:
    """`text` added to the cluster's terraform: block (before hub_access)."""
    path = root / "config" / "clusters" / cluster / "cluster.yaml"
    content = path.read_text()
    assert content.count("  hub_access:\n") == 1
    path.write_text(content.replace("  hub_access:\n", text + "  hub_access:\n"))
    return path


def problems_of(root: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_fleet(root).fleet_or_raise()
    return [p.render() for p in caught.value.problems]


@pytest.fixture
def aws_home(tmp_path: Path) -> Path:
    root = copy_example(tmp_path)
    with_block(root, "research-aws", AWS_HOME)
    return root


def test_the_module_input_names_the_storage_each_hubs_directory_and_the_backups(
    aws_home: Path,
) -> None:
    cluster = load_fleet(aws_home).fleet_or_raise().cluster("research-aws")
    assert compute(cluster).variables["home"] == {
        "kind": "efs",
        "name": "hubfleet-research-aws-home",
        "account_name": None,
        "size_gb": 512,
        "tier": None,
        "directories": {"research": "research-homes"},
        "backups": {
            "name": "hubfleet-research-aws-home",
            "every_hours": 24,
            "start_hour": 3,
            "retention_days": 14,
        },
    }


def test_without_home_the_module_gets_no_home_input(tmp_path: Path) -> None:
    cluster = load_fleet(copy_example(tmp_path)).fleet_or_raise().cluster("research-aws")
    assert "home" not in compute(cluster).variables  # an older scaffold need not declare it


@pytest.mark.parametrize(
    ("cluster", "text", "key", "message"),
    [
        (
            "research-aws",
            "  home:\n    kind: filestore\n",
            "kind: filestore",
            "terraform.home.kind 'filestore' is not built by the aws module",
        ),
        (
            "research-aws",
            "  home:\n    kind: efs\n    directories:\n      teaching: t\n",
            "teaching: t",
            "terraform.home.directories names 'teaching', which is not in hub_access",
        ),
        (
            "pilot-gcp",
            "  home:\n    kind: filestore\n    backups: {}\n",
            "backups: {}",
            "Terraform has no scheduled Filestore backup",
        ),
        (
            "research-aws",
            "  names:\n    buckets:\n      nothere: leap-scratch\n",
            "nothere: leap-scratch",
            "terraform.names.buckets names 'nothere', which the block does not have",
        ),
    ],
)
def test_a_home_or_names_mistake_is_an_error_at_its_line(
    tmp_path: Path, cluster: str, text: str, key: str, message: str
) -> None:
    root = copy_example(tmp_path)
    path = with_block(root, cluster, text)
    found = problems_of(root)
    where = f"config/clusters/{cluster}/cluster.yaml:{line_of(path, key)}:"
    assert any(p.startswith(where) and message in p for p in found), found


def test_two_hubs_never_share_a_home_directory(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    path = with_block(
        root, "pilot-gcp", "  home:\n    kind: nfs-disk\n    directories:\n      research: x\n"
    )
    text = path.read_text()
    hubs = yaml.safe_load(text)["terraform"]["hub_access"]
    other = next(h["name"] for h in yaml.safe_load(text)["hubs"] if h["name"] not in hubs)
    path.write_text(
        text.replace("      research: x\n", f"      research: x\n      {other}: x\n").replace(
            "  hub_access:\n", f"  hub_access:\n    {other}: {{}}\n"
        )
    )
    found = problems_of(root)
    assert any("would share the home directory 'x'" in p for p in found), found


def test_external_buckets_are_refused_on_azure(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    path = root / "config" / "clusters" / "teaching-azure" / "cluster.yaml"
    text = path.read_text()
    hub = next(iter(yaml.safe_load(text)["terraform"]["hub_access"]))
    path.write_text(
        text.replace(
            f"    {hub}:\n",
            f"    {hub}:\n      external_buckets:\n        era5: {{name: era5-data}}\n",
            1,
        )
    )
    found = problems_of(root)
    assert any("external_buckets: the azure module grants" in p for p in found), found


def _outputs_with_home(provider: str, hubs: list[str]) -> dict[str, Any]:
    if provider == "aws":
        volume: dict[str, Any] = {
            "csi": {"driver": "efs.csi.aws.com", "volumeHandle": "fs-0123::fsap-0456"}
        }
    else:
        volume = {"nfs": {"server": "10.1.2.3", "path": "/homes"}}
    return {"home_volumes": {"sensitive": False, "value": {hub: volume for hub in hubs}}}


def test_the_hub_values_mount_its_home_and_the_support_file_holds_its_volume(
    aws_home: Path,
) -> None:
    fleet = load_fleet(aws_home).fleet_or_raise()
    cluster = fleet.cluster("research-aws")
    files = render(fleet, cluster, compute(cluster), _outputs_with_home("aws", ["research"]))
    user = yaml.safe_load(files[values_file(cluster, "research")])["singleuser"]
    # on EFS the hub's access point is rooted at its directory: each user a folder of it
    assert user["storage"] == {
        "type": "static",
        "static": {"pvcName": "home-nfs", "subPath": "{username}"},
    }
    assert user["extraLabels"] == {"hubfleet/hub": "research"}
    support = yaml.safe_load(files[support_values_file(cluster)])
    assert support["hubHomeVolumes"] == [
        {
            "namespace": "research",
            "name": "home-nfs",
            "capacity": "512Gi",
            "labels": {"hubfleet/hub": "research"},
            "csi": {"driver": "efs.csi.aws.com", "volumeHandle": "fs-0123::fsap-0456"},
        }
    ]


def test_on_nfs_each_hub_is_a_folder_of_the_share(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    with_block(root, "pilot-gcp", GCP_HOME)
    fleet = load_fleet(root).fleet_or_raise()
    cluster = fleet.cluster("pilot-gcp")
    hubs = sorted(compute(cluster).names.hubs)
    files = render(fleet, cluster, compute(cluster), _outputs_with_home("gcp", hubs))
    for hub in hubs:
        user = yaml.safe_load(files[values_file(cluster, hub)])["singleuser"]
        assert user["storage"]["static"]["subPath"] == f"{hub}/{{username}}"
    [volume, *_] = yaml.safe_load(files[support_values_file(cluster)])["hubHomeVolumes"]
    assert volume["nfs"] == {"server": "10.1.2.3", "path": "/homes"}
    assert volume["capacity"] == "2048Gi"


def test_a_hub_terraform_has_no_volume_for_gets_no_claim(aws_home: Path) -> None:
    fleet = load_fleet(aws_home).fleet_or_raise()
    cluster = fleet.cluster("research-aws")
    files = render(fleet, cluster, compute(cluster), {})
    assert "hubHomeVolumes" not in yaml.safe_load(files[support_values_file(cluster)])


def test_a_changed_home_directory_makes_the_generated_file_stale(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    cluster_yaml = with_block(root, "pilot-gcp", GCP_HOME)
    fleet = load_fleet(root).fleet_or_raise()
    cluster = fleet.cluster("pilot-gcp")
    for path, text in render(fleet, cluster, compute(cluster), {}).items():
        (root / path).write_text(text)
    assert stale(fleet, cluster, compute(cluster)) == []
    hub = sorted(compute(cluster).names.hubs)[0]
    cluster_yaml.write_text(
        cluster_yaml.read_text().replace(
            "    tier: BASIC_SSD\n", f"    tier: BASIC_SSD\n    directories:\n      {hub}: moved\n"
        )
    )
    fleet = load_fleet(root).fleet_or_raise()
    cluster = fleet.cluster("pilot-gcp")
    [problem] = stale(fleet, cluster, compute(cluster))
    assert problem.path == values_file(cluster, hub)
    assert "singleuser.storage is stale" in problem.message
    lines = (root / problem.path).read_text().splitlines()
    assert lines[problem.line - 1].strip() == "storage:"


def _docs(manifests: dict[str, str]) -> list[dict[str, Any]]:
    return [
        doc
        for text in manifests.values()
        for doc in yaml.safe_load_all(text)
        if isinstance(doc, dict)
    ]


def _home_chart(tmp_path: Path) -> Path:
    chart = tmp_path / "support"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: support\nversion: 0.1.0\n")
    (chart / "templates" / HOME_TEMPLATE).write_text(support_template(HOME_TEMPLATE))
    return chart


@pytest.mark.parametrize("kind", ["csi", "nfs"])
def test_the_support_template_makes_a_volume_and_the_claim_z2jh_names(
    tmp_path: Path, kind: str
) -> None:
    source = (
        {"csi": {"driver": "efs.csi.aws.com", "volumeHandle": "fs-1::fsap-2"}}
        if kind == "csi"
        else {"nfs": {"server": "10.1.2.3", "path": "/homes"}}
    )
    entry = {"namespace": "research", "name": "home-nfs", "capacity": "512Gi", **source}
    manifests = render_chart(
        _home_chart(tmp_path), {"hubHomeVolumes": [entry]}, release="support", namespace="support"
    )
    docs = _docs(manifests)
    [volume] = [d for d in docs if d["kind"] == "PersistentVolume"]
    [claim] = [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
    assert volume["metadata"]["name"] == "hubfleet-research-home"
    assert volume["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert volume["spec"]["claimRef"] == {"namespace": "research", "name": "home-nfs"}
    assert volume["spec"][kind] == source[kind]
    assert ({"csi", "nfs"} - {kind}).isdisjoint(volume["spec"])
    assert claim["metadata"] == {
        "name": "home-nfs",
        "namespace": "research",
        "labels": {"app.kubernetes.io/managed-by": "Helm"},
    }
    assert claim["spec"]["volumeName"] == "hubfleet-research-home"
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"] == volume["spec"]["accessModes"]


def test_no_home_renders_no_volume(tmp_path: Path) -> None:
    assert _docs(render_chart(_home_chart(tmp_path), {}, release="s", namespace="s")) == []


# --- the real chart ----------------------------------------------------------------


def _chart_storage_code() -> str:
    """The part of the real z2jh chart's jupyterhub_config.py that makes the user pod's
    volumes and mounts (from `volumes = {}` to `c.KubeSpawner.volume_mounts = ...`)."""
    [archive] = sorted(SHARED_CHARTS.glob("jupyterhub-4.3.*.tgz"))[-1:]
    with tarfile.open(archive) as tar:
        member = tar.extractfile("jupyterhub/files/hub/jupyterhub_config.py")
        assert member is not None
        code = member.read().decode()
    start = code.index("volumes = {}\n")
    end = code.index("c.KubeSpawner.volume_mounts = volume_mounts\n")
    return code[start:end] + "c.KubeSpawner.volume_mounts = volume_mounts\n"


def _spawner_volumes(values: dict[str, Any]) -> types.SimpleNamespace:
    """Run the chart's own storage code with `values` (the hub Secret's values.yaml)."""

    def get_config(key: str, default: Any = None) -> Any:
        found: Any = values
        for part in key.split("."):
            if not isinstance(found, dict) or part not in found:
                return default
            found = found[part]
        return found

    spawner = types.SimpleNamespace()
    scope = {
        "get_config": get_config,
        "get_name": lambda name: f"hub-{name}",
        "set_config_if_not_none": lambda *args: None,
        "c": types.SimpleNamespace(KubeSpawner=spawner),
    }
    exec(compile(_chart_storage_code(), "jupyterhub_config.py", "exec"), scope)
    return spawner


def test_the_real_chart_gives_the_user_pod_a_home_volume_and_mount(
    aws_home: Path, real_chart_cache: Path
) -> None:
    fleet = load_fleet(aws_home).fleet_or_raise()
    cluster = fleet.cluster("research-aws")
    for path, text in render(fleet, cluster, compute(cluster), {}).items():
        (aws_home / path).write_text(text)
    fleet = load_fleet(aws_home).fleet_or_raise()
    release = hub_release(fleet, fleet.cluster("research-aws").hub("research"))
    manifests = ReleaseValues(fleet, sops=None).render_release(release)
    docs = _docs(manifests)
    # z2jh hands singleuser's values to the hub (and so to KubeSpawner) in its Secret
    [secret] = [d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == "hub"]
    values = yaml.safe_load(base64.b64decode(secret["data"]["values.yaml"]))
    assert values["singleuser"]["storage"]["type"] == "static"
    assert values["singleuser"]["extraLabels"]["hubfleet/hub"] == "research"
    spawner = _spawner_volumes(values)
    assert spawner.volumes["home"] == {
        "name": "home",
        "persistentVolumeClaim": {"claimName": "home-nfs"},
    }
    assert spawner.volume_mounts["home"] == {
        "mountPath": "/home/jovyan",
        "name": "home",
        "subPath": "{username}",
    }


def test_the_chart_code_sees_no_home_without_it(real_chart_cache: Path) -> None:
    spawner = _spawner_volumes({"singleuser": {"storage": {"type": "none"}}})
    assert spawner.volumes == {} and spawner.volume_mounts == {}


# --- the plan summary ----------------------------------------------------------------


def test_a_storage_replacement_is_flagged_and_growing_is_not() -> None:
    summary = summarize("pilot-gcp", (DATA / "home-plan.show.json").read_text())
    flagged = {c.address: c.because for c in summary.flagged}
    assert flagged == {
        'google_filestore_instance.home["home"]': "tier",
        'aws_backup_vault.home["home"]': "name",
    }
    updates = {c.address for c in summary.changes if c.action == "update"}
    assert 'google_compute_disk.home["home"]' in updates  # size_gb grown: in place
    assert summary.destructive
    markdown = summary.markdown()
    assert re.search(
        r"WARNING\*\*: replace of `google_filestore_instance.home\[\"home\"\]`", markdown
    )
    assert "forced by `tier`" in markdown
    data = summary.to_json()
    assert {"because": "tier"}.items() <= data["flagged"][1].items()
    assert json.dumps(data)  # serialisable


def test_a_generated_file_without_the_hubs_cost_label_is_stale(aws_home: Path) -> None:
    fleet = load_fleet(aws_home).fleet_or_raise()
    cluster = fleet.cluster("research-aws")
    for path, text in render(fleet, cluster, compute(cluster), {}).items():
        (aws_home / path).write_text(text)
    path = aws_home / values_file(cluster, "research")
    path.write_text(path.read_text().replace("hubfleet/hub: research", "hubfleet/hub: other"))
    [problem] = stale(fleet, cluster, compute(cluster))
    assert "singleuser.extraLabels is stale" in problem.message
    assert path.read_text().splitlines()[problem.line - 1].strip() == "extraLabels:"


def test_scaffold_writes_the_home_template_into_the_support_chart(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    root = copy_example(tmp_path)
    target = root / "helm-charts" / "support" / "templates" / HOME_TEMPLATE
    assert not target.exists()
    result = run_cli("--repo", root, "terraform", "scaffold", "aws", "--force")
    assert result.exit_code == 0, result.output
    assert target.read_text() == support_template(HOME_TEMPLATE)
    assert f"wrote helm-charts/support/templates/{HOME_TEMPLATE}" in result.stdout
    assert (root / "terraform" / "aws" / "home.tf").is_file()
