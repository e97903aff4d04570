"""The local release backend: a hub of a `local` cluster as a JupyterHub process.

What the orchestrator calls instead of `helm upgrade` for a cluster whose
provider's target is `local`: a hub's values come from the deploy's one values
pipeline (secrets decrypted by sops, in memory, never written), are coalesced over
the chart's default values as an install on Kubernetes would (the chart resolved
by the deploy's one resolver; without it, the hub runs on its files' values alone
and the job says so), and the hub runs as a JupyterHub process (`hubfleet.local`).
It keeps no helm revisions, so nothing is rolled back, and the production check
does not apply. The canary gate's check is `hubfleet.local.check`. Each deploy that
changes what a hub runs adds a revision with hubfleet's record to the hub's
`release.json` (`hubfleet.local.records`), read back by `hubfleet status`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from hubfleet.config.fleet import Fleet
from hubfleet.config.models import LocalBlock
from hubfleet.deploy.backend import (
    Decommission,
    Preflight,
    Progress,
    ReleaseOutcome,
    Rollback,
    Session,
)
from hubfleet.helm.nesting import hub_z2jh_values_key
from hubfleet.live.checkout import Recorder
from hubfleet.live.record import describe
from hubfleet.local.fleet import over_chart_defaults, state_dir
from hubfleet.local.records import add_revision, history
from hubfleet.local.runtime import LocalHubSpec, deploy_hub
from hubfleet.local.uninstall import uninstall_hub
from hubfleet.providers.base import Credentials, ProviderContext
from hubfleet.release.pipeline import Release

DEPLOY_TIMEOUT = 180.0
NO_REVISIONS = "not rolled back: this provider keeps no helm revisions"


@dataclass(frozen=True)
class LocalBackend:
    """`ReleaseBackend` of the local runtime (see the module)."""

    session: Session
    production_check: bool = False  # no kubectl, no rollout: a hub keeps its deploy's result
    result_name: str = "the deploy's result"
    listing: str = "local state"
    helm_version: str | None = None
    recorder: Recorder | None = field(default=None, compare=False)

    def for_cluster(
        self, context: ProviderContext, creds: Credentials, releases: Sequence[Release]
    ) -> LocalCluster:
        return LocalCluster(self.session, context, self.recorder)


def backend(session: Session) -> LocalBackend:
    return LocalBackend(session, recorder=Recorder.for_checkout(session.values, session.redactor))


@dataclass(frozen=True)
class LocalCluster:
    """`ClusterBackend` of a local cluster."""

    session: Session
    context: ProviderContext
    recorder: Recorder | None = None

    def deploy(self, release: Release, progress: Progress) -> ReleaseOutcome:
        """Start (or restart, or leave unchanged) one hub of a local cluster."""
        cluster = self.context.cluster
        if release.hub is None:
            return ReleaseOutcome("unchanged", "local clusters have no support release")
        if self.session.dry_run:
            return ReleaseOutcome("succeeded", f"dry run: would run JupyterHub for {release.label}")
        pipeline = self.session.values
        values = pipeline.merged(release)
        chart_values, warning = over_chart_defaults(release.chart, values, charts=pipeline.charts)
        block = cluster.spec.local or LocalBlock()
        result = deploy_hub(
            LocalHubSpec(
                cluster=cluster.name,
                hub=release.hub,
                values=values,
                state_dir=state_dir(self.session.fleet, cluster),
                base_port=block.base_port,
                values_key=z2jh_key(self.session.fleet, release),
                chart_values=chart_values,
            ),
            timeout=DEPLOY_TIMEOUT,
            redactor=self.session.redactor,
        )
        ignored = f"; ignored (Kubernetes-only) keys: {', '.join(result.ignored_keys)}" * bool(
            result.ignored_keys
        )
        message = f"{result.url} (pid {result.pid}, log {result.log_path}){ignored}"
        revision = self._record(release)
        return ReleaseOutcome(
            result.status, f"{warning}; {message}" if warning else message, revision=revision
        )

    def _record(self, release: Release) -> int | None:
        """A revision with the release's record, unless the latest one has it already."""
        if self.recorder is None or release.hub is None:
            return None
        hub_dir = state_dir(self.session.fleet, self.context.cluster) / release.hub
        description = describe(self.recorder.record(release))
        revisions = history(hub_dir)
        if revisions and revisions[-1].get("description") == description:
            return int(revisions[-1]["revision"])
        chart = self.recorder.chart(release)
        return add_revision(
            hub_dir,
            chart=f"{chart.name}-{chart.version}" if chart.version else chart.name,
            app_version=chart.app_version,
            description=description,
        )

    def roll_back(self, release: Release) -> Rollback:
        return Rollback(NO_REVISIONS)

    def uninstall(self, target: Decommission, progress: Progress) -> ReleaseOutcome:
        """A decommissioned local hub: its processes stopped, its folder (database,
        secrets, users' files) kept or deleted as decided (`hubfleet.local.uninstall`)."""
        if self.session.dry_run:
            return ReleaseOutcome("succeeded", f"dry run: would stop and remove {target.label}")
        folder = state_dir(self.session.fleet, self.context.cluster)
        result = uninstall_hub(folder, target.hub, delete_data=target.delete_data)
        return ReleaseOutcome("succeeded", result.message)


def z2jh_key(fleet: Fleet, release: Release) -> str | None:
    """Where the hub's chart keeps z2jh's values (None: at the top), as every other path
    reads it (`hubfleet.helm.nesting`): hubfleet.yaml's `z2jh_values_keys` for the hub's
    chart wins over what the chart's dependencies say."""
    if release.hub is None:
        return None
    return hub_z2jh_values_key(fleet, release.cluster, release.hub, lambda: release.chart)


def preflight(job: Preflight) -> None:
    """Nothing of a local hub's configuration reaches a program's argv (its values go to
    JupyterHub's config file through the runtime), so there is nothing to check."""
    del job
