"""hubfleet.helm.jsonnet and the values pipeline's jsonnet hook (hubfleet.release.pipeline)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hubfleet.base.errors import ChartError, ConfigError
from hubfleet.base.redact import Redactor
from hubfleet.config.load import load_fleet
from hubfleet.helm.jsonnet import (
    JsonnetFacts,
    jsonnet_dependencies,
    render_jsonnet,
    render_jsonnet_data,
)
from hubfleet.release.pipeline import hub_release, support_release, values_bytes, values_documents
from hubfleet.secrets.sops import Sops

LAYOUT = Path(__file__).parents[1] / "fixtures" / "layout2i2c" / "fleet"
SHARED_CHARTS = Path(__file__).parents[2] / ".." / "shared" / "charts"
BASEHUB_JSONNET = "helm-charts/basehub/values.jsonnet"
DASKHUB_JSONNET = "helm-charts/daskhub/values.jsonnet"


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """A writable copy of the layout fixture fleet, links kept as links."""
    target = tmp_path / "fleet"
    shutil.copytree(LAYOUT, target, symlinks=True)
    return target


def facts_vars(provider: str, account: str | None, prefix: str = "VARS_2I2C_") -> dict[str, str]:
    facts = JsonnetFacts("c1", provider, account, hub_name="h1", hub_domain="h1.example.org")
    return facts.ext_vars(prefix)


def test_ext_vars_names_and_the_missing_account() -> None:
    assert facts_vars("azure", None) == {
        "VARS_2I2C_CLUSTER_NAME": "c1",
        "VARS_2I2C_HUB_NAME": "h1",
        "VARS_2I2C_HUB_DOMAIN": "h1.example.org",
        "VARS_2I2C_PROVIDER": "azure",
        "VARS_2I2C_ACCOUNT_ID": "None",
    }
    support = JsonnetFacts("c1", "gcp", "p1").ext_vars("X_")
    assert support == {"X_CLUSTER_NAME": "c1", "X_PROVIDER": "gcp", "X_ACCOUNT_ID": "p1"}


def test_chart_values_jsonnet_with_ext_vars_and_an_import() -> None:
    gcp = render_jsonnet_data(LAYOUT, BASEHUB_JSONNET, facts_vars("gcp", "proj"))
    assert gcp["userServiceAccount"] == {
        "enabled": True,
        "annotations": {"iam.gke.io/gcp-service-account": "c1-h1@proj.iam.gserviceaccount.com"},
    }
    assert gcp["jupyterhub"]["ingress"] == {"hosts": ["h1.example.org"]}
    aws = render_jsonnet_data(LAYOUT, BASEHUB_JSONNET, facts_vars("aws", "1234"))
    assert aws["userServiceAccount"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::1234:role/c1-h1"
    }


def test_linked_values_jsonnet_sees_its_own_path() -> None:
    """daskhub's values.jsonnet links to basehub's; evaluated through the link, the file
    knows it is daskhub's (std.thisFile is not resolved) and nests under basehub."""
    assert (LAYOUT / DASKHUB_JSONNET).is_symlink()
    data = render_jsonnet_data(LAYOUT, DASKHUB_JSONNET, facts_vars("gcp", "proj"))
    assert list(data) == ["basehub"]
    assert data["basehub"]["userServiceAccount"]["enabled"] is True


def test_import_path_is_the_files_folder(tmp_path: Path) -> None:
    (tmp_path / "chart" / "lib").mkdir(parents=True)
    (tmp_path / "chart" / "values.jsonnet").write_text("import 'lib/a.libsonnet'\n")
    # a.libsonnet imports b.libsonnet, which is not beside it but on the import path.
    (tmp_path / "chart" / "lib" / "a.libsonnet").write_text("{ a: import 'b.libsonnet' }\n")
    (tmp_path / "chart" / "b.libsonnet").write_text("{ b: importstr 'note.txt' }\n")
    (tmp_path / "chart" / "note.txt").write_text("hello")
    result = json.loads(render_jsonnet(tmp_path, "chart/values.jsonnet", {}))
    assert result == {"a": {"b": "hello"}}
    assert sorted(jsonnet_dependencies(tmp_path, "chart/values.jsonnet")) == [
        "chart/b.libsonnet",
        "chart/lib/a.libsonnet",
        "chart/note.txt",
        "chart/values.jsonnet",
    ]


def test_dependencies_of_a_link_include_its_target() -> None:
    assert sorted(jsonnet_dependencies(LAYOUT, DASKHUB_JSONNET)) == [
        "helm-charts/basehub/lib.libsonnet",
        BASEHUB_JSONNET,
        DASKHUB_JSONNET,
    ]


def test_error_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "a.jsonnet").write_text("local x = 1;\n{\n  y: std.extVar('NOPE'),\n}\n")
    with pytest.raises(ConfigError) as caught:
        render_jsonnet(tmp_path, "a.jsonnet", {})
    problem = caught.value.problems[0]
    assert (problem.path, problem.line) == ("a.jsonnet", 3)
    assert "Undefined external variable: NOPE" in problem.message
    assert str(tmp_path) not in problem.message


