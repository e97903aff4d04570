"""The page and the Markdown get text scrubbed before they encode it: a known value
with HTML or Markdown characters is not shown in its escaped form either."""

from __future__ import annotations

from hubfleet.base.redact import Redactor
from hubfleet.live.page import html_page
from hubfleet.live.status import ClusterReport, FleetStatus, Row, markdown, scrubbed

SECRET = "p&ss<w>rd|`4f9a2c`"


def status() -> FleetStatus:
    row = Row(
        cluster="c1",
        release="hub",
        namespace="hub",
        hub="hub",
        kind="prod",
        declared=True,
        present=True,
        state="changed-by-hand",
        reasons=(f"revision 2 was not made by hubfleet (description: token {SECRET})",),
        last_rollback=f"revision 1 {SECRET}",
    )
    report = ClusterReport("c1", "kubeconfig", (row,), error=f"cannot log in with {SECRET}")
    return FleetStatus("a" * 40, (report,), {"changed-by-hand": 1})


def test_scrubbed_before_encoding() -> None:
    redactor = Redactor()
    redactor.add(SECRET)
    clean = scrubbed(status(), redactor.scrub)
    for text in (html_page(clean), markdown(clean)):
        assert "ss<w>" not in text and "ss&lt;w&gt;" not in text and "4f9a2c" not in text
    raw = html_page(status())  # unscrubbed: the escaped form is there (the test can fail)
    assert "p&amp;ss&lt;w&gt;rd" in raw
