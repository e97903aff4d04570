"""The scheduled health workflow's matrix (`hubfleet ci health-matrix`): one job per
cluster, from the fleet (a scheduled run: every cluster CI reaches) or from a push's
plan (after a Terraform-only change: the clusters with a terraform job and no helm
job, whose hubs nothing else checks). Never a list of names kept in YAML."""

from __future__ import annotations

from hubfleet.ci.workflows import Matrix, MatrixEntry
from hubfleet.config.fleet import Fleet
from hubfleet.config.providers import CI_PROVIDERS
from hubfleet.plan.plan import Plan
from hubfleet.plan.schema import JOB_LISTS


def health_matrix(fleet: Fleet, plan: Plan | None = None) -> Matrix:
    """`{"include": [{"cluster", "provider"}]}`: every cluster of the fleet (`plan`
    None), or the plan's Terraform-only clusters that the fleet has. Sorted by name;
    clusters of a provider CI does not reach (`local`) are in `not_deployed`."""
    clusters = {c.name: c.provider for c in fleet.clusters if c.hubs}
    if plan is not None:
        helm = {job.cluster for key, _ in JOB_LISTS for job in getattr(plan, key)}
        terraform_only = {job.cluster for job in plan.terraform_jobs} - helm
        clusters = {name: p for name, p in clusters.items() if name in terraform_only}
    entries = [MatrixEntry(name, provider) for name, provider in sorted(clusters.items())]
    return Matrix(
        include=tuple(e for e in entries if e.provider in CI_PROVIDERS),
        not_deployed=tuple(e for e in entries if e.provider not in CI_PROVIDERS),
    )