def test_error_in_an_imported_file_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "a.jsonnet").write_text("import 'lib.libsonnet'\n")
    (tmp_path / "lib.libsonnet").write_text("{\n  a: 1,\n  b: error 'broken here',\n}\n")
    with pytest.raises(ConfigError) as caught:
        render_jsonnet(tmp_path, "a.jsonnet", {})
    problem = caught.value.problems[0]
    assert (problem.path, problem.line) == ("lib.libsonnet", 3)
    assert "broken here" in problem.message


def test_missing_import_names_the_importing_line(tmp_path: Path) -> None:
    (tmp_path / "a.jsonnet").write_text("local x = 1;\n{\n  y: import 'nope.libsonnet',\n}\n")
    with pytest.raises(ConfigError, match=r"'nope\.libsonnet': no such file") as caught:
        render_jsonnet(tmp_path, "a.jsonnet", {})
    assert (caught.value.problems[0].path, caught.value.problems[0].line) == ("a.jsonnet", 3)


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "a.jsonnet").write_text("{\n  a: 1,\n  b: ,\n}\n")
    with pytest.raises(ConfigError) as caught:
        render_jsonnet(tmp_path, "a.jsonnet", {})
    assert (caught.value.problems[0].path, caught.value.problems[0].line) == ("a.jsonnet", 3)


def test_bounded_stack_and_no_reading_outside_the_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "deep.jsonnet").write_text("local f(n) = f(n + 1) + 1;\nf(0)\n")
    with pytest.raises(ConfigError, match="max stack frames"):
        render_jsonnet(repo, "deep.jsonnet", {})
    (tmp_path / "outside.libsonnet").write_text("{ stolen: true }")
    (repo / "escape.jsonnet").write_text("import '../outside.libsonnet'\n")
    with pytest.raises(ConfigError, match="only files in the repository") as caught:
        render_jsonnet(repo, "escape.jsonnet", {})
    assert (caught.value.problems[0].path, caught.value.problems[0].line) == ("escape.jsonnet", 1)
    (repo / "link.jsonnet").symlink_to(tmp_path / "outside.libsonnet")
    with pytest.raises(ConfigError, match="only files in the repository"):
        render_jsonnet(repo, "link.jsonnet", {})
    assert jsonnet_dependencies(repo, "escape.jsonnet") == ["escape.jsonnet"]
    # A link out of the repository is a dependency, but what it points at is not read.
    (tmp_path / "outside.libsonnet").write_text("import 'escape.jsonnet'\n")
    assert jsonnet_dependencies(repo, "link.jsonnet") == ["link.jsonnet"]


def test_values_must_be_an_object(tmp_path: Path) -> None:
    (tmp_path / "a.jsonnet").write_text("[1, 2]\n")
    with pytest.raises(ConfigError, match="evaluate to an object"):
        render_jsonnet_data(tmp_path, "a.jsonnet", {})


def test_release_values_start_with_the_charts_jsonnet() -> None:
    fleet = load_fleet(LAYOUT).fleet_or_raise()
    cluster = fleet.cluster("azure-three")
    ai = hub_release(fleet, cluster.hub("ai"))
    assert ai.values_files == (
        BASEHUB_JSONNET,
        "config/clusters/azure-three/common-ai.values.yaml",
        "config/clusters/azure-three/ai.values.yaml",
        "config/clusters/azure-three/ai.jsonnet",
        "config/clusters/azure-three/enc-ai.secret.values.yaml",
    )
    support = support_release(fleet, cluster)
    assert support is not None and support.values_files[0] == "helm-charts/support/values.jsonnet"
    dask = hub_release(fleet, fleet.cluster("gcp-one").hub("dask-prod"))
    assert dask.values_files[0] == DASKHUB_JSONNET


def test_release_pipeline_evaluates_jsonnet_per_release() -> None:
    """Each release gets its own facts, even through a shared cache; helm gets JSON bytes."""
    fleet = load_fleet(LAYOUT).fleet_or_raise()
    aws = fleet.cluster("aws-two")
    cache: dict[str, object] = {}
    first = values_documents(fleet, hub_release(fleet, aws.hub("staging")), sops=None, cache=cache)  # type: ignore[arg-type]
    second = values_documents(fleet, hub_release(fleet, aws.hub("lis")), sops=None, cache=cache)  # type: ignore[arg-type]
    assert first[0].path == second[0].path == BASEHUB_JSONNET
    role = "eks.amazonaws.com/role-arn"
    # The EKS cluster's name is its clusterName; the account the AWS account.
    assert first[0].data["userServiceAccount"]["annotations"][role] == (
        "arn:aws:iam::123456789012:role/aws-two-eks-staging"
    )
    assert second[0].data["userServiceAccount"]["annotations"][role].endswith("aws-two-eks-lis")
    assert BASEHUB_JSONNET not in cache
    ai = hub_release(fleet, fleet.cluster("azure-three").hub("ai"))
    docs = values_documents(fleet, ai, sops=None)
    own = next(d for d in docs if d.path.endswith("ai.jsonnet"))
    assert own.data == {
        "jupyterhub": {"hub": {"config": {"JupyterHub": {"concurrent_spawn_limit": 20}}}}
    }
    raw = values_bytes(fleet, "config/clusters/azure-three/ai.jsonnet", sops=None, release=ai)  # type: ignore[arg-type]
    assert json.loads(raw) == own.data
    with pytest.raises(ConfigError, match="evaluated for a release"):
        values_bytes(fleet, "config/clusters/azure-three/ai.jsonnet", sops=None)  # type: ignore[arg-type]


