"""One deploy as the CLI runs it: signals, progress view, reports written on every exit."""

from __future__ import annotations

import gc
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubfleet.base import argv, interrupt
from hubfleet.base.atomic import check_writable
from hubfleet.base.errors import HubfleetError
from hubfleet.base.private import remove_all_private_folders
from hubfleet.base.redact import Redactor
from hubfleet.base.runner import terminate_all
from hubfleet.base.yamlio import read_fleet_file
from hubfleet.config.fleet import Fleet
from hubfleet.config.providers import CREDENTIALS_KEY, target_of
from hubfleet.deploy.backend import Preflight
from hubfleet.deploy.kinds import PREFLIGHTS
from hubfleet.deploy.model import JobRecord, Report, sorted_records
from hubfleet.deploy.orchestrator import Deployer, DeployOptions
from hubfleet.deploy.output import (
    LiveView,
    PlainLines,
    append_step_summary,
    junit_xml,
    report_json,
    write_text,
)
from hubfleet.deploy.targets import Targets
from hubfleet.deploy.waves import write_state
from hubfleet.health.gate import HealthCheck
from hubfleet.helm.charts import ChartResolver
from hubfleet.live.checkout import checkout_commit
from hubfleet.plan.job import Job
from hubfleet.providers import get_provider
from hubfleet.release.pipeline import Release, hub_release, require_encrypted, support_release
from hubfleet.release.values import ReleaseValues
from hubfleet.secrets.sops import Sops


@dataclass(frozen=True)
class Outputs:
    report: Path | None = None
    junit: Path | None = None
    live: bool | None = None  # None: a live view when stderr is a terminal


def _stop_now() -> None:
    """A second signal: stop every child, remove the credentials, exit at once."""
    terminate_all(grace=0.5)
    remove_all_private_folders()
    os._exit(interrupt.EXIT_CODE)


@contextmanager
def interrupts(cancel: threading.Event) -> Iterator[None]:
    """SIGINT, SIGTERM, SIGHUP or SIGQUIT set `cancel` (at once when one came before the
    deploy started); a second one stops every child and exits at once."""
    with interrupt.cancelling(cancel, on_repeat=_stop_now):
        yield


def _quiet(view: Callable[[JobRecord], None]) -> Callable[[JobRecord], None]:
    """The progress view, unable to break the deploy: after SIGHUP (a dropped SSH
    session) the terminal is gone and writing to it fails; the report still counts."""

    def show(record: JobRecord) -> None:
        with suppress(OSError, ValueError):
            view(record)

    return show


def deploy(
    fleet: Fleet,
    targets: Targets,
    *,
    options: DeployOptions,
    redactor: Redactor,
    outputs: Outputs,
    health_checks: Mapping[str, HealthCheck],
) -> Report:
    """Run the deploy with signal handling and progress; write the reports; return it."""
    cancel = threading.Event()
    live = outputs.live if outputs.live is not None else sys.stderr.isatty()
    view: Callable[[JobRecord], None]
    context: AbstractContextManager[Any]
    if live:
        live_view = LiveView(targets.jobs, redactor)
        view, context = live_view, live_view
    else:
        view, context = PlainLines(redactor), nullcontext()
    sops = Sops(redactor, cwd=fleet.root)
    # The deploy's one values pipeline: the checks below and every job read through it.
    values = ReleaseValues(fleet, sops=sops, charts=ChartResolver(root=fleet.root))
    check_outputs(outputs)
    try:
        releases = job_releases(fleet, targets)
        check_arguments(fleet, releases, options)
        check_secret_files(fleet, releases, values)
        deployer = Deployer(
            fleet,
            targets.jobs,
            sops=sops,
            redactor=redactor,
            options=options,
            health_checks=health_checks,
            observer=_quiet(view),
            cancel=cancel,
            carried=targets.carried,
            values=values,
            releases=releases,
            rollout=targets.rollout,
            wave_note=_wave_lines(redactor) if not live else None,
        )
        with interrupts(cancel), context, settled_heap():
            report = deployer.run()
        if deployer.rollout_outcome is not None and not options.dry_run:
            with suppress(OSError, HubfleetError):  # the report says it all; the state helps
                commit = checkout_commit(fleet.root, redactor)
                write_state(fleet.root, deployer.rollout_outcome, commit, targets.base)
    except HubfleetError as exc:  # before any job started (helm missing): still a report
        if not cancel.is_set():
            report = not_started(targets, options, redactor.scrub(exc.message))
            with suppress(HubfleetError):
                write_reports(report, outputs, redactor)
            raise
        report = not_started(targets, options, None)  # interrupted before the first job
    write_reports(report, outputs, redactor)
    return report


