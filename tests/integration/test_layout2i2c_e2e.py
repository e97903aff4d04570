"""The fleet in the 2i2c layout (tests/fixtures/layout2i2c) end to end, through the CLI,
with the real charts: validate, plan (`--rendered` too), deploy through the fake helm,
and export --verify.

The fixture's charts commit no `charts/` folder (that layout gitignores
`charts/*.tgz`): every command builds them into the chart cache, seeded here with
the real z2jh and dask-gateway archives where a pull would put them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

from tests.conftest import AGE_KEY, FIXTURES, SECRET_MARKER, CliResult
from tests.fakes import FakeTools, install_fakes
from tests.helpers import copy_layout
from tests.plan.conftest import GitFleet

# Among the slowest files of the suite: scripts/test -m "not slow" leaves it out.
pytestmark = pytest.mark.slow

LAYOUT = FIXTURES / "layout2i2c" / "fleet"
BASEHUB_TEMPLATE = "helm-charts/basehub/templates/serviceaccount-user.yaml"


def fixture_releases() -> list[str]:
    """Every release of the fixture fleet, `cluster/hub` or `cluster/support`, read from
    its cluster.yaml files (not from hubfleet)."""
    found = []
    for cluster_yaml in sorted(LAYOUT.glob("config/clusters/*/cluster.yaml")):
        doc = yaml.safe_load(cluster_yaml.read_text())
        if doc.get("support"):
            found.append(f"{doc['name']}/support")
        found += [f"{doc['name']}/{hub['name']}" for hub in doc["hubs"]]
    return sorted(found)


RELEASES = fixture_releases()
CLUSTERS = sorted({label.split("/")[0] for label in RELEASES})
HUB_CHARTS = {
    f"{doc['name']}/{hub['name']}": hub["helm_chart"]
    for doc in (
        yaml.safe_load(p.read_text()) for p in LAYOUT.glob("config/clusters/*/cluster.yaml")
    )
    for hub in doc["hubs"]
}


def snapshot(root: Path) -> dict[str, tuple[str, int, bytes]]:
    """Every entry under `root` (folders, files, links; nothing ignored): kind, mode, content."""
    found: dict[str, tuple[str, int, bytes]] = {}
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(folder) / name
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                entry = ("link", info.st_mode, os.readlink(path).encode())
            elif stat.S_ISDIR(info.st_mode):
                entry = ("dir", info.st_mode, b"")
            else:
                entry = ("file", info.st_mode, path.read_bytes())
            found[path.relative_to(root).as_posix()] = entry
    return found


@pytest.fixture
def layout(tmp_path: Path, real_dask_chart_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the fixture fleet (its link kept a link), the test age key, the real charts."""
    target = copy_layout(tmp_path)
    assert (target / "helm-charts/daskhub/values.jsonnet").is_symlink()
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(AGE_KEY))
    return target


# ---------------------------------------------------------------- validate


def test_the_fixture_has_the_releases_it_should() -> None:
    assert len(RELEASES) == 20  # 15 hubs on 5 clusters, 5 support releases
    assert sorted(set(HUB_CHARTS.values())) == ["basehub", "daskhub"]


