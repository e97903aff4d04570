"""A hub's z2jh values are read where hubfleet.yaml's `z2jh_values_keys` says.

The health check reads a hub's z2jh values (`ReleaseValues.hub_values`) and `new hub`
writes a new hub's values at its chart's nesting: both follow the fleet's setting,
not only the chart's dependencies (the layout2i2c fixture's `tf-nesting` cluster:
`staging` on basehub, `dask` on daskhub).
"""

from __future__ import annotations

from pathlib import Path

from hubfleet.config.load import load_fleet
from hubfleet.release.pipeline import hub_release
from hubfleet.release.values import ReleaseValues

CLUSTER = "tf-nesting"


def _user(root: Path, hub: str) -> object:
    fleet = load_fleet(root).fleet_or_raise()
    values = ReleaseValues(fleet, sops=None)
    release = hub_release(fleet, fleet.cluster(CLUSTER).hub(hub))
    return values.hub_values(release, placeholders=True).get("singleuser", {})


def test_the_charts_dependencies_decide_by_default(layout: Path) -> None:
    assert _user(layout, "staging") != {}
    assert _user(layout, "dask") != {}


def test_the_fleet_setting_wins(layout: Path) -> None:
    # the files keep z2jh's keys under jupyterhub. / basehub.jupyterhub.: read from the
    # top (basehub: '') they are not z2jh's, and under another key they are not there
    with (layout / "hubfleet.yaml").open("a") as handle:
        handle.write("z2jh_values_keys:\n  basehub: ''\n  daskhub: hub.jupyterhub\n")
    assert _user(layout, "staging") == {}
    assert _user(layout, "dask") == {}
