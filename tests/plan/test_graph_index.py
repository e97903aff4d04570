"""The graph's per-unit index gives the graph and the plans of the straightforward
algorithm it replaced: a unit depends on a file its jsonnet reads unless one of
its own folder edges holds it, found by scanning every edge of every folder above
the file (quadratic in the hubs of a shared chart), and `paths_of` by scanning
every edge of the graph."""

from __future__ import annotations

import gc
import shutil
from pathlib import Path
from typing import Any

import pytest

from hubfleet.config.fleet import Fleet
from hubfleet.config.load import load_fleet
from hubfleet.plan import planner as plan_module
from hubfleet.plan.changes import Change
from hubfleet.plan.graph import Graph, UnitKey, build_graph
from hubfleet.plan.planner import make_plan
from tests.conftest import TEST_FLEET

LAYOUT = Path(__file__).parents[1] / "fixtures" / "layout2i2c" / "fleet"
C = "config/clusters"
GENERATED_HUBS = 40


def reference_covers(graph: Graph, key: UnitKey, path: str) -> bool:
    """The replaced coverage test: every edge of every folder above `path`."""
    folder = path
    while "/" in folder:
        folder = folder.rsplit("/", 1)[0]
        if any(edge.unit == key for edge in graph.folders.get(folder, ())):
            return True
    return False


def reference_paths_of(graph: Graph, key: UnitKey) -> list[str]:
    return sorted(
        {
            path
            for index in (graph.exact, graph.folders)
            for path, edges in index.items()
            if any(edge.unit == key for edge in edges)
        }
    )


def dump(graph: Graph) -> dict[str, Any]:
    """Everything the plan reads from a graph, edge order included."""
    return {
        "units": dict(graph.units),
        "exact": {path: list(edges) for path, edges in graph.exact.items()},
        "folders": {path: list(edges) for path, edges in graph.folders.items()},
        "cluster_files": dict(graph.cluster_files),
        "cluster_units": {k: list(v) for k, v in graph.cluster_units.items()},
        "remote_chart_users": {k: list(v) for k, v in graph.remote_chart_users.items()},
        "chart_users": {k: list(v) for k, v in graph.chart_users.items()},
        "globs": graph.globs,
        "all_units": list(graph.all_units()),
    }