def test_validate_renders_every_release_and_writes_nothing_into_the_fleet(
    run_cli: Any, layout: Path, real_dask_chart_cache: Path
) -> None:
    before = snapshot(layout)
    result: CliResult = run_cli("--repo", layout, "validate", "--output", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["problems"] == []
    assert data["rendered"] == RELEASES
    text: CliResult = run_cli("--repo", layout, "validate")
    assert text.exit_code == 0, text.output
    assert (
        "0 error(s), 0 warning(s); 5 cluster(s), 15 hub(s), 20 release(s) rendered" in text.output
    )
    assert snapshot(layout) == before
    assert not list(layout.rglob("charts"))  # no dependency folder in the working tree
    # The dependencies were built in the chart cache: basehub (z2jh 4.2.0), the
    # chart_override of aws-two/lis (z2jh 4.3.3), daskhub (basehub and dask-gateway).
    built = {
        (yaml.safe_load((chart / "Chart.yaml").read_text())["name"], *sorted(
            p.name for p in (chart / "charts").iterdir()
        ))
        for chart in (c.parent for c in real_dask_chart_cache.glob("*/*/Chart.yaml"))
        # (support, without dependencies, is built too now, with an empty charts/)
        if (chart / "charts").is_dir() and any((chart / "charts").iterdir())
    }  # fmt: skip
    assert built == {
        ("basehub", "jupyterhub-4.2.0.tgz"),
        ("basehub", "jupyterhub-4.3.3.tgz"),
        ("daskhub", "basehub", "dask-gateway-2026.3.0.tgz"),
    }


def test_validate_reports_a_schema_error_at_the_file_and_line(run_cli: Any, layout: Path) -> None:
    """The fleet as a whole still fails where it should: basehub's values.schema.yaml
    refuses an unknown key, at the hub's values file and line."""
    values = layout / "config/clusters/gcp-one/research.values.yaml"
    values.write_text(values.read_text() + "userServiceAccount:\n  unknownKey: 1\n")
    result: CliResult = run_cli("--repo", layout, "validate", "gcp-one", "research")
    assert result.exit_code == 2, result.output
    assert re.search(
        r"config/clusters/gcp-one/research\.values\.yaml:5: .*unknownKey", result.output
    )


# ---------------------------------------------------------------- plan --rendered


@pytest.fixture
def git_layout(layout: Path) -> GitFleet:
    return GitFleet.started(layout)


def rendered_plan(run_cli: Any, repo: GitFleet) -> dict[str, Any]:
    result: CliResult = run_cli(
        "--repo", repo.root, "plan", "--base", "base", "--rendered", "-o", "json"
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def labels(jobs: list[dict[str, Any]]) -> list[str]:
    return [f"{j['cluster_name']}/{j['hub_name']}" for j in jobs]


def test_rendered_comment_only_basehub_change_selects_nothing_and_says_why(
    run_cli: Any, git_layout: GitFleet
) -> None:
    git_layout.edit(
        BASEHUB_TEMPLATE, "apiVersion: v1\n", "{{- /* a comment only */}}\napiVersion: v1\n"
    )
    git_layout.commit("comment only")
    data = rendered_plan(run_cli, git_layout)
    assert data["support_jobs"] == data["staging_jobs"] == data["prod_jobs"] == []
    assert data["warnings"] == []
    # Every hub on basehub, and every hub on daskhub through its dependency, was
    # rendered at both revisions and found the same except z2jh's random fields.
    assert sorted(labels(data["skipped"])) == sorted(HUB_CHARTS)
    for job in data["skipped"]:
        chart = HUB_CHARTS[f"{job['cluster_name']}/{job['hub_name']}"]
        first = job["reasons"][0]
        if chart == "daskhub":
            assert first == f"chart daskhub depends on basehub: {BASEHUB_TEMPLATE} changed"
        else:
            assert first == f"chart basehub (helm-charts/basehub/): {BASEHUB_TEMPLATE} changed"
        assert "the chart randomises" in job["choice_reason"]
        assert "Secret/-/hub data.hub.config.JupyterHub.cookie_secret" in job["choice_reason"]


def test_rendered_real_basehub_change_selects_basehub_and_daskhub_hubs(
    run_cli: Any, git_layout: GitFleet
) -> None:
    git_layout.edit(BASEHUB_TEMPLATE, "  name: user-sa\n", "  name: user-sa\n  labels:\n    a: b\n")
    git_layout.commit("a real change")
    data = rendered_plan(run_cli, git_layout)
    assert data["skipped"] == [] and data["warnings"] == []
    staging = [h for h in HUB_CHARTS if "staging" in h]
    assert sorted(labels(data["staging_jobs"]) + labels(data["prod_jobs"])) == sorted(HUB_CHARTS)
    assert sorted(labels(data["staging_jobs"])) == sorted(staging)
    assert data["support_jobs"] == []


# ---------------------------------------------------------------- deploy


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeTools:
    """The fake helm/kubectl/gcloud/aws/az first on PATH, a private TMPDIR and HOME."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    tools = install_fakes(tmp_path)
    monkeypatch.setenv("PATH", tools.path)
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return tools


def chart_of(call: dict[str, Any]) -> Path:
    """The chart of a recorded `helm upgrade ... -- RELEASE CHART`."""
    words: list[str] = call["argv"]
    return Path(words[words.index("--") + 2])


def label_of(call: dict[str, Any]) -> str:
    """`cluster/release` of a recorded `helm upgrade`: the cluster is named by its
    private kubeconfig's folder (`hubfleet-creds-<cluster>-...`)."""
    words: list[str] = call["argv"]
    [kubeconfig] = [w for w in words if w.startswith("--kubeconfig=")]
    [cluster] = [c for c in CLUSTERS if f"/hubfleet-creds-{c}-" in kubeconfig]
    return f"{cluster}/{words[words.index('--') + 1]}"


def values_docs(call: dict[str, Any]) -> list[Any]:
    return [yaml.safe_load(v["content"] or "") for v in call["values"]]


def jsonnet_result(provider: str, cluster: str, hub: str, annotations: dict[str, str]) -> Any:
    """What basehub's values.jsonnet gives for a hub on basehub."""
    return {
        "jupyterhub": {
            "custom": {"cloudResources": {"provider": provider}},
            "ingress": {"hosts": [f"{hub}.{cluster}.example.org"]},
        },
        "userServiceAccount": {"annotations": annotations, "enabled": True},
    }


def test_deploy_hands_helm_the_built_charts_and_jsonnet_values_through_pipes(
    run_cli: Any, layout: Path, fakes: FakeTools, real_dask_chart_cache: Path, tmp_path: Path
) -> None:
    # A pull request touching basehub and the support chart: its plan is every release.
    changed = tmp_path / "changed.txt"
    changed.write_text("helm-charts/basehub/values.yaml\nhelm-charts/support/values.yaml\n")
    plan = tmp_path / "plan.json"
    planned: CliResult = run_cli("--repo", layout, "plan", "--changed-files", changed, "-o", "json")
    assert planned.exit_code == 0, planned.output
    plan.write_text(planned.stdout)
    before = snapshot(layout)
    report = tmp_path / "report.json"
    result: CliResult = run_cli(
        "--repo", layout, "deploy", "--plan", plan, "--report", report,
        "--progress", "plain", "--no-health-check",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    jobs = json.loads(report.read_text())["jobs"]
    assert sorted(f"{j['cluster_name']}/{j['hub_name'] or 'support'}" for j in jobs) == RELEASES
    assert {j["status"] for j in jobs} == {"succeeded"}

    calls = fakes.calls("helm")
    assert not [c for c in calls if c["argv"][:1] == ["dependency"]]  # built in-process
    upgrades = {label_of(c): c for c in calls if c["argv"][:1] == ["upgrade"]}
    assert sorted(upgrades) == RELEASES
    cache = real_dask_chart_cache.resolve()
    decrypted_seen = False
    for label, call in upgrades.items():
        chart = chart_of(call)
        if label.endswith("/support"):
            # Complete as committed, yet built too: helm gets only the files hubfleet read
            # confined to the repository, never the working tree (issue 21).
            assert chart.is_relative_to(cache), chart
            assert (chart / "Chart.yaml").read_bytes() == (
                layout / "helm-charts/support/Chart.yaml"
            ).read_bytes()
        else:
            # The build in the chart cache, with its dependencies; never the working tree.
            assert chart.is_relative_to(cache), chart
            name = yaml.safe_load((chart / "Chart.yaml").read_text())["name"]
            assert name == HUB_CHARTS[label]
            assert (chart / "charts").is_dir()
        for values in call["values"]:
            assert values["kind"] == "fifo", values  # a pipe, never a file
            assert values["path"].startswith("/dev/fd/")
            decrypted_seen |= SECRET_MARKER in (values["content"] or "")
    assert decrypted_seen  # the decrypted values did reach helm, through the pipes
    assert (chart_of(upgrades["aws-two/lis"]) / "charts/jupyterhub-4.3.3.tgz").is_file()
    assert (chart_of(upgrades["aws-two/staging"]) / "charts/jupyterhub-4.2.0.tgz").is_file()

    # The jsonnet results are among the values helm got, before the hub's own files.
    # VARS_2I2C_CLUSTER_NAME of an EKS cluster is its clusterName (aws-two-eks).
    role = {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/aws-two-eks-lis"}
    lis = values_docs(upgrades["aws-two/lis"])
    lis_jsonnet = jsonnet_result("aws", "aws-two", "lis", role)
    own = {"jupyterhub": {"singleuser": {"defaultUrl": "/lab?hub=lis"}}}
    assert lis_jsonnet in lis and own in lis
    assert lis.index(lis_jsonnet) < lis.index(own)
    gsa = {
        "iam.gke.io/gcp-service-account": "gcp-one-dask-prod@gcp-one-project.iam.gserviceaccount.com"
    }
    dask = values_docs(upgrades["gcp-one/dask-prod"])
    assert {"basehub": jsonnet_result("gcp", "gcp-one", "dask-prod", gsa)} in dask
    ai = values_docs(upgrades["azure-three/ai"])
    assert jsonnet_result("azure", "azure-three", "ai", {}) in ai
    ai_own = {"jupyterhub": {"hub": {"config": {"JupyterHub": {"concurrent_spawn_limit": 20}}}}}
    assert ai_own in ai  # the hub's ai.jsonnet
    support = values_docs(upgrades["azure-three/support"])
    assert {"cluster": {"name": "azure-three", "provider": "azure"}} in support

    # Nothing written into the fleet; no decrypted value in any file (the fakes'
    # recordings are the test's instrument); every private folder removed.
    assert snapshot(layout) == before
    assert list((tmp_path / "tmp").iterdir()) == []
    instruments = (fakes.record_dir, fakes.script_path, fakes.script_path.with_suffix(".marshal"))
    leaks = [
        p
        for p in tmp_path.rglob("*")
        if p.is_file()
        and not p.is_symlink()
        and not any(p.is_relative_to(i) for i in instruments)
        and SECRET_MARKER.encode() in p.read_bytes()
    ]
    assert leaks == []
    assert SECRET_MARKER not in result.output + planned.output


# ---------------------------------------------------------------- export --verify


def readme_command(readme: str) -> tuple[str, list[str]]:
    """The chart and the `--values` files of the README's deploy command, as a person reads it."""
    block = readme.split("<!-- hubfleet-export:deploy-command -->", 1)[1].split("```bash\n", 1)[1]
    command = block.split("```", 1)[0]
    chart = re.search(r"helm upgrade --install \S+ (\S+)", command)
    assert chart is not None, command
    files = re.findall(r"--values (?:<\(sops --decrypt )?([^\s)]+)", command)
    return chart.group(1), files


EXPORTS = [
    ("gcp-one", "research", ["jupyterhub-4.2.0.tgz"]),
    ("aws-two", "lis", ["jupyterhub-4.3.3.tgz"]),  # the chart_override's dependency
    ("azure-three", "ai", ["jupyterhub-4.2.0.tgz"]),
    (
        "gcp-one",
        "dask-prod",
        ["basehub", "basehub/charts/jupyterhub-4.2.0.tgz", "dask-gateway-2026.3.0.tgz"],
    ),
]


@pytest.mark.parametrize(
    ("cluster", "hub", "dependencies"), EXPORTS, ids=[f"{c}/{h}" for c, h, _ in EXPORTS]
)
def test_export_verify_round_trips_with_built_dependencies_and_plain_values(
    run_cli: Any, layout: Path, tmp_path: Path, cluster: str, hub: str, dependencies: list[str]
) -> None:
    folder = tmp_path / "export"
    before = snapshot(layout)
    result: CliResult = run_cli("--repo", layout, "export", cluster, hub, folder, "--verify")
    assert result.exit_code == 0, result.output
    assert "round trip: the export renders the same" in result.stdout
    assert "(secrets: decrypted)" in result.stdout
    assert snapshot(layout) == before

    chart = folder / "chart"
    for dependency in dependencies:
        assert (chart / "charts" / dependency).exists(), sorted(
            p.name for p in (chart / "charts").iterdir()
        )
    # Plain helm finds every dependency of the exported chart (and of its local subchart).
    for each in [chart, *(p for p in (chart / "charts").iterdir() if p.is_dir())]:
        statuses = {d["name"]: d["status"] for d in helm_python.dependency_list(each)}
        assert statuses and set(statuses.values()) <= {"ok", "unpacked"}, (each, statuses)

    # What plain helm reads is what the README says: its chart, and exactly the values
    # files of values/, in order; the jsonnet results are plain values files.
    readme = (folder / "README.md").read_text()
    chart_arg, files = readme_command(readme)
    assert chart_arg == "./chart"
    assert files == sorted(f"values/{p.name}" for p in (folder / "values").iterdir())
    assert not [f for f in files if f.endswith((".jsonnet", ".libsonnet"))]
    assert "jsonnet" not in readme.split("## Secrets", 1)[0].split("You need:", 1)[1]
    docs = {f: yaml.safe_load((folder / f).read_text()) for f in files if "secret" not in f}
    service_account = [f for f, d in docs.items() if "userServiceAccount" in d.get("basehub", d)]
    assert len(service_account) == 1  # the chart's values.jsonnet, rendered
    assert service_account[0].endswith(".json")
    if hub == "ai":  # the hub's own ai.jsonnet, rendered in its place
        rendered = {
            "jupyterhub": {"hub": {"config": {"JupyterHub": {"concurrent_spawn_limit": 20}}}}
        }
        assert rendered in docs.values()
    # The secrets stay encrypted in the export.
    assert not [
        p for p in folder.rglob("*") if p.is_file() and SECRET_MARKER.encode() in p.read_bytes()
    ]


def test_the_support_charts_own_secret_values_are_listed_by_each_cluster(
    run_cli: Any, layout: Path
) -> None:
    """That deployer adds helm-charts/support/enc-*.secret.values.yaml to every support
    release; hubfleet does not (README), and a cluster lists the file instead."""
    own = layout / "helm-charts/support/enc-support.secret.values.yaml"
    shutil.copyfile(layout / "config/clusters/gcp-one/enc-support.secret.values.yaml", own)
    cluster_yaml = layout / "config/clusters/gcp-one/cluster.yaml"
    listed = "  - ../../../helm-charts/support/enc-support.secret.values.yaml\n"
    text = cluster_yaml.read_text()
    assert "  - support.values.yaml\n" in text
    cluster_yaml.write_text(
        text.replace("  - support.values.yaml\n", listed + "  - support.values.yaml\n")
    )
    result: CliResult = run_cli("--repo", layout, "validate", "gcp-one", "-o", "json")
    assert result.exit_code == 0, result.output
    assert "gcp-one/support" in json.loads(result.stdout)["rendered"]
