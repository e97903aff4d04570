"""The one `Job` type, from plan to deploy to report, and the reading of its JSON.

A job is one unit of work on a cluster: its support release (hub None) or a hub.
The plan writes jobs (`Plan.to_json`), the deploy runs them and the report records
them (`deploy/model.py`); both files are read back here, job by job, with errors
naming the file, the line and the entry (`support_jobs[1]`, `jobs[0]`).
The JSON keys are `cluster_name` and `hub_name` (DESIGN.md section 3).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

# InputError: a plan or report file that cannot be used (exit 2), raised by base's reader too.
from hubfleet.base.jsonio import InputError as InputError
from hubfleet.base.jsonio import read_json_file
from hubfleet.config.fleet import release_label
from hubfleet.config.providers import PROVIDERS

# support | staging | prod: what a deploy upgrades; uninstall: a decommissioned hub the
# deploy removes (docs/decommission.md); removed, cluster (in the plan's `skipped`
# only) and terraform: what a plan lists besides.
Kind = Literal["support", "staging", "prod", "removed", "cluster", "terraform", "uninstall"]
KINDS: tuple[Kind, ...] = get_args(Kind)
DEPLOY_KINDS: tuple[Kind, ...] = ("support", "staging", "prod", "uninstall")
HUB_KINDS: frozenset[str] = frozenset({"staging", "prod", "removed", "uninstall"})
KIND_ORDER: dict[str, int] = {kind: index for index, kind in enumerate(KINDS)}

Step = str | int  # a key or an index on the way to a value in a JSON document


@dataclass(frozen=True)
class Job:
    """One release: a cluster's support release (hub None) or a hub."""

    cluster: str
    hub: str | None
    kind: Kind
    provider: str  # "" when a hand-written file left it out (the fleet's is used)
    reasons: tuple[str, ...] = ()
    # A community-only change (docs/community.md): health-check the hub after its
    # upgrade and roll it back to its previous revision when the check fails.
    rollback_on_failed_check: bool = False
    # The wave of a plan rolled out in waves (`hubfleet.plan.waves`); None: no waves.
    wave: str | None = None

    @property
    def choice_reason(self) -> str:
        return "; ".join(self.reasons)

    @property
    def label(self) -> str:
        return release_label(self.cluster, self.hub)

    @property
    def sort_key(self) -> tuple[str, int, str]:
        return (self.cluster, KIND_ORDER[self.kind], self.hub or "")

    def to_json(self, *, with_kind: bool = False) -> dict[str, Any]:
        """The job as a plan lists it."""
        data: dict[str, Any] = {"cluster_name": self.cluster, "provider": self.provider}
        if self.hub is not None:
            data["hub_name"] = self.hub
        if with_kind:
            data["kind"] = self.kind
        data["reasons"] = list(self.reasons)
        data["choice_reason"] = self.choice_reason
        if self.wave is not None:
            data["wave"] = self.wave
        return data


@dataclass(frozen=True)
class JsonFile:
    """A JSON document as read, kept with its text to point errors at their line."""

    path: str  # the file, or "stdin"
    text: str  # "" when the document was not read from text (no lines)
    data: Any

    def error(self, message: str, *steps: Step, hint: str | None = None) -> InputError:
        """An error at the value `steps` lead to (its line when it is found)."""
        return InputError(message, path=self.path, line=json_line(self.text, steps), hint=hint)


def read_json(path: Path, what: str, *, stdin_text: str | None = None) -> JsonFile:
    """The JSON document in `path` (`-`: `stdin_text`), read by the one bounded reader
    (`hubfleet.base.jsonio`: size, depth, duplicate keys); `what` names it in errors."""
    read = read_json_file(path, what, stdin_text=stdin_text)
    return JsonFile(read.where, read.text, read.data)


def read_job(
    file: JsonFile,
    entry: Any,
    steps: Sequence[Step],
    kinds: Sequence[Kind],
    default: Kind | None,
) -> Job:
    """The job of one entry: `kinds` are those it may have (its list's one kind, or the
    entry's own `kind` key, `default` when absent, an error when None); hub jobs need
    a `hub_name`."""
    where = _where(steps)
    if not isinstance(entry, Mapping):
        raise file.error(f"{where}: a job must be a JSON object", *steps)
    cluster = entry.get("cluster_name")
    if not isinstance(cluster, str) or not cluster:
        raise file.error(f"{where}: a job needs a cluster_name", *steps)
    kind = kinds[0] if len(kinds) == 1 else entry.get("kind", default)
    if kind not in kinds:
        raise file.error(f"{where}: unknown kind {kind!r}", *steps)
    hub = entry.get("hub_name")
    if kind in HUB_KINDS and (not isinstance(hub, str) or not hub):
        raise file.error(f"{where}: a {kind} job needs a hub_name", *steps)
    if hub is not None and not isinstance(hub, str):
        raise file.error(f"{where}: hub_name must be a string", *steps)
    wave = entry.get("wave")
    if wave is not None and (not isinstance(wave, str) or not wave):
        raise file.error(f"{where}: wave must be a wave's name", *steps)
    provider = entry.get("provider") or ""
    if provider and provider not in PROVIDERS:
        raise file.error(
            f"{where}: unknown provider {provider!r}", *steps, hint="one of " + ", ".join(PROVIDERS)
        )
    return Job(
        cluster=cluster,
        hub=None if kind == "support" else hub,
        kind=kind,
        provider=provider,
        reasons=_reasons(entry.get("reasons")),
        wave=wave,
    )


def _reasons(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    if isinstance(value, list):
        return tuple(str(reason) for reason in value)
    return (str(value),)


def _where(steps: Sequence[Step]) -> str:
    text = ""
    for step in steps:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text or "(top)"


_SPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def json_line(text: str, steps: Sequence[Step]) -> int | None:
    """The line of the value that `steps` (keys, indexes) lead to in valid JSON `text`:
    the deepest one found (None without text)."""
    if not text:
        return None
    pos = _skip(text, 0)
    for step in steps:
        found = _child(text, pos, step)
        if found is None:
            break
        pos = found
    return text.count("\n", 0, pos) + 1


def _skip(text: str, pos: int) -> int:
    match = _SPACE.match(text, pos)
    return match.end() if match else pos


def _child(text: str, pos: int, step: Step) -> int | None:
    """The position of member `step` of the object or array starting at `pos`."""
    opening = text[pos : pos + 1]
    if opening not in ("{", "[") or (opening == "{") != isinstance(step, str):
        return None
    pos = _skip(text, pos + 1)
    index = 0
    while text[pos : pos + 1] not in ("", "}", "]"):
        if opening == "{":
            key, pos = json.decoder.scanstring(text, pos + 1)  # type: ignore[attr-defined]
            pos = _skip(text, _skip(text, pos) + 1)  # past the colon
            if key == step:
                return pos
        elif index == step:
            return pos
        _, pos = _DECODER.raw_decode(text, pos)
        pos = _skip(text, pos)
        if text[pos : pos + 1] == ",":
            pos = _skip(text, pos + 1)
        index += 1
    return None
