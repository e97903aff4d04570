"""The deploy's plain progress lines (`deploy/output.py` `PlainLines`): the state
column lines up for every kind of deploy job, a decommissioned hub's `uninstall` too
(one character wider than the kind column was)."""

from __future__ import annotations

import io

from hubfleet.base.redact import Redactor
from hubfleet.deploy.model import JobRecord
from hubfleet.deploy.output import PlainLines
from hubfleet.plan.job import DEPLOY_KINDS, Job


def test_the_state_column_lines_up_for_every_kind() -> None:
    stream = io.StringIO()
    lines = PlainLines(Redactor(), stream)
    for kind in DEPLOY_KINDS:
        hub = None if kind == "support" else f"hub-{kind}"
        lines(JobRecord(Job("alpha", hub, kind, "gcp", ("why",)), status="running"))
    written = stream.getvalue().splitlines()
    assert len(written) == len(DEPLOY_KINDS) and "uninstall" in DEPLOY_KINDS
    columns = {line.index(" running") for line in written}
    assert len(columns) == 1, written
    # every kind is followed by at least one space: the columns never run together
    assert all(f"{kind} " in line for kind, line in zip(DEPLOY_KINDS, written, strict=True))
