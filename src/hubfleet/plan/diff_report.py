"""`plan --diff`: the rendered changes of a plan as text, as JSON and as Markdown.

- `full_text` (`manifest_diff`): the whole diff, every hub (`--diff-file`, the
  workflow's artifact);
- `to_json`/`read_diffs`: the changes as data (`--diff-json`), read back checked
  (`plan --from-json plan.json --diff-from diffs.json`): the comment workflow renders
  a file a pull request's job wrote, so every field is checked for its type and size
  and everything is escaped when shown;
- `diff_markdown`: the pull-request comment's part: hubs with the same change grouped
  ("41 hubs: the same change as alpha/research"), each group in a collapsed
  `<details>`, its diff in a fenced block no content can close, within a byte budget
  (the largest diffs cut, with a pointer to the artifact);
- `mentions_markdown`: the owners of the hubs that change, once each (opt-in,
  `plan.mention_owners`), each handle checked so that none mentions anybody else.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubfleet.base.jsonio import InputError
from hubfleet.base.markdown import md_text
from hubfleet.plan.manifest_diff import HubChange, ResourceChange, grouped

DIFF_VERSION = 1
# GitHub refuses a comment over 65,536 characters; the comment workflow cuts at
# 60,000 bytes. The whole comment stays under this (bytes, so characters too).
COMMENT_BUDGET = 60_000
ARTIFACT = "hubfleet-plan (plan.diff)"
_MAX_FILE = 64 * 1024 * 1024
_MAX_TEXT = 16 * 1024 * 1024
_GROUP_HUBS_LISTED = 30
_GROUP_MIN = 6_000  # bytes a group's diff may take even when its fair share is less
_USER = re.compile(r"@[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}")
_TEAM = re.compile(
    r"@[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}/[A-Za-z0-9][A-Za-z0-9_-]{0,99}"
)

Scrub = Callable[[str], str]


def _same(text: str) -> str:
    return text


@dataclass(frozen=True)
class Mention:
    """An owner and the hubs (cluster/hub) of theirs that change."""

    owner: str
    hubs: tuple[str, ...]


def valid_handle(owner: str, *, teams: bool) -> bool:
    """A GitHub user `@name` (or, when `teams`, `@org/team`), and nothing else."""
    return bool(_USER.fullmatch(owner) or (teams and _TEAM.fullmatch(owner)))


def mentions(
    owners_of: Mapping[str, Sequence[str]], *, teams: bool
) -> tuple[list[Mention], list[str]]:
    """hub label -> its owners, as one mention per owner (sorted, each once) and the
    entries refused (not a handle, or a team when teams are not allowed)."""
    hubs_of: dict[str, set[str]] = {}
    refused: set[str] = set()
    for hub, owners in owners_of.items():
        for owner in owners:
            if valid_handle(owner, teams=teams):
                hubs_of.setdefault(owner.lower(), set()).add(hub)
            else:
                refused.add(owner)
    found = [Mention(owner, tuple(sorted(hubs))) for owner, hubs in sorted(hubs_of.items())]
    return found, sorted(refused)


# ------------------------------------------------------------------------ JSON


def to_json(changes: Sequence[HubChange], found: Sequence[Mention] = ()) -> dict[str, Any]:
    return {
        "version": DIFF_VERSION,
        "hubs": [
            {
                "cluster_name": c.cluster,
                "hub_name": c.hub,
                "resources": [
                    {"resource": r.resource, "fields": list(r.fields), "diff": r.diff}
                    for r in c.resources
                ],
                "randomised": list(c.randomised),
                "notes": list(c.notes),
            }
            for c in sorted(changes, key=lambda c: (c.cluster, c.hub))
        ],
        "mentions": [{"owner": m.owner, "hubs": list(m.hubs)} for m in found],
    }


def read_diffs(path: Path) -> tuple[list[HubChange], list[Mention]]:
    """A file `--diff-json` wrote, checked field by field (it may be hostile)."""
    where = str(path)
    try:
        if path.stat().st_size > _MAX_FILE:
            raise InputError(f"{where}: larger than {_MAX_FILE} bytes", path=where)
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{where}: not a diff file: {exc}", path=where) from None

    def fail(what: str) -> InputError:
        return InputError(f"{where}: {what}", path=where, hint="write it with plan --diff-json")

    def obj(value: Any, what: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise fail(f"{what} is not an object")
        return value

    def items(value: Any, what: str) -> list[Any]:
        if not isinstance(value, list):
            raise fail(f"{what} is not a list")
        return value

    def text(value: Any, what: str) -> str:
        if not isinstance(value, str) or len(value) > _MAX_TEXT:
            raise fail(f"{what} is not a string")
        return value

    top = obj(data, "the file")
    if top.get("version") != DIFF_VERSION:
        raise fail(f"version is not {DIFF_VERSION}")
    changes = []
    for i, hub in enumerate(items(top.get("hubs"), "hubs")):
        hub = obj(hub, f"hubs[{i}]")
        resources = []
        for j, res in enumerate(items(hub.get("resources"), f"hubs[{i}].resources")):
            res = obj(res, f"hubs[{i}].resources[{j}]")
            fields = tuple(text(f, "a field") for f in items(res.get("fields"), "fields"))
            resources.append(
                ResourceChange(
                    text(res.get("resource"), "resource"), fields, text(res.get("diff"), "diff")
                )
            )
        changes.append(
            HubChange(
                text(hub.get("cluster_name"), "cluster_name"),
                text(hub.get("hub_name"), "hub_name"),
                tuple(resources),
                tuple(text(f, "randomised") for f in items(hub.get("randomised"), "randomised")),
                tuple(text(n, "a note") for n in items(hub.get("notes"), "notes")),
            )
        )
    found = []
    for i, entry in enumerate(items(top.get("mentions", []), "mentions")):
        entry = obj(entry, f"mentions[{i}]")
        hubs = tuple(text(h, "a hub") for h in items(entry.get("hubs"), "hubs"))
        found.append(Mention(text(entry.get("owner"), "owner"), hubs))
    return changes, found


# -------------------------------------------------------------------- Markdown


def _visible_line(line: str) -> str:
    """A line of a diff as it may be shown in a code block: control, format (bidi
    overrides, zero-width) and separator characters as visible `\\uXXXX`."""
    if line.isascii() and line.isprintable():
        return line
    out = []
    for char in line:
        if unicodedata.category(char) in {"Cc", "Cf", "Cs", "Zl", "Zp", "Co"}:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return "".join(out)


def code_block(text: str, language: str = "diff") -> str:
    """`text` in a fenced block that nothing in it can close."""
    lines = [_visible_line(line) for line in text.splitlines()]
    longest = max((len(run) for line in lines for run in re.findall(r"`+|~+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return "\n".join([f"{fence}{language}", *lines, fence])


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _cut(text: str, budget: int, artifact: str) -> str:
    """`text` cut (at a line) to about `budget` bytes, saying how much was left out."""
    if _size(text) <= budget:
        return text
    lines = text.splitlines(keepends=True)
    kept: list[str] = []
    used = 0
    for line in lines:
        if used + _size(line) > budget:
            break
        kept.append(line)
        used += _size(line)
    left = len(lines) - len(kept)
    return "".join(kept) + f"# ... cut here: {left} more line(s), the whole diff is in {artifact}\n"


def diff_markdown(
    changes: Sequence[HubChange],
    *,
    budget: int,
    scrub: Scrub = _same,
    artifact: str = ARTIFACT,
) -> str:
    """The rendered changes as Markdown in at most `budget` bytes (see the module)."""
    if not changes:
        return ""
    groups = grouped(changes)
    head = [
        "",
        f"### Rendered changes: {len(changes)} hub(s), {len(groups)} distinct change(s)",
        "",
        "Secret data is shown as keyed digests; fields the chart randomises are hidden "
        f"and named. The whole diff is in {md_text(artifact)}.",
    ]
    out = "\n".join(head) + "\n"
    for index, group in enumerate(groups):
        left = len(groups) - index
        closing = f"\n_{left} more change group(s) not shown: see {md_text(artifact)}._\n"
        remaining = budget - _size(out) - _size(closing)
        # A fair share of what is left, and at least a readable part of a diff.
        room = max(remaining // left, min(_GROUP_MIN, remaining))
        section = _group_markdown(group.first, group.others, room, scrub, artifact)
        if section is None or _size(out) + _size(section) + _size(closing) > budget:
            return out + closing
        out += section
    return out


def _group_markdown(
    first: HubChange, others: Sequence[HubChange], room: int, scrub: Scrub, artifact: str
) -> str | None:
    label = md_text(scrub(first.label))
    count = len(first.resources)
    if others:
        summary = f"{len(others) + 1} hubs: the same change as {label} ({count} resource(s))"
    else:
        summary = f"{label}: {count} resource(s) changed"
    lines = ["", f"<details><summary>{summary}</summary>", ""]
    if others:
        listed = ", ".join(md_text(scrub(o.label)) for o in others[:_GROUP_HUBS_LISTED])
        more = len(others) - _GROUP_HUBS_LISTED
        lines.append(f"Also: {listed}" + (f" and {more} more" if more > 0 else "") + ".")
        lines.append("")
    for note in first.notes:
        lines += [f"- {md_text(scrub(note))}"]
    if first.randomised:
        names = ", ".join(md_text(scrub(f)) for f in first.randomised[:10])
        more = len(first.randomised) - 10
        lines += [
            f"- hidden, the chart randomises them: {names}"
            + (f" and {more} more" if more > 0 else "")
        ]
    if first.notes or first.randomised:
        lines.append("")
    frame = "\n".join(lines) + "\n\n</details>\n"
    room -= _size(frame) + 40
    if room < 200:
        return None
    diff = _cut(scrub(first.diff_text()), room, artifact)
    return "\n".join(lines) + "\n" + code_block(diff) + "\n\n</details>\n"


def mentions_markdown(found: Sequence[Mention], *, teams: bool, scrub: Scrub = _same) -> str:
    """`@owner` (a real mention, once each) and their hubs (escaped); entries that are
    not a handle (or a team, when teams are not allowed) are left out."""
    lines = []
    for mention in found:
        if not valid_handle(mention.owner, teams=teams):
            continue
        hubs = ", ".join(md_text(scrub(h)) for h in mention.hubs[:_GROUP_HUBS_LISTED])
        more = len(mention.hubs) - _GROUP_HUBS_LISTED
        lines.append(f"- {mention.owner}: {hubs}" + (f" and {more} more" if more > 0 else ""))
    if not lines:
        return ""
    return "\n".join(["", "### Owners of the hubs that change", "", *lines]) + "\n"
