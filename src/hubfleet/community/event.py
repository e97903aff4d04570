"""The pull request's author and approvals, from the GitHub event payload the runner
wrote (`$GITHUB_EVENT_PATH`) and an optional reviews file (the API's reviews list)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hubfleet.base.errors import HubfleetError
from hubfleet.base.jsonio import read_json_file
from hubfleet.community.decision import PullRequest, parse_reviews, pull_request_from_event

MAX_EVENT_BYTES = 32 * 1024 * 1024
EVENT_ENV = "GITHUB_EVENT_PATH"


def _read_json(path: Path, what: str) -> Any:
    """The one bounded JSON reader (`hubfleet.base.jsonio`): size, depth and duplicate
    keys refused at the file's line (exit 2)."""
    return read_json_file(path, what, max_bytes=MAX_EVENT_BYTES).data


def event_path(event: Path | None, github_event: bool) -> Path | None:
    """`--event FILE`, or with `--github-event` the runner's `$GITHUB_EVENT_PATH`."""
    if event is not None:
        return event
    if not github_event:
        return None
    found = os.environ.get(EVENT_ENV)
    if not found:
        raise HubfleetError(
            f"--github-event: ${EVENT_ENV} is not set",
            hint="run it in GitHub Actions, or pass --event FILE",
        )
    return Path(found)


def load_pull_request(event: Path, reviews: Path | None = None) -> PullRequest | None:
    """The pull request of the event (None: not a pull request event). The reviews file
    is a list of reviews, or {"reviews": [...], "teams": {"org/team": [logins]}}."""
    payload = _read_json(event, "event payload")
    extra: Any = _read_json(reviews, "reviews file") if reviews is not None else []
    teams: dict[str, list[str]] = {}
    if isinstance(extra, dict):
        raw_teams = extra.get("teams")
        if isinstance(raw_teams, dict):
            teams = {
                str(k): [str(m) for m in v] for k, v in raw_teams.items() if isinstance(v, list)
            }
        extra = extra.get("reviews", [])
    return pull_request_from_event(payload, parse_reviews(extra), teams)