def _wave_lines(redactor: Redactor) -> Callable[[str], None]:
    """The rollout's progress (a wave starts, soaks, halts), one line each on stderr."""

    def note(line: str) -> None:
        with suppress(OSError, ValueError):
            sys.stderr.write(redactor.scrub(f"rollout: {line}") + "\n")
            sys.stderr.flush()

    return note


@contextmanager
def settled_heap() -> Iterator[None]:
    """While the jobs run, what is alive when they start (modules, the fleet, its
    releases) is left out of the garbage collector's walks (`gc.freeze`): it lives as
    long as the deploy, and each full collection would walk all of it again, for
    nothing. What the jobs make is collected as usual; all is unfrozen after."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def not_started(targets: Targets, options: DeployOptions, why: str | None) -> Report:
    """The report of a deploy that ended before its first job: every job failed with
    `why`, or (None) cancelled by an interrupt."""
    if why is None:
        records = [
            JobRecord(job, status="cancelled", message="cancelled before it started")
            for job in targets.jobs
        ]
    else:
        records = [
            JobRecord(job, status="failed", message=f"not started: {why}") for job in targets.jobs
        ]
    return Report(
        records=sorted_records([*records, *targets.carried]),
        dry_run=options.dry_run,
        interrupted=why is None,
        options=options.to_json(),
    )


def job_releases(fleet: Fleet, targets: Targets) -> dict[Job, Release | None]:
    """Each job's release, built once for the checks before the deploy (None: a
    cluster without a support release, or an uninstall job)."""
    releases: dict[Job, Release | None] = {}
    for job in targets.jobs:
        cluster = fleet.cluster(job.cluster)
        if job.kind == "uninstall":  # a decommissioned hub: no release to build
            releases[job] = None
            continue
        hub = cluster.hub(job.hub) if job.hub is not None else None
        releases[job] = (
            hub_release(fleet, hub) if hub is not None else support_release(fleet, cluster)
        )
    return releases


def check_arguments(
    fleet: Fleet, releases: Mapping[Job, Release | None], options: DeployOptions
) -> None:
    """Every configuration value the jobs would pass to helm, kubectl or a cloud CLI,
    checked before anything runs (`hubfleet.base.argv`): a value that would be read as an
    option, or is not of its kind, is exit 2 at its cluster file. What a job hands its
    programs is its release backend's to check (`deploy/kinds.py`'s `PREFLIGHTS`)."""
    checked: set[str] = set()
    for job, release in releases.items():
        cluster = fleet.cluster(job.cluster)
        provider = get_provider(cluster.provider)
        if cluster.name not in checked and provider.check_arguments is not None:
            with argv.located(cluster.file, cluster.lines.line((cluster.provider,)), cluster.name):
                provider.check_arguments(cluster)
        checked.add(cluster.name)
        if release is None:
            continue
        hub = cluster.hub(job.hub) if job.hub is not None else None
        line = hub.line if hub is not None else cluster.lines.line(("support",))
        gated = options.health_check and not options.dry_run and job.kind == "staging"
        with argv.located(cluster.file, line, job.label):
            PREFLIGHTS[target_of(cluster.provider)](
                Preflight(release, hub, gated, options.dry_run, options.helm_timeout)
            )


def check_secret_files(
    fleet: Fleet, releases: Mapping[Job, Release | None], values: ReleaseValues
) -> None:
    """The secret policy before anything runs: every values file of the jobs' releases
    and every cluster's credentials file that must be sops-encrypted is (exit 2 at it).
    A values file is read here through the deploy's `values`, once: its jobs use that
    read (confined like every fleet file: a refused one is exit 2 here, at its path)."""
    seen: set[str] = set()
    for job, release in releases.items():
        cluster = fleet.cluster(job.cluster)
        block = getattr(cluster.spec, cluster.provider, None)
        key = getattr(block, CREDENTIALS_KEY.get(cluster.provider, ""), None)
        # (file, checked whatever its name): a credentials file always is a secret.
        files = [(cluster.path(key), True)] if isinstance(key, str) and key else []
        files += [(path, False) for path in (release.values_files if release else ())]
        for path, always in files:
            if path in seen:
                continue
            seen.add(path)
            if always:  # the provider decrypts it (through the deploy's Sops)
                text = read_fleet_file(fleet.root, path).decode("utf-8", errors="replace")
                require_encrypted(path, text, always=True)
            else:
                values.file(path).check_policy()


def check_outputs(outputs: Outputs) -> None:
    """Fail before the deploy, not after it, when a report's folder cannot take a file."""
    for path in (outputs.report, outputs.junit):
        if path is not None:
            check_writable(path)


def write_reports(report: Report, outputs: Outputs, redactor: Redactor) -> None:
    if outputs.report is not None:
        write_text(outputs.report, report_json(report, redactor))
    if outputs.junit is not None:
        write_text(outputs.junit, junit_xml(report, redactor))
    append_step_summary(report, redactor)
