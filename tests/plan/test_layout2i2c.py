"""The plan on a fleet in the 2i2c layout: local charts depending on local charts,
a chart_override replacement Chart.yaml, jsonnet values and what they import."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubfleet.base.redact import Redactor
from hubfleet.config.load import load_fleet
from hubfleet.plan.changes import Change
from hubfleet.plan.labels import Labels
from hubfleet.plan.plan import Plan
from hubfleet.plan.planner import make_plan
from hubfleet.plan.rendered import needed_paths
from hubfleet.plan.revisions import plan_from_git
from tests.plan.conftest import GitFleet

LAYOUT = Path(__file__).parents[1] / "fixtures" / "layout2i2c" / "fleet"
C = "config/clusters"
BASEHUB = "helm-charts/basehub"
BASEHUB_HUBS = ("aws-two/staging", "aws-two/lis", "azure-three/staging", "azure-three/ai")
BASEHUB_HUBS += ("gcp-one/staging", "gcp-one/research", "tf-nesting/staging")
DASKHUB_HUBS = ("aws-two/dask-prod", "gcp-one/dask-staging", "gcp-one/dask-prod")
DASKHUB_HUBS += ("tf-nesting/dask",)
BASEHUB_HUBS += ("crds/plain",)  # the cluster of the CRD step (issue 24, point 4)
DASKHUB_HUBS += ("crds/dask-staging", "crds/dask-a", "crds/dask-b")
CLUSTERS = ("aws-two", "azure-three", "crds", "gcp-one", "tf-nesting")


def plan_for(root: Path, *paths: str) -> Plan:
    fleet = load_fleet(root).fleet_or_raise()
    return make_plan(fleet, [Change(p) for p in paths])


def own_reasons(plan: Plan) -> dict[str, tuple[str, ...]]:
    """Each selected release (`cluster/hub`, `cluster/support`) with its reasons,
    canary reasons left out (releases selected only as canaries are not listed)."""
    found: dict[str, tuple[str, ...]] = {}
    for job in (*plan.support_jobs, *plan.staging_jobs, *plan.prod_jobs):
        reasons = tuple(r for r in job.reasons if not r.startswith("canary:"))
        if reasons:
            found[f"{job.cluster}/{job.hub or 'support'}"] = reasons
    return found


def chart_change(path: str) -> dict[str, tuple[str, ...]]:
    """A change in basehub: every basehub hub by its chart, every daskhub hub by the chain."""
    expected = {hub: (f"chart basehub ({BASEHUB}/): {path} changed",) for hub in BASEHUB_HUBS}
    expected |= {
        hub: (f"chart daskhub depends on basehub: {path} changed",) for hub in DASKHUB_HUBS
    }
    return expected


TABLE: list[tuple[str, dict[str, tuple[str, ...]]]] = [
    (f"{BASEHUB}/values.yaml", chart_change(f"{BASEHUB}/values.yaml")),
    (f"{BASEHUB}/values.jsonnet", chart_change(f"{BASEHUB}/values.jsonnet")),
    (f"{BASEHUB}/lib.libsonnet", chart_change(f"{BASEHUB}/lib.libsonnet")),
    (f"{BASEHUB}/values.schema.yaml", chart_change(f"{BASEHUB}/values.schema.yaml")),
    (f"{BASEHUB}/Chart.yaml", chart_change(f"{BASEHUB}/Chart.yaml")),
    (
        f"{BASEHUB}/templates/serviceaccount-user.yaml",
        chart_change(f"{BASEHUB}/templates/serviceaccount-user.yaml"),
    ),
    (
        "helm-charts/daskhub/values.jsonnet",
        {
            hub: (
                "chart daskhub (helm-charts/daskhub/): helm-charts/daskhub/values.jsonnet changed",
            )
            for hub in DASKHUB_HUBS
        },
    ),
    (
        "helm-charts/daskhub/Chart.yaml",
        {
            hub: ("chart daskhub (helm-charts/daskhub/): helm-charts/daskhub/Chart.yaml changed",)
            for hub in DASKHUB_HUBS
        },
    ),
    (
        f"{C}/aws-two/lis-chart.yaml",
        {"aws-two/lis": (f"chart_override {C}/aws-two/lis-chart.yaml changed",)},
    ),
    (
        f"{C}/azure-three/ai.jsonnet",
        {"azure-three/ai": (f"values file {C}/azure-three/ai.jsonnet changed",)},
    ),
    (
        f"{C}/azure-three/common-ai.values.yaml",
        {"azure-three/ai": (f"values file {C}/azure-three/common-ai.values.yaml changed",)},
    ),
    (
        f"{C}/gcp-one/enc-dask-prod.secret.values.yaml",
        {
            "gcp-one/dask-prod": (
                f"encrypted values file {C}/gcp-one/enc-dask-prod.secret.values.yaml changed",
            )
        },
    ),
    (
        "helm-charts/support/values.jsonnet",
        {
            f"{cluster}/support": (
                "chart support (helm-charts/support/): helm-charts/support/values.jsonnet changed",
            )
            for cluster in CLUSTERS
        },
    ),
    (
        f"{C}/azure-three/enc-deployer-credentials.secret.json",
        {
            label: (
                f"deployer credentials {C}/azure-three/enc-deployer-credentials.secret.json changed",
            )
            for label in ("azure-three/support", "azure-three/staging", "azure-three/ai")
        },
    ),
    (
        "helm-charts/daskhub/values.yaml",
        {
            hub: ("chart daskhub (helm-charts/daskhub/): helm-charts/daskhub/values.yaml changed",)
            for hub in DASKHUB_HUBS
        },
    ),
    (
        f"{C}/aws-two/lis.values.yaml",
        {"aws-two/lis": (f"values file {C}/aws-two/lis.values.yaml changed",)},
    ),
    (
        f"{C}/aws-two/common.values.yaml",
        {
            hub: (f"values file {C}/aws-two/common.values.yaml changed",)
            for hub in ("aws-two/staging", "aws-two/lis")
        },
    ),
    *[
        (
            f"helm-charts/support/{name}",
            {
                f"{cluster}/support": (
                    f"chart support (helm-charts/support/): helm-charts/support/{name} changed",
                )
                for cluster in CLUSTERS
            },
        )
        for name in ("values.yaml", "Chart.yaml", "templates/configmap.yaml")
    ],
    (
        f"{C}/aws-two/support.values.yaml",
        {"aws-two/support": (f"values file {C}/aws-two/support.values.yaml changed",)},
    ),
    (
        f"{C}/gcp-one/enc-support.secret.values.yaml",
        {
            "gcp-one/support": (
                f"encrypted values file {C}/gcp-one/enc-support.secret.values.yaml changed",
            )
        },
    ),
    (
        f"{C}/gcp-one/cluster.yaml",
        {
            label: (
                f"{C}/gcp-one/cluster.yaml changed (compared without git history: whole cluster)",
            )
            for label in (
                "gcp-one/support",
                "gcp-one/staging",
                "gcp-one/research",
                "gcp-one/dask-staging",
                "gcp-one/dask-prod",
            )
        },
    ),
    ("README.md", {}),
]


@pytest.mark.parametrize(("changed", "expected"), TABLE, ids=[row[0] for row in TABLE])
def test_plan_table(changed: str, expected: dict[str, tuple[str, ...]]) -> None:
    plan = plan_for(LAYOUT, changed)
    assert own_reasons(plan) == expected
    assert plan.unmatched_files == (() if expected else (changed,))


def test_canaries_follow_daskhub_hubs() -> None:
    plan = plan_for(LAYOUT, "helm-charts/daskhub/values.yaml")
    labels = [f"{j.cluster}/{j.hub}" for j in plan.staging_jobs]
    # gcp-one's canaries (staging, dask-staging) guard its daskhub hub; the other
    # clusters' staging hubs their own.
    assert labels == [
        "aws-two/staging",
        "crds/dask-staging",
        "gcp-one/dask-staging",
        "gcp-one/staging",
        "tf-nesting/staging",
    ]


def add_chart(root: Path, name: str, depends_on: str | None = None) -> None:
    folder = root / "helm-charts" / name
    (folder / "templates").mkdir(parents=True)
    deps = ""
    if depends_on:
        deps = (
            f"dependencies:\n  - name: {depends_on}\n    version: 0.1.0\n"
            f"    repository: file://../{depends_on}\n"
        )
    (folder / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 0.1.0\n{deps}")
    (folder / "values.yaml").write_text("{}\n")


def append_dependency(chart_yaml: Path, name: str) -> None:
    text = chart_yaml.read_text()
    entry = f"  - name: {name}\n    version: 0.1.0\n    repository: file://../{name}\n"
    chart_yaml.write_text(text + entry)


def test_local_dependencies_are_followed_transitively_and_cycles_cut(layout: Path) -> None:
    add_chart(layout, "core", depends_on="basehub")  # a cycle: basehub -> core -> basehub
    append_dependency(layout / BASEHUB / "Chart.yaml", "core")
    plan = plan_for(layout, "helm-charts/core/values.yaml")
    path = "helm-charts/core/values.yaml"
    reasons = own_reasons(plan)
    assert reasons["gcp-one/research"] == (f"chart basehub depends on core: {path} changed",)
    assert reasons["gcp-one/dask-prod"] == (
        f"chart daskhub depends on basehub, which depends on core: {path} changed",
    )
    assert set(reasons) == {*BASEHUB_HUBS, *DASKHUB_HUBS}
    # The cycle back to basehub adds no second reason for a basehub change.
    assert own_reasons(plan_for(layout, f"{BASEHUB}/values.yaml")) == chart_change(
        f"{BASEHUB}/values.yaml"
    )


def test_chart_override_file_depends_on_what_it_names(layout: Path) -> None:
    """The replacement Chart.yaml's file:// paths are relative to the folder it is
    laid over; what it names selects that hub only."""
    add_chart(layout, "extra")
    append_dependency(layout / f"{C}/aws-two/lis-chart.yaml", "extra")
    plan = plan_for(layout, "helm-charts/extra/values.yaml")
    assert own_reasons(plan) == {
        "aws-two/lis": (
            f"chart_override {C}/aws-two/lis-chart.yaml depends on extra: "
            "helm-charts/extra/values.yaml changed",
        )
    }


def test_jsonnet_imports_outside_the_chart_are_dependencies(layout: Path) -> None:
    (layout / "lib").mkdir()
    (layout / "lib/common.libsonnet").write_text("{ limit: 3 }\n")
    (layout / "lib/hub.libsonnet").write_text("{ hub: importstr 'note.txt' }\n")
    (layout / "lib/note.txt").write_text("hello\n")
    jsonnet = layout / f"{C}/azure-three/ai.jsonnet"
    jsonnet.write_text("local h = import '../../../lib/hub.libsonnet';\n" + jsonnet.read_text())
    basehub = layout / BASEHUB / "values.jsonnet"
    basehub.write_text(
        "local common = import '../../lib/common.libsonnet';\n" + basehub.read_text()
    )
    ai = own_reasons(plan_for(layout, "lib/note.txt"))
    assert ai == {"azure-three/ai": (f"{C}/azure-three/ai.jsonnet reads lib/note.txt changed",)}
    common = own_reasons(plan_for(layout, "lib/common.libsonnet"))
    # Through daskhub's link, the import resolves from helm-charts/daskhub/ to the same file.
    assert common == {
        **{
            h: (f"{BASEHUB}/values.jsonnet reads lib/common.libsonnet changed",)
            for h in BASEHUB_HUBS
        },
        **{
            h: ("helm-charts/daskhub/values.jsonnet reads lib/common.libsonnet changed",)
            for h in DASKHUB_HUBS
        },
    }


def test_rendered_reads_every_dependency_at_base() -> None:
    fleet = load_fleet(LAYOUT).fleet_or_raise()
    dask = fleet.cluster("gcp-one").hub("dask-prod")
    lis = fleet.cluster("aws-two").hub("lis")
    ai = fleet.cluster("azure-three").hub("ai")
    assert needed_paths(fleet, [dask]) == [
        f"{C}/gcp-one/dask-prod.values.yaml",
        f"{C}/gcp-one/enc-dask-prod.secret.values.yaml",
        BASEHUB,
        "helm-charts/daskhub",
        "hubfleet.yaml",
    ]
    lis_paths = needed_paths(fleet, [lis])
    assert f"{C}/aws-two/lis-chart.yaml" in lis_paths and BASEHUB in lis_paths
    assert f"{C}/azure-three/ai.jsonnet" in needed_paths(fleet, [ai])


@pytest.fixture
def git_layout(layout: Path) -> GitFleet:
    return GitFleet.started(layout)


def test_base_mode_follows_local_dependencies(git_layout: GitFleet) -> None:
    git_layout.edit(
        f"{BASEHUB}/values.yaml", "authenticator_class: dummy", "authenticator_class: x"
    )
    git_layout.commit("change basehub")
    plan = plan_from_git(
        git_layout.root, base="base", head="HEAD", labels=Labels(), redactor=Redactor()
    )
    assert own_reasons(plan) == chart_change(f"{BASEHUB}/values.yaml")


ALL_RELEASES = (
    *(f"{cluster}/support" for cluster in CLUSTERS),
    *BASEHUB_HUBS,
    *DASKHUB_HUBS,
)
# cluster.yaml is compared key by key with --base (tests below); every other row of
# the table selects the same releases, for the same reasons, from a commit.
BASE_TABLE = [row for row in TABLE if not row[0].endswith("/cluster.yaml")]


def change_file(repo: GitFleet, relative: str) -> None:
    """Change a file's bytes (a link becomes a file of its target's content plus a
    newline: a change of the link, not of its target); create it when absent."""
    path = repo.path(relative)
    if path.is_symlink():
        content = path.read_bytes()
        path.unlink()
        path.write_bytes(content + b"\n")
    elif path.exists():
        path.write_bytes(path.read_bytes() + b"\n")
    else:
        path.write_text("new\n")


@pytest.mark.parametrize(("changed", "expected"), BASE_TABLE, ids=[row[0] for row in BASE_TABLE])
def test_base_mode_table(
    git_layout: GitFleet, changed: str, expected: dict[str, tuple[str, ...]]
) -> None:
    change_file(git_layout, changed)
    git_layout.commit(f"change {changed}")
    plan = plan_from_git(
        git_layout.root, base="base", head="HEAD", labels=Labels(), redactor=Redactor()
    )
    assert own_reasons(plan) == expected
    assert plan.unmatched_files == (() if expected else (changed,))


def test_base_mode_compares_cluster_yaml_key_by_key(git_layout: GitFleet) -> None:
    cluster_yaml = f"{C}/azure-three/cluster.yaml"
    git_layout.edit(cluster_yaml, "domain: ai.azure-three", "domain: ai2.azure-three")
    git_layout.edit(cluster_yaml, "display_name: Hub staging", "display_name: Staging")
    git_layout.commit("one hub's domain, another's display name")
    plan = plan_from_git(
        git_layout.root, base="base", head="HEAD", labels=Labels(), redactor=Redactor()
    )
    assert own_reasons(plan) == {"azure-three/ai": (f"{cluster_yaml}: hub ai: domain changed",)}
    git_layout.edit(cluster_yaml, "resource_group: azure-three-rg", "resource_group: other-rg")
    git_layout.commit("the provider block")
    plan = plan_from_git(
        git_layout.root, base="HEAD~1", head="HEAD", labels=Labels(), redactor=Redactor()
    )
    assert set(own_reasons(plan)) == {
        "azure-three/support",
        "azure-three/staging",
        "azure-three/ai",
    }


def test_hubfleet_yaml_added(layout: Path) -> None:
    """The layout has no hubfleet.yaml; one added (the jsonnet variables' prefix, which
    every release of this fleet reads) selects every release, in both modes."""
    settings = "jsonnet:\n  ext_var_prefix: FLEET_\n"
    (layout / "hubfleet.yaml").write_text(settings)
    reasons = own_reasons(plan_for(layout, "hubfleet.yaml"))
    assert sorted(reasons) == sorted(ALL_RELEASES)
    assert set(reasons.values()) == {
        ("hubfleet.yaml changed (compared without git history: every release)",)
    }
    (layout / "hubfleet.yaml").unlink()
    repo = GitFleet(layout)
    repo.git("init", "-q", "-b", "main")
    repo.commit("base")
    (layout / "hubfleet.yaml").write_text("deploy:\n  concurrency: 2\n")
    repo.commit("how deploys run: nothing to deploy")
    plan = plan_from_git(layout, base="HEAD~1", head="HEAD", labels=Labels(), redactor=Redactor())
    assert own_reasons(plan) == {}
    (layout / "hubfleet.yaml").write_text("deploy:\n  concurrency: 2\n" + settings)
    repo.commit("the jsonnet prefix")
    plan = plan_from_git(layout, base="HEAD~1", head="HEAD", labels=Labels(), redactor=Redactor())
    reasons = own_reasons(plan)
    assert sorted(reasons) == sorted(ALL_RELEASES)
    assert set(reasons.values()) == {("hubfleet.yaml: key 'jsonnet' changed",)}
