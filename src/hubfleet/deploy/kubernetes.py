"""The helm release backend: releases of a cluster whose target kind is `kubernetes`.

Per deploy: helm's version, detected once (the flags every upgrade gets). Per
cluster: the releases' states from one `helm list`. Per release: `helm upgrade
--install` with the release's values files as `helm -f` gets them (each file's own
bytes, decrypted in memory, through pipes; from the deploy's one `ReleaseValues`),
retried with a doubling backoff while the API's rate limit refuses it, then its
rollout watched (`deploy/rollout.py`); a failed rollout is rolled back to the
revision the release had before (`helm rollback`).

Every upgrade carries hubfleet's record (`hubfleet.live`): the checkout's commit,
hubfleet's version and the digest of the release's inputs, as `--description` (and
labels where helm has them); the commit is read once per deploy. The rollback after
a failed rollout needs no record of its own: helm calls it "Rollback to N", and the
revision before it (this deploy's, with its record) says which commit it undid.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hubfleet.base.errors import HubfleetError
from hubfleet.base.runner import Cancelled
from hubfleet.deploy import rollout
from hubfleet.deploy.backend import (
    Preflight,
    Progress,
    ReleaseOutcome,
    Rollback,
    Session,
    joined,
)
from hubfleet.deploy.crds import ChartCrdsReader, ClusterCrds
from hubfleet.health import kubernetes as health
from hubfleet.helm import cli as helm
from hubfleet.live.checkout import Recorder
from hubfleet.live.record import describe, labels
from hubfleet.providers.base import Credentials, ProviderContext
from hubfleet.release.pipeline import Release


def preflight(job: Preflight) -> None:
    """What the job hands helm (and kubectl, for a canary's check), built now: a value
    that would be read as an option, or is not of its kind, raises `ArgvError`."""
    source = job.release.chart
    chart = helm.chart_ref(
        local_dir=source.local_dir,
        name=source.name,
        repository=source.repository,
        version=source.version,
    )
    helm.upgrade_argv(
        release=job.release.name,
        namespace=job.release.namespace,
        chart=chart,
        values_paths=(),
        flags=helm.flags_for(helm.HelmVersion(3, 0, 0)),
        helm_timeout=job.helm_timeout,
        dry_run=job.dry_run,
    )
    if job.hub is not None and job.gated:
        health.check_arguments(job.hub)


@dataclass(frozen=True)
class HelmBackend:
    """`ReleaseBackend` of helm (see the module)."""

    session: Session
    flags: helm.HelmFlags
    production_check: bool = True
    result_name: str = "helm's result"
    listing: str = "helm list"
    crd_reader: ChartCrdsReader = dataclasses.field(default_factory=ChartCrdsReader)
    recorder: Recorder | None = None  # None: upgrades without a record (tests of old paths)

    @property
    def helm_version(self) -> str | None:
        return str(self.flags.version)

    def for_cluster(
        self, context: ProviderContext, creds: Credentials, releases: Sequence[Release]
    ) -> HelmCluster:
        env = {**self.session.extra_env, **creds.env}
        states = helm.release_states(
            [(r.name, r.namespace) for r in releases],
            env=env,
            redactor=self.session.redactor,
            cancel=self.session.cancel,
        )
        cluster_crds = ClusterCrds(self.session, env, self.crd_reader)
        return HelmCluster(
            self.session, self.flags, context, env, states, cluster_crds, self.recorder
        )


def backend(session: Session) -> HelmBackend:
    """The deploy's helm backend: helm's version detected once (raises when helm is
    missing), the checkout's commit read once for every release's record."""
    flags = helm.detect_version(redactor=session.redactor, env=session.extra_env)
    recorder = Recorder.for_checkout(session.values, session.redactor)
    return HelmBackend(session, flags, recorder=recorder)


@dataclass(frozen=True)
class HelmCluster:
    """`ClusterBackend` of helm: one cluster's releases and their states."""

    session: Session
    flags: helm.HelmFlags
    context: ProviderContext
    env: Mapping[str, str]  # the deploy's variables and the cluster's credentials
    states: Mapping[tuple[str, str], helm.ReleaseState]
    crds: ClusterCrds
    recorder: Recorder | None = None

    def deploy(self, release: Release, progress: Progress) -> ReleaseOutcome:
        """The chart's changed CRDs applied (`deploy/crds.py`), the upgrade, then (unless a
        dry run) its rollout watched; a failed rollout is rolled back and the outcome says so."""
        session = self.session
        applied = self.crds.before_upgrade(release)
        if applied:
            progress(ReleaseOutcome("running", applied))
        result, retried = self._upgrade_retrying(release)
        notes = [applied]
        notes.append(f"recovered from {result.recovered.status} first" if result.recovered else "")
        notes.append(f"retried {retried} time(s) after the API's rate limit" if retried else "")
        done = ReleaseOutcome(
            "running",
            joined(*notes),
            revision=result.revision,
            output_tail=result.output_tail,
            command=result.command.replace(f"{session.fleet.root}/", ""),
        )
        progress(done)
        if not session.dry_run:
            progress(dataclasses.replace(done, message=joined(*notes, "watching the rollout")))
            try:
                notes.append(self._watch(release, result.revision))
            except rollout.RolloutFailed as exc:
                back = self.roll_back(release)
                return dataclasses.replace(
                    done,
                    status="failed",
                    message=joined(f"rollout failed: {exc}", back.message),
                    output_tail=exc.logs,
                    rolled_back=back.revision,
                )
        return dataclasses.replace(done, status="succeeded", message=joined(*notes))

    def roll_back(self, release: Release) -> Rollback:
        """`helm rollback` to the revision the release had before this deploy (from the
        cluster's `helm list`)."""
        state = self.states.get((release.name, release.namespace))
        if state is None or state.revision < 1:
            return Rollback("not rolled back: it had no earlier revision (first install)")
        try:
            helm.rollback_to(
                release.name,
                release.namespace,
                state.revision,
                env=self.env,
                redactor=self.session.redactor,
                helm_timeout=self.session.helm_timeout,
                cancel=self.session.cancel,
            )
        except HubfleetError as exc:
            return Rollback(f"rollback to revision {state.revision} failed: {exc}")
        return Rollback(f"rolled back to revision {state.revision}", state.revision)

    def _upgrade_retrying(self, release: Release) -> tuple[helm.UpgradeResult, int]:
        """The upgrade, retried with a doubling backoff while the API's rate limit refuses
        it (at most `deploy.rate_limit_retries` times); (result, retries)."""
        settings = self.session.fleet.settings.deploy
        delay = settings.rate_limit_backoff_s
        for attempt in range(settings.rate_limit_retries + 1):
            try:
                return self._upgrade(release), attempt
            except helm.ProgramFailed as exc:
                if not helm.rate_limited(exc.stderr or exc.message):
                    raise
                if attempt == settings.rate_limit_retries:
                    raise HubfleetError(
                        f"rate-limited by the Kubernetes API {attempt + 1} time(s), "
                        f"gave up: {exc.message}",
                        hint="lower deploy.cluster_parallelism (hubfleet.yaml or cluster.yaml)",
                    ) from None
                if self.session.cancel.wait(delay):
                    raise Cancelled(
                        "cancelled while waiting to retry a rate-limited upgrade"
                    ) from None
                delay *= 2
        raise AssertionError("unreachable")

    def _upgrade(self, release: Release) -> helm.UpgradeResult:
        session = self.session
        source = release.chart
        chart = helm.chart_ref(
            local_dir=session.values.charts.local_chart(source),
            name=source.name,
            repository=source.repository,
            version=source.version,
        )
        # helm gets each file's own bytes, not re-serialised data: it parses them as
        # plain `helm -f` would.
        values = [helm.ValuesInput(p, data) for p, data in session.values.values_bytes(release)]
        record = None if self.recorder is None else self.recorder.record(release)
        return helm.upgrade(
            release=release.name,
            namespace=release.namespace,
            chart=chart,
            values=values,
            flags=self.flags,
            env=self.env,
            redactor=session.redactor,
            helm_timeout=session.helm_timeout,
            dry_run=session.dry_run,
            recover=session.recover,
            state=self.states.get((release.name, release.namespace)),
            cancel=session.cancel,
            description=None if record is None else describe(record),
            labels=None if record is None else labels(record),
        )

    def _watch(self, release: Release, revision: int | None) -> str:
        """Watch the rollout of the revision just applied; its summary, or `RolloutFailed`."""
        session = self.session
        settings = session.fleet.settings.deploy
        text = rollout.manifest(
            release.name,
            release.namespace,
            revision,
            env=self.env,
            redactor=session.redactor,
            cancel=session.cancel,
        )
        workloads = rollout.workloads_of(text, release.namespace)
        if not workloads:
            return ""  # nothing to watch (e.g. a chart of ConfigMaps only)
        result = rollout.watch(
            workloads,
            env=self.env,
            redactor=session.redactor,
            settings=rollout.WatchSettings(
                poll_s=settings.rollout_poll_s,
                unschedulable_grace_s=settings.unschedulable_grace_s,
            ),
            deadline_s=helm.duration_seconds(session.helm_timeout),
            cancel=session.cancel,
        )
        return f"rolled out ({result.workloads} workload(s), {result.duration_s:.1f} s)"
