"""The deploy workflow's matrix counts a cluster whose only job is an uninstall
(docs/decommission.md): the decommissioned hub is removed by the next push."""

from __future__ import annotations

from hubfleet.ci.workflows import build_matrix
from hubfleet.plan.job import Job
from hubfleet.plan.plan import Plan


def test_a_cluster_with_only_an_uninstall_job_is_in_the_matrix() -> None:
    plan = Plan(
        prod_jobs=(Job("beta", "research", "prod", "aws", ("x",)),),
        uninstall_jobs=(Job("alpha", "prod2", "uninstall", "gcp", ("decommissioned",)),),
    )
    matrix = build_matrix(Plan.from_json(plan.to_json()))
    assert matrix.as_json() == {
        "include": [{"cluster": "alpha", "provider": "gcp"}, {"cluster": "beta", "provider": "aws"}]
    }
