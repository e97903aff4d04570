"""validate's "nothing creates the service accounts" decides from the hub's render
(issue 24, point 3): silent when the hub's chart creates the account (basehub makes
`user-sa`, through daskhub too), an error when nothing does (a plain z2jh hub, or
basehub with its account turned off), and a warning that says it cannot tell when the
hub cannot be rendered (its chart is not in the cache)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hubfleet.config.load import load_fleet
from hubfleet.helm import charts
from hubfleet.release.values import ReleaseValues
from hubfleet.terraform.check import chart_creates_account, terraform_problems
from hubfleet.validate.run import Selection, validate
from tests.terraform.conftest import copy_example, line_of

CLUSTER = "tf-nesting"
ALARM = "nothing creates the service accounts"


def _problems(root: Path, cluster: str = CLUSTER) -> list[str]:
    result = validate(root, selection=Selection(cluster=cluster), render=False)
    return [p.render() for p in result.problems]


def test_no_alarm_when_the_chart_creates_the_account(
    layout: Path, real_dask_chart_cache: Path
) -> None:
    cluster_yaml = layout / "config" / "clusters" / CLUSTER / "cluster.yaml"
    assert "support.terraform.values.yaml" not in cluster_yaml.read_text()
    assert _problems(layout) == []
    fleet = load_fleet(layout).fleet_or_raise()
    values = ReleaseValues(fleet, sops=None)
    for hub in ("staging", "dask"):
        assert chart_creates_account(fleet, fleet.cluster(CLUSTER).hub(hub), "user-sa", values)
        # another name is not taken for it
        assert not chart_creates_account(fleet, fleet.cluster(CLUSTER).hub(hub), "other-sa", values)


def test_the_alarm_when_basehub_does_not_create_it(
    layout: Path, real_dask_chart_cache: Path
) -> None:
    values = layout / "config" / "clusters" / CLUSTER / "staging.values.yaml"
    data = yaml.safe_load(values.read_text())
    data["userServiceAccount"] = {"enabled": False}
    values.write_text(yaml.safe_dump(data))
    cluster_yaml = layout / "config" / "clusters" / CLUSTER / "cluster.yaml"
    [problem] = _problems(layout)
    assert problem.startswith(
        f"config/clusters/{CLUSTER}/cluster.yaml:{line_of(cluster_yaml, 'hub_access:')}: "
    )
    assert ALARM in problem
    assert "the chart of staging does not create it either" in problem
    assert "dask" not in problem.split("(hint:")[0].replace(f"{CLUSTER}", "")


def test_without_a_render_it_says_so_instead_of_the_alarm(
    layout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the autouse empty chart cache: basehub's z2jh dependency is not at hand; with
    # --no-render the check reads the cache only, it pulls nothing
    pulls: list[object] = []
    monkeypatch.setattr(charts, "_pull", lambda *args, **kwargs: pulls.append(args))
    problems = _problems(layout)
    assert pulls == []
    assert len(problems) == 2, problems
    for hub, problem in zip(("dask", "staging"), problems, strict=True):
        assert ": warning: " in problem
        assert f"cannot tell whether the chart of hub {hub} creates its service account" in (
            problem
        )
        assert "could not be rendered here" in problem
        assert ALARM not in problem


def test_the_alarm_stays_for_a_plain_z2jh_hub(tmp_path: Path, real_chart_cache: Path) -> None:
    root = copy_example(tmp_path)
    cluster_yaml = root / "config" / "clusters" / "research-aws" / "cluster.yaml"
    cluster_yaml.write_text(
        cluster_yaml.read_text().replace("  - support.terraform.values.yaml\n", "")
    )
    fleet = load_fleet(root).fleet_or_raise()
    [problem] = terraform_problems(fleet, [fleet.cluster("research-aws")])
    assert problem.severity == "error"
    assert ALARM in problem.message
    assert "the chart of research does not create it either" in problem.message
