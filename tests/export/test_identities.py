"""The export's README lists the cloud identities the hub's RENDERED manifests carry
(issue 24, point 5): from the chart's values.jsonnet too, with where each comes from
and what a community must do without it; never a decrypted value; and when the hub
cannot be rendered, it says so instead of "names no cloud identity"."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from hubfleet.config.load import load_fleet
from hubfleet.export.build import export_hub
from hubfleet.export.readme import rendered_identities
from hubfleet.secrets.sops import encrypt

from .conftest import EXAMPLE_FLEET, FLEET_KEY, MARKER

GSA = "gcp-one-staging@gcp-one-project.iam.gserviceaccount.com"
ROLE = "arn:aws:iam::123456789012:role/aws-two-eks-dask-prod"


def _readme(root: Path, cluster: str, hub: str, folder: Path) -> tuple[str, dict[str, str]]:
    fleet = load_fleet(root).fleet_or_raise()
    result = export_hub(fleet, fleet.cluster(cluster).hub(hub), folder)
    exported = {f.source: f.path for f in result.files if f.source}
    return (result.directory / "README.md").read_text(), exported


def _identities_section(readme: str) -> str:
    return readme.split("### Cloud identities", 1)[1].split("\n## ", 1)[0]


def test_an_identity_from_the_charts_jsonnet_is_listed(
    layout: Path, tmp_path: Path, real_chart_cache: Path
) -> None:
    readme, exported = _readme(layout, "gcp-one", "staging", tmp_path / "export")
    section = _identities_section(readme)
    jsonnet = "helm-charts/basehub/values.jsonnet"
    assert (
        f"- GCP service account `{GSA}`: annotation `iam.gke.io/gcp-service-account` of "
        f"ServiceAccount `user-sa`; set in `{jsonnet}` (in this folder `{exported[jsonnet]}`) "
        "at `userServiceAccount.annotations.iam.gke.io/gcp-service-account`"
    ) in section
    assert "name no cloud identity" not in readme
    # what a community must do without it
    assert "create a Google service account in your project, grant it the buckets" in section
    assert "roles/iam.workloadIdentityUser" in section
    assert MARKER not in readme


def test_a_daskhub_identity_nested_under_basehub_is_listed(
    layout: Path, tmp_path: Path, real_dask_chart_cache: Path
) -> None:
    readme, _ = _readme(layout, "aws-two", "dask-prod", tmp_path / "export")
    section = _identities_section(readme)
    assert f"- AWS IAM role `{ROLE}`: annotation `eks.amazonaws.com/role-arn`" in section
    assert "set in `helm-charts/daskhub/values.jsonnet`" in section
    assert "at `basehub.userServiceAccount.annotations.eks.amazonaws.com/role-arn`" in section
    assert "create an IAM role whose trust policy admits your EKS cluster's OIDC" in section


def test_azure_annotation_and_the_user_pods_label(
    layout: Path, tmp_path: Path, real_chart_cache: Path
) -> None:
    path = layout / "config" / "clusters" / "azure-three" / "staging.values.yaml"
    data = yaml.safe_load(path.read_text())
    client_id = "6f0d5b4e-0000-4000-8000-0000000000aa"
    data["userServiceAccount"] = {
        "enabled": True,
        "annotations": {"azure.workload.identity/client-id": client_id},
    }
    data["jupyterhub"]["singleuser"]["extraLabels"] = {"azure.workload.identity/use": "true"}
    path.write_text(yaml.safe_dump(data))
    readme, _ = _readme(layout, "azure-three", "staging", tmp_path / "export")
    section = _identities_section(readme)
    where = "set in `config/clusters/azure-three/staging.values.yaml`"
    assert (
        f"- Azure managed identity `{client_id}`: annotation `azure.workload.identity/client-id`"
        f" of ServiceAccount `user-sa`; {where}"
    ) in section
    assert (
        "- Azure workload identity `true`: label `azure.workload.identity/use` of the user pods "
        f"(`jupyterhub.singleuser.extraLabels.azure.workload.identity/use`); {where}"
    ) in section
    assert "create a user-assigned managed identity with a federated credential" in section


def test_a_hub_without_identity_says_so_from_its_render(
    layout: Path, tmp_path: Path, real_chart_cache: Path
) -> None:
    readme, _ = _readme(layout, "azure-three", "staging", tmp_path / "export")
    assert "The hub's rendered manifests carry no cloud identity" in readme


def test_an_identity_from_an_encrypted_file_is_never_shown(
    layout: Path, tmp_path: Path, real_chart_cache: Path
) -> None:
    secret_role = f"arn:aws:iam::999999999999:role/hidden-{MARKER}"
    relative = "config/clusters/gcp-one/enc-staging.secret.values.yaml"
    public = FLEET_KEY.read_text().splitlines()[1].split(": ")[1]
    plain = yaml.safe_dump(
        {"userServiceAccount": {"annotations": {"eks.amazonaws.com/role-arn": secret_role}}}
    )
    (layout / relative).write_bytes(
        encrypt(plain.encode(), filename=relative, cwd=layout, age_recipients=[public])
    )
    readme, _ = _readme(layout, "gcp-one", "staging", tmp_path / "export")
    assert secret_role not in readme and "hidden-" not in readme
    section = _identities_section(readme)
    assert (
        "- AWS IAM role `<secret:userServiceAccount.annotations.eks.amazonaws.com/role-arn>`"
        in section
    )
    assert f"set in `{relative}`" in section


def test_without_the_chart_no_render_and_no_pull(layout: Path) -> None:
    # the export tests' empty chart cache: basehub's z2jh dependency is not at hand, and
    # the README's render pulls nothing (it reads the cache only)
    fleet = load_fleet(layout).fleet_or_raise()
    found = rendered_identities(fleet, fleet.cluster("gcp-one").hub("research"))
    assert found.identities == () and found.error is not None
    assert "jupyterhub" in found.error


def test_without_a_render_the_readme_says_so(tmp_path: Path) -> None:
    # a hub of the remote z2jh chart exports without it; its README says what it lacks
    root = tmp_path / "example"
    shutil.copytree(EXAMPLE_FLEET, root)
    readme, _ = _readme(root, "pilot-gcp", "research", tmp_path / "export")
    section = _identities_section(readme)
    assert "The hub could not be rendered here (" in section
    assert "the cloud identities of its manifests are not known" in section
    assert "`hubfleet render pilot-gcp research`" in section
    # what the plain values files say is still there: the support-made account
    assert "`hubServiceAccounts` in `config/clusters/pilot-gcp/support.terraform.values.yaml`" in (
        section
    )
