"""What a deploy records for each release: the checkout's commit, and a `Recorder`.

`checkout_commit(root)` is the fleet repository's HEAD, or `UNCOMMITTED` when the
checkout has changes (a tracked file changed in the fleet's folder, or an untracked
file where a release's inputs live: `config/`, `helm-charts/`, `hubfleet.yaml`,
`.sops.yaml`) or is
not a git repository: a deploy of files git does not hold names no commit. A CI job's
own files in the checkout (plan.json, reports) do not count.

A `Recorder` is made once per deploy and gives each release its `Record` (the
commit, the digest of its inputs, hubfleet's version) and its chart's identity.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hubfleet.base.errors import HubfleetError, ProgramError
from hubfleet.base.redact import Redactor
from hubfleet.base.runner import run
from hubfleet.base.yamlio import load_data
from hubfleet.live.digest import Digests
from hubfleet.live.record import UNCOMMITTED, Record
from hubfleet.release.pipeline import Release
from hubfleet.release.values import ReleaseValues

GIT_TIMEOUT = 60.0
# Where an untracked file can be an input of a release (a CI job's plan.json or its
# reports beside them are not); any change to a tracked file of the fleet's folder
# counts (a fleet inside a larger repository: only its own folder).
_INPUT_PATHS = ("config", "helm-charts", "hubfleet.yaml", ".sops.yaml")
_SHA = frozenset("0123456789abcdef")


def checkout_commit(root: Path, redactor: Redactor) -> str:
    """HEAD's commit (40 hex), or `UNCOMMITTED` (changes, or no git repository)."""
    git = ["git", "-C", str(root)]
    try:
        head = run([*git, "rev-parse", "--verify", "HEAD"], redactor=redactor, timeout=GIT_TIMEOUT)
        tracked = run(
            [*git, "status", "--porcelain", "--untracked-files=no", "--", "."],
            redactor=redactor,
            timeout=GIT_TIMEOUT,
        )
        untracked = run(
            [*git, "status", "--porcelain", "--untracked-files=all", "--", *_INPUT_PATHS],
            redactor=redactor,
            timeout=GIT_TIMEOUT,
        )
    except ProgramError:
        return UNCOMMITTED
    commit = head.stdout.strip()
    if len(commit) != 40 or not set(commit) <= _SHA:
        return UNCOMMITTED
    return UNCOMMITTED if tracked.stdout.strip() or untracked.stdout.strip() else commit


@dataclass(frozen=True)
class ChartIdentity:
    """The chart as helm shows it: name, version, app version."""

    name: str
    version: str
    app_version: str


class Recorder:
    """The records of one deploy (or one status): one commit, one `Digests`."""

    def __init__(self, commit: str, values: ReleaseValues) -> None:
        self.commit = commit
        self.values = values
        self.digests = Digests(values)

    @classmethod
    def for_checkout(cls, values: ReleaseValues, redactor: Redactor) -> Recorder:
        return cls(checkout_commit(values.fleet.root, redactor), values)

    def record(self, release: Release) -> Record:
        return Record(commit=self.commit, digest=self.digests.of(release))

    def chart(self, release: Release) -> ChartIdentity:
        """The chart's name and version: a remote chart's as configured, a local one's
        from the Chart.yaml helm gets (its build's, or the folder's)."""
        source = release.chart
        if source.local_dir is None:
            return ChartIdentity(source.name, source.version or "", "")
        chart = self.values.chart(release)
        data: dict[str, object] = {}
        if chart.is_dir():
            try:
                text = (chart / "Chart.yaml").read_text(encoding="utf-8")
                loaded = load_data(text, str(chart / "Chart.yaml"))
            except (OSError, ValueError, HubfleetError):
                loaded = None
            data = loaded if isinstance(loaded, dict) else {}
        return ChartIdentity(
            str(data.get("name") or source.name),
            str(data.get("version") or ""),
            str(data.get("appVersion") or ""),
        )
