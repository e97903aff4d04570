"""One deploy as the CLI runs it: signals, progress view, reports written on every exit."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from hubfleet.config.fleet import Fleet
from hubfleet.deploy.health import HealthCheck
from hubfleet.deploy.model import JobRecord, Report
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
from hubfleet.providers import remove_all_private_folders
from hubfleet.redact import Redactor
from hubfleet.runner import terminate_all
from hubfleet.secrets.sops import Sops


@dataclass(frozen=True)
class Outputs:
    report: Path | None = None
    junit: Path | None = None
    live: bool | None = None  # None: a live view when stderr is a terminal


@contextmanager
def interrupts(cancel: threading.Event) -> Iterator[None]:
    """SIGINT/SIGTERM set `cancel`; a second one stops every child and exits at once."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if cancel.is_set():
            terminate_all(grace=0.5)
            remove_all_private_folders()
            os._exit(130)
        cancel.set()

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


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
    deployer = Deployer(
        fleet,
        targets.jobs,
        sops=Sops(redactor, cwd=fleet.root),
        redactor=redactor,
        options=options,
        health_checks=health_checks,
        observer=view,
        cancel=cancel,
        carried=targets.carried,
    )
    with interrupts(cancel), context:
        report = deployer.run()
    write_reports(report, outputs, redactor)
    return report


def write_reports(report: Report, outputs: Outputs, redactor: Redactor) -> None:
    if outputs.report is not None:
        write_text(outputs.report, report_json(report, redactor))
    if outputs.junit is not None:
        write_text(outputs.junit, junit_xml(report, redactor))
    append_step_summary(report, redactor)
