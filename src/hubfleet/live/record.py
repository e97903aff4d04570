"""The record hubfleet leaves in every release it upgrades (docs/status.md).

A `Record` is written as helm's `--description` of the revision (one short line) and,
where helm has `--labels` (3.13.0 and later), as release labels too:

    hubfleet/1 commit=<40 hex | uncommitted> digest=sha256:<64 hex> v=<hubfleet version>
    [rolled_back_from=<40 hex | uncommitted>]

`parse` reads exactly that form back; anything else (helm's own "Upgrade complete",
"Install complete", "Rollback to 3", a person's description) is None: the revision
was not made by hubfleet. The description is authoritative: helm merges a release's
labels into every later revision, so a hand upgrade keeps hubfleet's labels but
never its description. Labels only let `helm list --selector hubfleet=1` find the
releases hubfleet ever deployed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hubfleet import __version__

MARKER = "hubfleet/1"
UNCOMMITTED = "uncommitted"
# The first helm whose `upgrade`/`install` take `--labels` (helm/helm#10533).
LABELS_SINCE = (3, 13, 0)
# Release labels are Kubernetes label values (at most 63 characters).
LABEL_DIGEST_CHARS = 60

_COMMIT = r"[0-9a-f]{40}|" + UNCOMMITTED
_VERSION = r"[0-9A-Za-z][0-9A-Za-z.+_-]{0,39}"
_FORM = re.compile(
    rf"{re.escape(MARKER)} commit=(?P<commit>{_COMMIT}) digest=sha256:(?P<digest>[0-9a-f]{{64}})"
    rf" v=(?P<version>{_VERSION})(?: rolled_back_from=(?P<back>{_COMMIT}))?"
)
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class Record:
    """What one hubfleet upgrade deployed: the fleet repository's commit (or
    `UNCOMMITTED` for a checkout with changes), the digest of the release's inputs
    (`hubfleet.live.digest`), hubfleet's version, and, on the record of a revision
    that replaced a rolled-back one, the commit that was rolled back."""

    commit: str
    digest: str  # "sha256:<64 hex>"
    version: str = __version__
    rolled_back_from: str | None = None

    def __post_init__(self) -> None:
        if not re.fullmatch(_COMMIT, self.commit):
            raise ValueError(f"not a commit: {self.commit!r}")
        if not _DIGEST.fullmatch(self.digest):
            raise ValueError(f"not a sha256 digest: {self.digest!r}")
        if not re.fullmatch(_VERSION, self.version):
            raise ValueError(f"not a version: {self.version!r}")
        if self.rolled_back_from is not None and not re.fullmatch(_COMMIT, self.rolled_back_from):
            raise ValueError(f"not a commit: {self.rolled_back_from!r}")

    @property
    def uncommitted(self) -> bool:
        return self.commit == UNCOMMITTED

    @property
    def short_commit(self) -> str:
        return self.commit if self.uncommitted else self.commit[:12]


def describe(record: Record) -> str:
    """The record as helm's `--description`: one line, `parse` reads it back."""
    text = f"{MARKER} commit={record.commit} digest={record.digest} v={record.version}"
    if record.rolled_back_from is not None:
        text += f" rolled_back_from={record.rolled_back_from}"
    return text


def parse(description: object) -> Record | None:
    """The record a revision's description holds, or None (made by hand or by helm)."""
    if not isinstance(description, str):
        return None
    found = _FORM.fullmatch(description.strip())
    if found is None:
        return None
    return Record(
        commit=found["commit"],
        digest="sha256:" + found["digest"],
        version=found["version"],
        rolled_back_from=found["back"],
    )


def labels(record: Record) -> dict[str, str]:
    """The record as release labels (`helm upgrade --labels`): valid label values."""
    found = {
        "hubfleet": "1",
        "hubfleet-commit": record.commit,
        "hubfleet-digest": record.digest.removeprefix("sha256:")[:LABEL_DIGEST_CHARS],
        "hubfleet-version": record.version.replace("+", "_"),
    }
    if record.rolled_back_from is not None:
        found["hubfleet-rolled-back-from"] = record.rolled_back_from
    return found


def labels_supported(version: tuple[int, int, int]) -> bool:
    """Whether helm `version` (major, minor, patch) has `upgrade --labels`."""
    return version >= LABELS_SINCE