def reference_graph(fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> Graph:
    with monkeypatch.context() as patch:
        patch.setattr(Graph, "covers", reference_covers)
        return build_graph(fleet)


def generated(root: Path) -> Path:
    """layout2i2c with jsonnet imports inside and outside the charts, a chart_override
    folder whose jsonnet reads basehub's library, and a cluster of GENERATED_HUBS
    hubs (every tenth on daskhub, some with their own jsonnet values file)."""
    shutil.copytree(LAYOUT, root, symlinks=True)
    (root / "lib").mkdir()
    (root / "lib/common.libsonnet").write_text("{ limit: 3 }\n")
    (root / "lib/note.txt").write_text("hello\n")
    basehub = root / "helm-charts/basehub/values.jsonnet"
    basehub.write_text("local c = import '../../lib/common.libsonnet';\n" + basehub.read_text())
    shutil.copytree(root / "helm-charts/basehub", root / "helm-charts/custom", symlinks=True)
    sample = root / C / "gcp-one"
    folder = root / C / "gen"
    folder.mkdir()
    shutil.copy(sample / "enc-deployer-credentials.secret.json", folder)
    lines = [
        "name: gen",
        "provider: gcp",
        "gcp: {key: enc-deployer-credentials.secret.json, project: p, cluster: c, zone: z}",
        "support:",
        "  helm_chart_values_files: [support.values.yaml, enc-support.secret.values.yaml]",
        "hubs:",
    ]
    (folder / "support.values.yaml").write_text("{}\n")
    shutil.copy(sample / "enc-support.secret.values.yaml", folder)
    for index in range(GENERATED_HUBS):
        hub = "staging" if index == 0 else f"hub{index:02d}"
        chart = "daskhub" if index % 10 == 5 else "basehub"
        files = ["common.values.yaml", f"{hub}.values.yaml", f"enc-{hub}.secret.values.yaml"]
        (folder / f"{hub}.values.yaml").write_text("{}\n")
        shutil.copy(sample / "enc-research.secret.values.yaml", folder / files[2])
        if index % 4 == 1:  # its own jsonnet, reading its chart's library and a note
            files.append(f"{hub}.jsonnet")
            (folder / f"{hub}.jsonnet").write_text(
                "local l = import '../../../helm-charts/basehub/lib.libsonnet';\n"
                "local n = importstr '../../../lib/note.txt';\n{}\n"
            )
        lines += [f"- name: {hub}", f"  domain: {hub}.gen.example.org", f"  helm_chart: {chart}"]
        lines.append(f"  helm_chart_values_files: [{', '.join(files)}]")
        if index % 13 == 7:
            lines.append("  chart_override: ../../../helm-charts/custom")
    (folder / "common.values.yaml").write_text("{}\n")
    (folder / "cluster.yaml").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def generated_fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    return load_fleet(generated(tmp_path_factory.mktemp("graph") / "fleet")).fleet_or_raise()


@pytest.fixture(scope="module")
def fleets(generated_fleet: Fleet) -> dict[str, Fleet]:
    return {
        "layout2i2c": load_fleet(LAYOUT).fleet_or_raise(),
        "test fleet": load_fleet(TEST_FLEET).fleet_or_raise(),
        "generated": generated_fleet,
    }


@pytest.mark.parametrize("name", ["layout2i2c", "test fleet", "generated"])
def test_graph_is_the_reference_graph(
    name: str, fleets: dict[str, Fleet], monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = fleets[name]
    graph = build_graph(fleet)
    reference = reference_graph(fleet, monkeypatch)
    assert dump(graph) == dump(reference)
    assert graph.units, "an empty graph compares equal to anything"
    for key in graph.units:
        assert graph.paths_of(key) == reference_paths_of(reference, key), key


def reads(graph: Graph) -> dict[str, set[UnitKey]]:
    """The files units depend on because a jsonnet file reads them."""
    found: dict[str, set[UnitKey]] = {}
    for path, edges in graph.exact.items():
        for edge in edges:
            if edge.role.endswith(" reads") and edge.unit is not None:
                found.setdefault(path, set()).add(edge.unit)
    return found


def test_generated_fleet_has_covered_and_uncovered_reads(generated_fleet: Fleet) -> None:
    """The comparison above is not vacuous: imports outside a unit's folders are
    edges, imports inside them are not."""
    graph = build_graph(generated_fleet)
    found = reads(graph)
    hubs = [h for c in generated_fleet.clusters for h in c.hubs]
    assert found["lib/common.libsonnet"] == {(h.cluster, h.name) for h in hubs}
    with_jsonnet = {
        (h.cluster, h.name)
        for h in generated_fleet.cluster("gen").hubs
        if any(f.endswith(".jsonnet") for f in h.values_files)
    }
    assert len(with_jsonnet) == GENERATED_HUBS // 4
    assert found["lib/note.txt"] == with_jsonnet
    overridden = {("gen", h.name) for h in generated_fleet.cluster("gen").hubs if h.chart_override}
    assert len(overridden) == 3, "the generated fleet has chart_override folders"
    # basehub's library: inside basehub (and daskhub's chain) for every hub but those
    # whose chart is an override folder (a replacement Chart.yaml keeps basehub's).
    assert found["helm-charts/basehub/lib.libsonnet"] == overridden
    assert not graph.covers(("gen", "hub07"), "helm-charts/basehub/lib.libsonnet")
    assert graph.covers(("gen", "hub05"), "helm-charts/basehub/lib.libsonnet")  # daskhub chain
    assert graph.covers(("gen", "hub01"), "helm-charts/basehub/templates/x.yaml")
    assert not graph.covers(("gen", "hub01"), "helm-charts/basehub")  # a folder, not inside it
    assert not graph.covers(("nowhere", None), "helm-charts/basehub/values.yaml")


def test_plans_are_the_reference_plans(
    generated_fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every file of the fleet changed alone, and all of them at once, plan the same
    jobs with the same reasons as with the reference graph."""
    root = generated_fleet.root
    paths = sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir())
    paths += ["helm-charts/basehub", "helm-charts/nowhere/x.yaml", "README.md"]
    change_sets = [[Change(p)] for p in paths] + [[Change(p) for p in paths]]

    def plans_with(graph: Graph) -> list[dict[str, Any]]:
        with monkeypatch.context() as patch:  # the graph built once, not once per plan
            patch.setattr(plan_module, "build_graph", lambda fleet: graph)
            return [make_plan(generated_fleet, changes).to_json() for changes in change_sets]

    plans = plans_with(build_graph(generated_fleet))
    assert plans == plans_with(reference_graph(generated_fleet, monkeypatch))
    selected = [p for p in plans if p["prod_jobs"] or p["staging_jobs"] or p["support_jobs"]]
    assert len(selected) > len(paths) // 2, "most single-file plans select something"


def test_collector_is_paused_while_planning_and_running_while_rendering(
    generated_fleet: Fleet,
) -> None:
    """Planning runs with the cyclic collector off (no full collections walking the
    fleet), rendering for --rendered with it on, and the collector's state is as it
    was afterwards, also when planning fails."""
    seen: list[bool] = []

    def render_check(keys: object) -> dict[UnitKey, str]:
        seen.append(gc.isenabled())
        return {}

    real_build = plan_module.build_graph

    def build(fleet: Fleet) -> Graph:
        seen.append(gc.isenabled())
        return real_build(fleet)

    change = [Change("helm-charts/basehub/values.yaml")]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plan_module, "build_graph", build)
        assert gc.isenabled()
        make_plan(generated_fleet, change, render_check=render_check)
        assert seen == [False, True] and gc.isenabled()
        gc.disable()
        try:
            make_plan(generated_fleet, change, render_check=render_check)
            assert seen[2:] == [False, True] and not gc.isenabled()
        finally:
            gc.enable()

        def failing(fleet: Fleet) -> Graph:
            raise OSError("boom")

        patch.setattr(plan_module, "build_graph", failing)
        with pytest.raises(OSError):
            make_plan(generated_fleet, change)
        assert gc.isenabled()