def test_prefix_is_a_fleet_setting(layout: Path) -> None:
    (layout / "hubfleet.yaml").write_text("jsonnet:\n  ext_var_prefix: MY_\n")
    (layout / "helm-charts/support/values.jsonnet").write_text(
        "{ cluster: { name: std.extVar('MY_CLUSTER_NAME'), provider: 'x' } }\n"
    )
    fleet = load_fleet(layout).fleet_or_raise()
    release = support_release(fleet, fleet.cluster("gcp-one"))
    assert release is not None
    docs = values_documents(fleet, release, sops=None)
    assert docs[0].data == {"cluster": {"name": "gcp-one", "provider": "x"}}
    (layout / "hubfleet.yaml").write_text("jsonnet:\n  ext_var_prefix: 'bad prefix'\n")
    assert load_fleet(layout).errors


def test_basehub_renders_only_with_its_jsonnet(layout: Path) -> None:
    """The user service account template reads a value only values.jsonnet sets."""
    from hubfleet.helm.engine import render
    from hubfleet.helm.values import merge_values

    archive = SHARED_CHARTS / "jupyterhub-4.2.0.tgz"
    if not archive.is_file():
        pytest.skip(f"the real z2jh chart is not at {SHARED_CHARTS}")
    charts = layout / "helm-charts/basehub/charts"
    charts.mkdir()
    shutil.copy(archive, charts)
    fleet = load_fleet(layout).fleet_or_raise()
    release = hub_release(fleet, fleet.cluster("gcp-one").hub("research"))
    docs = values_documents(fleet, release, sops=None)
    manifests = render(
        layout / "helm-charts/basehub",
        merge_values([d.data for d in docs]),
        release=release.name,
        namespace=release.namespace,
    )
    account = manifests["basehub/templates/serviceaccount-user.yaml"]
    assert "gcp-one-research@gcp-one-project.iam.gserviceaccount.com" in account
    with pytest.raises(ChartError, match="nil pointer"):
        render(
            layout / "helm-charts/basehub",
            merge_values([d.data for d in docs[1:]]),
            release=release.name,
            namespace=release.namespace,
        )


def test_export_writes_jsonnet_results_as_plain_values(
    layout: Path, tmp_path: Path, age_key: Path
) -> None:
    """The export needs no jsonnet: the chart's and the hub's .jsonnet files become
    JSON values files in the command's order, and the export renders what the fleet does."""
    from hubfleet.export.build import export_hub
    from hubfleet.export.verify import verify_export

    archive = SHARED_CHARTS / "jupyterhub-4.2.0.tgz"
    if not archive.is_file():
        pytest.skip(f"the real z2jh chart is not at {SHARED_CHARTS}")
    (layout / "helm-charts/basehub/charts").mkdir()
    shutil.copy(archive, layout / "helm-charts/basehub/charts")
    fleet = load_fleet(layout).fleet_or_raise()
    hub = fleet.cluster("azure-three").hub("ai")
    result = export_hub(fleet, hub, tmp_path / "export")
    values = [entry.path for entry in result.command.values]
    assert values == [
        "values/00-hubfleet-defaults.values.yaml",
        "values/01-values.json",
        "values/02-common-ai.values.yaml",
        "values/03-ai.values.yaml",
        "values/04-ai.json",
        "values/05-enc-ai.secret.values.yaml",
    ]
    chart_values = json.loads((tmp_path / "export/values/01-values.json").read_text())
    assert chart_values["userServiceAccount"] == {"enabled": True, "annotations": {}}
    assert json.loads((tmp_path / "export/values/04-ai.json").read_text()) == {
        "jupyterhub": {"hub": {"config": {"JupyterHub": {"concurrent_spawn_limit": 20}}}}
    }
    sops = Sops(Redactor(), cwd=layout)
    check = verify_export(fleet, hub, tmp_path / "export", sops=sops)
    # z2jh generates random secrets at each render: only those (and their checksum) differ.
    random = {
        "spec.template.metadata.annotations.checksum/secret",
        "data.hub.config.CryptKeeper.keys",
        "data.hub.config.JupyterHub.cookie_secret",
    }
    assert {d.field for d in check.differences} <= random
    assert check.resources > 10
