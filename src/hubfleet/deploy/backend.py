"""How a release reaches its target: one release backend per target kind.

The orchestrator calls every kind through this small interface, never asking which
it has:

- a `ReleaseBackend` per deploy (made once by its factory in `deploy/kinds.py`'s
  `BACKENDS`, from the deploy's `Session`): its facts (does the production check
  apply, what its result is called in gate messages, the helm version the report
  shows) and, per cluster, `for_cluster()`: the releases' states before the deploy
  (one `helm list`), inside the cluster's credentials;
- a `ClusterBackend` per cluster: `deploy()` one release (-> `ReleaseOutcome`),
  `roll_back()` one to the state it had before this deploy (or say it cannot),
  `uninstall()` a decommissioned hub (`Decommission`: its release, and its data kept
  or deleted as cluster.yaml decided; docs/decommission.md), "already gone" when
  there is nothing left to remove;
- a `PreflightCheck` per kind (`deploy/kinds.py`'s `PREFLIGHTS`): what a job would
  hand its programs, checked before anything runs (`Preflight`), so that a value
  that cannot reach them is exit 2 at its file, not a failure half-way.

`deploy/kubernetes.py` is helm's (`helm upgrade` and its rollout watch),
`deploy/local.py` the local runtime's (a JupyterHub process).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from hubfleet.base.errors import HubfleetError
from hubfleet.base.redact import Redactor
from hubfleet.config.fleet import Cluster, Fleet, Hub, release_label
from hubfleet.plan.job import Job
from hubfleet.providers.base import Credentials, ProviderContext
from hubfleet.release.pipeline import Release
from hubfleet.release.values import ReleaseValues


@dataclass(frozen=True)
class Session:
    """What every backend of one deploy shares: the fleet, its one values pipeline
    (with the deploy's `Sops` and its one `ChartResolver`), and the deploy's options."""

    fleet: Fleet
    values: ReleaseValues
    redactor: Redactor
    cancel: threading.Event
    dry_run: bool
    recover: bool
    helm_timeout: str
    # Variables for every process (tests: PATH with the fake tools).
    extra_env: Mapping[str, str]


@dataclass(frozen=True)
class ReleaseOutcome:
    """What a backend did with one release (also its progress while it works)."""

    status: str  # "succeeded", "unchanged", "failed"; "running" as progress
    message: str = ""
    revision: int | None = None
    output_tail: str = ""
    command: str | None = None  # the command shown in the report (helm's argv)
    rolled_back: int | None = None  # the revision a failure rolled the release back to


@dataclass(frozen=True)
class Rollback:
    """What `roll_back` did, for the job's message; `revision`: the one it went back to."""

    message: str
    revision: int | None = None


@dataclass(frozen=True)
class Decommission:
    """A decommissioned hub to uninstall (an `uninstall` job): its release and namespace
    (both its name) and what cluster.yaml decided for its data."""

    cluster: str
    hub: str
    data: str  # "keep": the namespace and its volumes stay; "delete": the namespace goes
    date: str  # ISO date of the decision

    @property
    def release(self) -> str:
        return self.hub

    @property
    def namespace(self) -> str:
        return self.hub

    @property
    def label(self) -> str:
        return release_label(self.cluster, self.hub)

    @property
    def delete_data(self) -> bool:
        return self.data == "delete"


def decommission_of(cluster: Cluster, job: Job) -> Decommission:
    """The decommissioned entry an uninstall job acts on; an error when the cluster has
    none for its hub (the job was not made from this cluster.yaml)."""
    entry = cluster.decommissioned_hub(job.hub or "")
    if entry is None:
        raise HubfleetError(
            f"{job.label} is not decommissioned in {cluster.file}: not uninstalled",
            path=cluster.file,
            hint="a hub is uninstalled only through its decommissioned: entry",
        )
    return Decommission(cluster.name, entry.name, entry.data, entry.date.isoformat())


@dataclass(frozen=True)
class Preflight:
    """One job as its backend would run it, for the check before the deploy starts:
    its release, its hub (None for a support release), whether the canary gate's
    health check runs for it, and the deploy's options that reach the programs."""

    release: Release
    hub: Hub | None
    gated: bool  # a staging hub whose health check runs (not a dry-run)
    dry_run: bool
    helm_timeout: str


# Raises `HubfleetError` (exit 2, located by the caller) when the job cannot run.
PreflightCheck = Callable[[Preflight], None]


# Called with what a release's deploy has done so far (the record shows it at once).
Progress = Callable[[ReleaseOutcome], None]


class ClusterBackend(Protocol):
    """One cluster's releases, inside its credentials."""

    def deploy(self, release: Release, progress: Progress) -> ReleaseOutcome:
        """Deploy one release; raises `HubfleetError` (or `Cancelled`) when it cannot."""
        ...

    def roll_back(self, release: Release) -> Rollback:
        """Back to the state the release had before this deploy, or say why not."""
        ...

    def uninstall(self, target: Decommission, progress: Progress) -> ReleaseOutcome:
        """Remove a decommissioned hub, its data kept or deleted as decided; "already
        gone" (succeeded) when nothing is left. Raises `HubfleetError` when it cannot."""
        ...


class ReleaseBackend(Protocol):
    """One target kind's backend for a whole deploy."""

    @property
    def production_check(self) -> bool:
        """Whether `deploy.check_production` applies to its production hubs."""
        ...

    @property
    def result_name(self) -> str:
        """What the deploy's own result is called in gate messages ("helm's result")."""
        ...

    @property
    def listing(self) -> str:
        """The step `for_cluster` is, in a cluster's failure message ("helm list")."""
        ...

    @property
    def helm_version(self) -> str | None:
        """The helm version the report shows (None: this kind runs no helm)."""
        ...

    def for_cluster(
        self, context: ProviderContext, creds: Credentials, releases: Sequence[Release]
    ) -> ClusterBackend:
        """The cluster's backend, with its releases' states before the deploy."""
        ...


# Makes a kind's backend once per deploy (helm's detects helm's version).
BackendFactory = Callable[[Session], ReleaseBackend]


@dataclass(frozen=True)
class ClusterRun:
    """What every job of one cluster's pipeline shares: its context and credentials,
    the releases (built once), its kind's backend and the cluster's (with the
    releases' states), and how many upgrades may run on it at once."""

    context: ProviderContext
    kind: ReleaseBackend
    backend: ClusterBackend
    creds: Credentials
    releases: Mapping[Job, Release]
    parallelism: int


def joined(*messages: str) -> str:
    """Messages of one job, in order, the empty ones left out."""
    return "; ".join(m for m in messages if m)
