"""Generated Terraform values sit at the nesting of the hub's chart (issue 24, point 3).

The layout2i2c fixture's `tf-nesting` cluster has a basehub hub (`staging`) and a
daskhub hub (`dask`) with bucket access: their generated files keep z2jh's keys under
`jupyterhub.` and `basehub.jupyterhub.`, rendered with the real charts and accepted by
basehub's values schema; the top-level shape the generator used to write is refused by
basehub and ignored by daskhub, and read as stale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from hubfleet.base.redact import Redactor
from hubfleet.config.fleet import Fleet
from hubfleet.config.load import load_fleet
from hubfleet.helm import engine
from hubfleet.release.pipeline import hub_release
from hubfleet.release.values import ReleaseValues
from hubfleet.secrets.sops import Sops
from hubfleet.terraform.inputs import compute
from hubfleet.terraform.values import render, secret_values_file, stale, values_file, write
from hubfleet.validate.run import Selection, validate

CLUSTER = "tf-nesting"
AGE_KEY = Path(__file__).resolve().parents[1] / "fixtures" / "age" / "keys.txt"
BUCKET = "gs://tf-nesting-project-tf-nesting-scratch"
# z2jh's user keys as the generator writes them, before the nesting.
TOP_LEVEL = {
    "singleuser": {"serviceAccountName": "user-sa", "extraEnv": {"SCRATCH_BUCKET": BUCKET}}
}


def top_level(hub: str) -> dict[str, Any]:
    """TOP_LEVEL with the hub's cost label (every generated file has it)."""
    user = {**TOP_LEVEL["singleuser"], "extraLabels": {"hubfleet/hub": hub}}
    return {"singleuser": user}


def _fleet(root: Path) -> Fleet:
    return load_fleet(root).fleet_or_raise()


def _outputs() -> dict[str, Any]:
    return {"hub_values": {"sensitive": False, "value": {}}}


def _generated(root: Path, hub: str) -> Any:
    fleet = _fleet(root)
    return yaml.safe_load((root / values_file(fleet.cluster(CLUSTER), hub)).read_text())


def test_each_hub_gets_its_charts_nesting(layout: Path) -> None:
    fleet = _fleet(layout)
    cluster = fleet.cluster(CLUSTER)
    files = render(fleet, cluster, compute(cluster), _outputs())
    staging = yaml.safe_load(files[values_file(cluster, "staging")])
    dask = yaml.safe_load(files[values_file(cluster, "dask")])
    assert staging == {"jupyterhub": top_level("staging")}
    assert dask == {"basehub": {"jupyterhub": top_level("dask")}}
    # the committed fixture is what the generator writes, and is fresh
    assert _generated(layout, "staging") == staging
    assert _generated(layout, "dask") == dask
    assert stale(fleet, cluster, compute(cluster)) == []


def test_the_fleet_setting_wins(layout: Path) -> None:
    with (layout / "hubfleet.yaml").open("a") as handle:
        handle.write("z2jh_values_keys:\n  basehub: ''\n  daskhub: hub.jupyterhub\n")
    fleet = _fleet(layout)
    cluster = fleet.cluster(CLUSTER)
    files = render(fleet, cluster, compute(cluster), _outputs())
    assert yaml.safe_load(files[values_file(cluster, "staging")]) == top_level("staging")
    assert yaml.safe_load(files[values_file(cluster, "dask")]) == {
        "hub": {"jupyterhub": top_level("dask")}
    }
    # the committed files are now at the wrong nesting: stale, at each file
    problems = stale(fleet, cluster, compute(cluster))
    assert {(p.path.rsplit("/", 1)[-1], p.message.split(" is stale")[0]) for p in problems} == {
        ("staging.terraform.values.yaml", "singleuser.serviceAccountName"),
        ("staging.terraform.values.yaml", "singleuser.extraEnv"),
        ("staging.terraform.values.yaml", "singleuser.extraLabels"),
        ("dask.terraform.values.yaml", "hub.jupyterhub.singleuser.serviceAccountName"),
        ("dask.terraform.values.yaml", "hub.jupyterhub.singleuser.extraEnv"),
        ("dask.terraform.values.yaml", "hub.jupyterhub.singleuser.extraLabels"),
    }


