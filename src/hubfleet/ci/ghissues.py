"""One GitHub issue per thing, through `gh` (docs/ci.md): what the health incidents
(`ci/incidents.py`, one issue per failing hub) and the drift issues (`ci/drift.py`, one
per drifted cluster) share.

- the issue found again: a hidden marker in its body (`<!-- hubfleet-KIND PAYLOAD -->`,
  `Marker`) or its labels (`find_by_labels`), never its title;
- the open issues listed, and an issue opened, edited, commented on and closed;
- one calling convention, `Gh`: the words after `gh` and the text given on its stdin,
  to what `gh` printed (`words` adapts a runner of the whole argv with bytes, the
  CLI's, to it);
- one check of the repository (`owner/name`) on every call, and of a run's URL.

Each caller keeps what is its own: titles, bodies, labels, when to open and close.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from hubfleet.base.errors import HubfleetError
from hubfleet.base.jsonio import parse_json

Gh = Callable[[Sequence[str], str | None], str]  # words after `gh`, stdin text -> stdout
ArgvRunner = Callable[[Sequence[str], bytes | None], str]  # the whole argv, stdin bytes

LIST_FIELDS = "number,title,labels,createdAt,body"
LIST_LIMIT = "1000"
LABEL_COLOR = "d93f0b"

_REPOSITORY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")
_RUN_URL = re.compile(r"https://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~/-]*)?")


def words(run: ArgvRunner) -> Gh:
    """`run` (the whole argv, stdin as bytes) as a `Gh` (the words after `gh`, text)."""

    def gh(args: Sequence[str], stdin: str | None) -> str:
        return run(["gh", *args], stdin.encode("utf-8") if stdin is not None else None)

    return gh


# ---------------------------------------------------------------- checks


def validate_repository(repository: str) -> tuple[str, str]:
    """`owner/name` (as GITHUB_REPOSITORY), checked for what it may hold."""
    if not _REPOSITORY.fullmatch(repository) or ".." in repository:
        raise HubfleetError(f"{repository!r} is not a repository owner/name")
    owner, name = repository.split("/")
    return owner, name


def is_run_url(url: str) -> bool:
    """A plain https URL (a workflow run's), safe inside a Markdown link."""
    return _RUN_URL.fullmatch(url) is not None


def validate_run_url(url: str | None) -> str | None:
    """A workflow run's URL (`--run-url`), only when it is a plain https URL."""
    if url is not None and not is_run_url(url):
        raise HubfleetError(f"--run-url {url!r} is not a plain https URL")
    return url


def _repo(repository: str) -> list[str]:
    validate_repository(repository)
    return ["--repo", repository]


# ---------------------------------------------------------------- finding an issue


@dataclass(frozen=True)
class Marker:
    """The hidden line `<!-- hubfleet-KIND PAYLOAD -->` in an issue's body; `payload` is
    the pattern of what it may carry (never `<`, `>`: nothing can end it early)."""

    kind: str
    payload: str

    def text(self, payload: str) -> str:
        if re.fullmatch(self.payload, payload) is None:
            raise HubfleetError(f"not a hubfleet-{self.kind} marker: {payload!r}")
        return f"<!-- hubfleet-{self.kind} {payload} -->"

    def read(self, body: str) -> str | None:
        """The payload of the first marker in `body`, if any."""
        match = re.search(f"<!-- hubfleet-{re.escape(self.kind)} ({self.payload}) -->", body)
        return match.group(1) if match is not None else None


@dataclass(frozen=True)
class Issue:
    """An open issue as `gh issue list --json` gives it (`created_at` as written)."""

    number: int
    title: str = ""
    labels: frozenset[str] = frozenset()
    created_at: str = ""
    body: str = ""


def parse_issues(text: str, source: str = "gh issue list") -> list[Issue]:
    """`gh issue list --json ...` as read, sorted by number (the oldest first). An entry
    without a number is left out: nothing could be done to it."""
    data = parse_json(text or "[]", source, "issue list").data
    if not isinstance(data, list):
        raise HubfleetError(f"{source} did not answer a list")
    issues = []
    for entry in data:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("number"), int):
            continue
        labels = entry.get("labels") or []
        names = frozenset(
            str(label.get("name")) if isinstance(label, Mapping) else str(label)
            for label in (labels if isinstance(labels, list) else [])
        )
        issues.append(
            Issue(
                number=entry["number"],
                title=str(entry.get("title") or ""),
                labels=names,
                created_at=str(entry.get("createdAt") or ""),
                body=str(entry.get("body") or ""),
            )
        )
    return sorted(issues, key=lambda i: i.number)


class Labelled(Protocol):
    @property
    def number(self) -> int: ...
    @property
    def labels(self) -> frozenset[str]: ...


L = TypeVar("L", bound=Labelled)


def find_by_labels(issues: Sequence[L], labels: Iterable[str]) -> L | None:
    """The oldest issue carrying every one of `labels` (several: opened by hand)."""
    wanted = set(labels)
    return next((i for i in sorted(issues, key=lambda i: i.number) if wanted <= i.labels), None)


# ---------------------------------------------------------------- through gh


def list_open(gh: Gh, repository: str, label: str) -> list[Issue]:
    """The repository's open issues with `label`."""
    args = ["issue", "list", *_repo(repository), "--state", "open", "--label", label]
    return parse_issues(gh([*args, "--limit", LIST_LIMIT, "--json", LIST_FIELDS], None))


def ensure_label(gh: Gh, repository: str, label: str, description: str) -> None:
    """Create `label`, or leave an existing one as it is (`--force`)."""
    args = ["label", "create", label, *_repo(repository), "--force", "--color", LABEL_COLOR]
    gh([*args, "--description", description], None)


def open_issue(gh: Gh, repository: str, title: str, body: str, labels: Sequence[str]) -> None:
    args = ["issue", "create", *_repo(repository), "--title", title, "--body-file", "-"]
    gh([*args, *(arg for label in labels for arg in ("--label", label))], body)


def edit_issue(gh: Gh, repository: str, number: int, body: str, title: str | None = None) -> None:
    args = ["issue", "edit", str(number), *_repo(repository), "--body-file", "-"]
    gh([*args, "--title", title] if title is not None else args, body)


def comment_issue(gh: Gh, repository: str, number: int, comment: str) -> None:
    gh(["issue", "comment", str(number), *_repo(repository), "--body-file", "-"], comment)


def close_issue(
    gh: Gh, repository: str, number: int, *, comment: str | None = None, reason: str | None = None
) -> None:
    """Close the issue, with `comment` (one call) and the `reason` GitHub records."""
    args = ["issue", "close", str(number), *_repo(repository)]
    args += ["--comment", comment] if comment is not None else []
    gh([*args, "--reason", reason] if reason is not None else args, None)
