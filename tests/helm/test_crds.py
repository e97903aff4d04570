"""A chart's CRDs as a deploy applies them (`hubfleet.helm.crds`, `hubfleet.deploy.crds`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from tests.conftest import SHARED_CHARTS
from tests.helpers import copy_layout

from hubfleet.base.argv import ArgvError
from hubfleet.base.errors import ChartError
from hubfleet.config.load import load_fleet
from hubfleet.deploy.crds import apply_argv, get_argv
from hubfleet.helm.charts import ChartResolver
from hubfleet.helm.crds import (
    DIGEST_ANNOTATION,
    apply_stream,
    changed,
    chart_crds,
    crds_of_text,
    live_digests,
)

DASK = SHARED_CHARTS / "dask-gateway-2026.3.0.tgz"
CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {name}
  annotations:
    owner: chart
spec:
  group: example.org
  names: {{kind: Thing, plural: things}}
"""


def test_the_real_daskhub_build_carries_dask_gateways_crds(
    tmp_path: Path, real_dask_chart_cache: Path
) -> None:
    """daskhub (basehub through file://, dask-gateway from its archive), built as a
    deploy builds it: the CRDs of the dask-gateway archive inside its charts/."""
    root = copy_layout(tmp_path)
    fleet = load_fleet(root).fleet_or_raise()
    built = ChartResolver(root=root).resolve(fleet.chart_source("daskhub"))
    found = chart_crds(built, "'daskhub'")
    assert len(found.crds) == 11 and found.ignored == ()
    assert "daskclusters.gateway.dask.org" in found.names
    assert list(found.names) == sorted(found.names)
    basehub = chart_crds(ChartResolver(root=root).resolve(fleet.chart_source("basehub")), "b")
    assert basehub.crds == ()  # z2jh has none


def test_crds_are_found_at_any_depth(tmp_path: Path) -> None:
    """outer -> charts/mid/ (a folder, with its own crds/) -> charts/dask-gateway-*.tgz."""
    if not DASK.is_file():
        pytest.skip(f"the real dask-gateway chart is not in {SHARED_CHARTS}")
    outer = tmp_path / "outer"
    mid = outer / "charts" / "mid"
    (mid / "crds").mkdir(parents=True)
    (mid / "charts").mkdir()
    shutil.copyfile(DASK, mid / "charts" / DASK.name)
    (outer / "Chart.yaml").write_text("apiVersion: v2\nname: outer\nversion: 0.1.0\n")
    (mid / "Chart.yaml").write_text("apiVersion: v2\nname: mid\nversion: 0.1.0\n")
    (mid / "crds" / "things.yaml").write_text(
        CRD.format(name="things.example.org") + "---\napiVersion: v1\nkind: Namespace\n"
        "metadata:\n  name: not-a-crd\n"
    )
    found = chart_crds(outer, "outer")
    assert "things.example.org" in found.names
    assert "daskclusters.gateway.dask.org" in found.names
    assert found.ignored == ("Namespace/not-a-crd",)  # never applied


def test_a_chart_that_cannot_be_loaded_says_so(tmp_path: Path) -> None:
    (tmp_path / "Chart.yaml").write_text("name: [broken\n")
    with pytest.raises(ChartError, match="cannot read its CRDs"):
        chart_crds(tmp_path, "broken")


def test_the_digest_is_of_the_content_not_its_spelling() -> None:
    one = crds_of_text(CRD.format(name="things.example.org"), "a").crds[0]
    respelled = (
        "# a comment\nkind: CustomResourceDefinition\napiVersion: 'apiextensions.k8s.io/v1'\n"
        "spec: {names: {plural: things, kind: Thing}, group: example.org}\n"
        "metadata: {annotations: {owner: chart}, name: things.example.org}\n"
    )
    assert crds_of_text(respelled, "b").crds[0].digest == one.digest
    other = crds_of_text(CRD.format(name="things.example.org").replace("Thing", "Other"), "c")
    assert other.crds[0].digest != one.digest
    # The applied document: the chart's, its annotations kept, the digest added.
    assert one.document["metadata"]["annotations"] == {
        "owner": "chart",
        DIGEST_ANNOTATION: one.digest,
    }
    [parsed] = [d for d in yaml.safe_load_all(apply_stream([one])) if d]
    assert parsed == one.document


def test_the_clusters_answer_decides_what_is_applied() -> None:
    crds = crds_of_text(
        CRD.format(name="a.example.org") + "---\n" + CRD.format(name="b.example.org"), "x"
    ).crds
    a, b = crds
    listed = {"kind": "List", "items": [dict(a.document)]}
    assert live_digests(json.dumps(listed)) == {"a.example.org": a.digest}
    assert live_digests(json.dumps(b.document)) == {"b.example.org": b.digest}  # one object
    assert live_digests("") == {}
    bare = {"metadata": {"name": "a.example.org"}}
    assert live_digests(json.dumps(bare)) == {"a.example.org": ""}  # helm's first install
    assert changed(crds, {"a.example.org": a.digest}) == (b,)
    assert changed(crds, {"a.example.org": "sha256:old", "b.example.org": b.digest}) == (a,)
    assert changed(crds, {"a.example.org": a.digest, "b.example.org": b.digest}) == ()


def test_kubectl_gets_names_after_double_dash_and_never_deletes() -> None:
    words = get_argv(["a.example.org"], "/k/config")
    assert words[words.index("--") + 1 :] == ["a.example.org"]
    assert "--kubeconfig=/k/config" in words
    with pytest.raises(ArgvError):
        get_argv(["--all"], None)  # a hostile chart's CRD name never becomes an option
    apply = apply_argv(None, dry_run=False)
    assert apply[:3] == ["kubectl", "apply", "--server-side"]
    assert not {"delete", "replace", "--prune"} & set(apply)
    assert "--dry-run=server" in apply_argv(None, dry_run=True)