def test_a_top_level_file_is_stale_for_a_wrapper_chart(layout: Path) -> None:
    fleet = _fleet(layout)
    cluster = fleet.cluster(CLUSTER)
    path = layout / values_file(cluster, "dask")
    path.write_text(yaml.safe_dump(TOP_LEVEL))
    problems = stale(fleet, cluster, compute(cluster))
    assert [p.message for p in problems] == [
        "basehub.jupyterhub.singleuser.serviceAccountName is stale (cluster.yaml's "
        "terraform block changed)",
        "basehub.jupyterhub.singleuser.extraEnv is stale (cluster.yaml's terraform block changed)",
        "basehub.jupyterhub.singleuser.extraLabels is stale (cluster.yaml's terraform block "
        "changed)",
    ]
    assert {p.path for p in problems} == {values_file(cluster, "dask")}


def _coalesced(fleet: Fleet, hub: str) -> tuple[dict[str, Any], list[str]]:
    """The hub's values as its real chart sees them (defaults coalesced, subcharts
    included), and the chart's schema problems with them."""
    values = ReleaseValues(fleet, sops=None)
    release = hub_release(fleet, fleet.cluster(CLUSTER).hub(hub))
    chart = values.chart(release)
    merged = values.merged(release)
    return engine.coalesced_values(chart, merged), engine.check_values(chart, merged)


def test_the_real_charts_read_them(layout: Path, real_dask_chart_cache: Path) -> None:
    fleet = _fleet(layout)
    staging, problems = _coalesced(fleet, "staging")
    assert problems == []
    user = staging["jupyterhub"]["singleuser"]
    assert user["serviceAccountName"] == "user-sa"
    assert user["extraEnv"]["SCRATCH_BUCKET"] == BUCKET
    dask, problems = _coalesced(fleet, "dask")
    assert problems == []
    user = dask["basehub"]["jupyterhub"]["singleuser"]
    assert user["serviceAccountName"] == "user-sa"
    assert user["extraEnv"]["SCRATCH_BUCKET"] == BUCKET
    # daskhub's own value under the same key is kept beside it
    assert "DASK_GATEWAY__ADDRESS" in user["extraEnv"]


def test_the_old_top_level_shape_is_refused_by_basehub_and_ignored_by_daskhub(
    layout: Path, real_dask_chart_cache: Path
) -> None:
    fleet = _fleet(layout)
    cluster = fleet.cluster(CLUSTER)
    for hub in ("staging", "dask"):
        (layout / values_file(cluster, hub)).write_text(yaml.safe_dump(TOP_LEVEL))
    fleet = _fleet(layout)
    _, problems = _coalesced(fleet, "staging")
    assert any("singleuser" in p for p in problems), problems
    dask, problems = _coalesced(fleet, "dask")
    assert problems == []  # daskhub has no schema: the keys are silently ignored
    assert "SCRATCH_BUCKET" not in dask["basehub"]["jupyterhub"]["singleuser"]["extraEnv"]


def test_validate_accepts_the_cluster_with_the_real_charts(
    layout: Path, real_dask_chart_cache: Path
) -> None:
    sops = Sops(Redactor(), cwd=layout, env={"SOPS_AGE_KEY_FILE": str(AGE_KEY)})
    result = validate(layout, selection=Selection(cluster=CLUSTER), sops=sops)
    assert [p.render() for p in result.problems] == []
    assert len(result.rendered) == 3, result.rendered  # both hubs and support


def test_the_encrypted_values_nest_too(layout: Path) -> None:
    fleet = _fleet(layout)
    cluster = fleet.cluster(CLUSTER)
    redactor = Redactor()
    outputs = {
        **_outputs(),
        "hub_secrets": {
            "sensitive": True,
            "value": {"staging": {"TOKEN": "tok-s3cr3t"}, "dask": {"TOKEN": "tok2-s3cr3t"}},
        },
    }
    written = write(fleet, cluster, compute(cluster), outputs, redactor)
    assert {w.path for w in written if w.encrypted} == {
        secret_values_file(cluster, "staging"),
        secret_values_file(cluster, "dask"),
    }
    sops = Sops(redactor, cwd=layout, env={"SOPS_AGE_KEY_FILE": str(AGE_KEY)})
    staging = yaml.safe_load(sops.decrypt(layout / secret_values_file(cluster, "staging")))
    dask = yaml.safe_load(sops.decrypt(layout / secret_values_file(cluster, "dask")))
    assert staging == {"jupyterhub": {"singleuser": {"extraEnv": {"TOKEN": "tok-s3cr3t"}}}}
    assert dask == {
        "basehub": {"jupyterhub": {"singleuser": {"extraEnv": {"TOKEN": "tok2-s3cr3t"}}}}
    }
    assert "tok-s3cr3t" not in (layout / secret_values_file(cluster, "staging")).read_text()
