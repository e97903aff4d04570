"""hubfleet.helm.jsonnet and the values pipeline's jsonnet hook (hubfleet.release.pipeline)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from hubfleet.base.errors import ChartError, ConfigError
from hubfleet.base.redact import Redactor
from hubfleet.base.runner import live_children
from hubfleet.config.load import load_fleet
from hubfleet.helm.jsonnet import (
    CHILD_ARGV,
    MAX_FILE_BYTES,
    MAX_IMPORTS,
    MAX_OUTPUT_BYTES,
    MAX_STACK,
    JsonnetFacts,
    JsonnetLimits,
    jsonnet_dependencies,
    render_jsonnet,
    render_jsonnet_data,
)
from hubfleet.release.pipeline import hub_release, release_jsonnet, support_release
from hubfleet.release.values import ReleaseValues
from hubfleet.secrets.sops import Sops

LAYOUT = Path(__file__).parents[1] / "fixtures" / "layout2i2c" / "fleet"
SHARED_CHARTS = Path(__file__).parents[2] / ".." / "shared" / "charts"
BASEHUB_JSONNET = "helm-charts/basehub/values.jsonnet"
DASKHUB_JSONNET = "helm-charts/daskhub/values.jsonnet"


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


# A loop that allocates little (a 10,000-element range at a time) and runs for minutes.
ENDLESS_LOOP = (
    "{ a: std.foldl(function(x, i) x + std.foldl(function(y, j) y + j, std.range(1, 10000), 0),"
    " std.range(1, 10000), 0) }\n"
)
HUGE_RANGE = "{ a: std.length(std.range(1, 100000000)) }\n"
ENDLESS_TAIL_CALL = "local f(x) = f(x + 1) tailstrict;\nf(0)\n"  # MAX_STACK does not stop it
SMALL = JsonnetLimits(timeout_s=60.0, memory_bytes=256 * 1024 * 1024)


def child_request(root: Path, path: str, **changes: object) -> dict[str, object]:
    request: dict[str, object] = {
        "root": str(root),
        "path": path,
        "ext_vars": {"X": "x-value"},
        "search": [str(root)],
        "max_stack": MAX_STACK,
        "max_file_bytes": MAX_FILE_BYTES,
        "max_output_bytes": MAX_OUTPUT_BYTES,
        "max_imports": MAX_IMPORTS,
        "memory_bytes": SMALL.memory_bytes,
        "cpu_seconds": SMALL.cpu_seconds,
    }
    return {**request, **changes}


def ask_child(request: dict[str, object], cwd: Path) -> dict[str, object]:
    done = subprocess.run(
        CHILD_ARGV,
        input=json.dumps(request).encode(),
        capture_output=True,
        cwd=cwd,
        timeout=120,
        check=True,
    )
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


def test_the_child_answers_with_the_json_or_the_error(tmp_path: Path) -> None:
    (tmp_path / "a.jsonnet").write_text("{ x: std.extVar('X'), y: importstr 'b.txt' }\n")
    (tmp_path / "b.txt").write_text("b")
    (tmp_path / "bad.jsonnet").write_text("{\n  a: error 'no',\n}\n")
    (tmp_path / "big.jsonnet").write_text("std.repeat('x', 100)\n")
    answer = ask_child(child_request(tmp_path, "a.jsonnet"), tmp_path)
    assert json.loads(str(answer["json"])) == {"x": "x-value", "y": "b"}
    error = ask_child(child_request(tmp_path, "bad.jsonnet"), tmp_path)
    assert f"{tmp_path}/bad.jsonnet:2" in str(error["runtime_error"])
    big = ask_child(child_request(tmp_path, "big.jsonnet", max_output_bytes=50), tmp_path)
    assert big == {
        "refused": {"path": "big.jsonnet", "message": "jsonnet result too large (103 bytes)"}
    }
    absent = ask_child(child_request(tmp_path, "nope.jsonnet"), tmp_path)
    assert absent == {"refused": {"path": "nope.jsonnet", "message": "jsonnet file does not exist"}}


def test_the_child_imports_nothing_from_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child starts isolated (-I): a fleet repository holding a `hubfleet` package
    (or a `json.py`) is never imported by it, whatever folder hubfleet runs in."""
    marker = tmp_path / "imported"
    hostile = tmp_path / "hubfleet" / "helm"
    hostile.mkdir(parents=True)
    for folder in (tmp_path / "hubfleet", hostile):
        (folder / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    (tmp_path / "json.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    (tmp_path / "a.jsonnet").write_text("{ a: 1 }\n")
    monkeypatch.chdir(tmp_path)
    assert render_jsonnet_data(tmp_path, "a.jsonnet", {}) == {"a": 1}
    assert not marker.exists()


def test_the_time_limit_is_the_childs_processor_time(tmp_path: Path) -> None:
    """The child limits its own processor time (RLIMIT_CPU): a busy machine slows a
    normal evaluation without timing it out, and an endless loop still ends, by the
    kernel's signal, long before the wall-clock backstop."""
    (tmp_path / "loop.jsonnet").write_text(ENDLESS_LOOP)
    request = child_request(tmp_path, "loop.jsonnet", cpu_seconds=1)
    done = subprocess.run(
        CHILD_ARGV, input=json.dumps(request).encode(), capture_output=True, timeout=120
    )
    assert done.returncode in (-signal.SIGXCPU, -signal.SIGKILL)
    limits = JsonnetLimits(timeout_s=2.5)
    assert (limits.cpu_seconds, limits.wall_s) == (3, 2.5 * 4 + 30)


def test_an_endless_loop_is_stopped_at_the_timeout(tmp_path: Path) -> None:
    (tmp_path / "loop.jsonnet").write_text(ENDLESS_LOOP)
    with pytest.raises(ConfigError) as caught:
        render_jsonnet(tmp_path, "loop.jsonnet", {}, limits=JsonnetLimits(timeout_s=1.0))
    problem = caught.value.problems[0]
    assert (problem.path, problem.line) == ("loop.jsonnet", 1)
    assert problem.message == "jsonnet evaluation stopped after 1 s"
    assert problem.hint is not None
    assert "took more than 1 s: an endless loop or a very large result?" in problem.hint
    assert "HUBFLEET_JSONNET_TIMEOUT" in problem.hint
    assert live_children() == []  # the child and its group are gone


@pytest.mark.parametrize("source", [HUGE_RANGE, ENDLESS_TAIL_CALL], ids=["range", "tail-call"])
def test_memory_is_limited(tmp_path: Path, source: str) -> None:
    """A huge range and an endless tail call (which MAX_STACK does not stop) grow the
    child's memory until its limit: the child aborts, the file is reported."""
    (tmp_path / "big.jsonnet").write_text(source)
    with pytest.raises(ConfigError) as caught:
        render_jsonnet(tmp_path, "big.jsonnet", {}, limits=SMALL)
    problem = caught.value.problems[0]
    assert (problem.path, problem.line) == ("big.jsonnet", 1)
    assert problem.message in (
        "jsonnet evaluation stopped: it needed more than 256 MiB of memory",
        "jsonnet evaluation stopped: the evaluator's stack overflowed",
    )
    assert problem.hint is not None and "endless recursion" in problem.hint
    assert "Traceback" not in problem.message


def test_limits_come_from_the_environment() -> None:
    assert JsonnetLimits.from_environment({}) == JsonnetLimits(30.0, 1024 * 1024 * 1024)
    found = JsonnetLimits.from_environment(
        {"HUBFLEET_JSONNET_TIMEOUT": "2.5", "HUBFLEET_JSONNET_MEMORY_MIB": "300"}
    )
    assert found == JsonnetLimits(2.5, 300 * 1024 * 1024)
    for bad in ("0", "-1", "banana", "inf", "nan"):
        with pytest.raises(ConfigError, match="not a positive number") as caught:
            JsonnetLimits.from_environment({"HUBFLEET_JSONNET_TIMEOUT": bad})
        assert caught.value.problems[0].path == "HUBFLEET_JSONNET_TIMEOUT"


def test_the_environment_lowers_the_timeout_of_a_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "loop.jsonnet").write_text(ENDLESS_LOOP)
    monkeypatch.setitem(os.environ, "HUBFLEET_JSONNET_TIMEOUT", "0.5")
    with pytest.raises(ConfigError, match=r"stopped after 0\.5 s"):
        render_jsonnet_data(tmp_path, "loop.jsonnet", {})


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
    # The support chart's own encrypted file first, as that layout's deployer adds it.
    assert support is not None and support.values_files[:2] == (
        "helm-charts/support/enc-support.secret.values.yaml",
        "helm-charts/support/values.jsonnet",
    )
    dask = hub_release(fleet, fleet.cluster("gcp-one").hub("dask-prod"))
    assert dask.values_files[0] == DASKHUB_JSONNET


def test_release_pipeline_evaluates_jsonnet_per_release() -> None:
    """Each release gets its own facts, even through a shared cache; helm gets JSON bytes."""
    fleet = load_fleet(LAYOUT).fleet_or_raise()
    aws = fleet.cluster("aws-two")
    pipeline = ReleaseValues(fleet, sops=None)
    first = pipeline.documents(hub_release(fleet, aws.hub("staging")))
    second = pipeline.documents(hub_release(fleet, aws.hub("lis")))
    assert first[0].path == second[0].path == BASEHUB_JSONNET
    role = "eks.amazonaws.com/role-arn"
    # The EKS cluster's name is its clusterName; the account the AWS account.
    assert first[0].data["userServiceAccount"]["annotations"][role] == (
        "arn:aws:iam::123456789012:role/aws-two-eks-staging"
    )
    assert second[0].data["userServiceAccount"]["annotations"][role].endswith("aws-two-eks-lis")
    assert first[0] is not second[0]
    ai = hub_release(fleet, fleet.cluster("azure-three").hub("ai"))
    docs = pipeline.documents(ai)
    own = next(d for d in docs if d.path.endswith("ai.jsonnet"))
    assert own.data == {
        "jupyterhub": {"hub": {"config": {"JupyterHub": {"concurrent_spawn_limit": 20}}}}
    }
    raw = release_jsonnet(fleet, ai, "config/clusters/azure-three/ai.jsonnet")
    assert json.loads(raw) == own.data
    with pytest.raises(ConfigError, match="evaluated for a release"):
        release_jsonnet(fleet, None, "config/clusters/azure-three/ai.jsonnet")


def test_prefix_is_a_fleet_setting(layout: Path) -> None:
    (layout / "hubfleet.yaml").write_text("jsonnet:\n  ext_var_prefix: MY_\n")
    (layout / "helm-charts/support/values.jsonnet").write_text(
        "{ cluster: { name: std.extVar('MY_CLUSTER_NAME'), provider: 'x' } }\n"
    )
    fleet = load_fleet(layout).fleet_or_raise()
    release = support_release(fleet, fleet.cluster("gcp-one"))
    assert release is not None
    docs = ReleaseValues(fleet, sops=None).documents(release)
    assert docs[1].data == {
        "cluster": {"name": "gcp-one", "provider": "x"}
    }  # after the chart's secret
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
    docs = ReleaseValues(fleet, sops=None).documents(release)
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
