"""hubfleet.yaml's `health:` (the scheduled checks) and `notify:` (owners told).

`health:` sets the scheduled workflow's cron and how `hubfleet check --all` runs;
`notify:` (opt-in) says whether the owners of the hubs a merged change deploys are
told before and after, through which channel, and who a hub's contacts are besides
its community's owners (docs/health-check.md, docs/ci.md).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hubfleet.base import kubenames
from hubfleet.config.community import Owner

# One field of a cron line as GitHub's `schedule` takes it: numbers, `*`, ranges,
# steps and lists (no names, no `@hourly`).
_CRON_FIELD = re.compile(
    r"(\*|\d{1,2}(-\d{1,2})?)(/\d{1,2})?(,(\*|\d{1,2}(-\d{1,2})?)(/\d{1,2})?)*"
)

DEFAULT_HEALTH_SCHEDULE = "17 */6 * * *"


def _contact_key(key: str) -> bool:
    """A contacts key: `cluster/hub`, or a hub name (that hub in every cluster)."""
    parts = key.split("/")
    return len(parts) <= 2 and all(kubenames.is_label(part) for part in parts)


def cron_line(value: str) -> str:
    """`value` when it is a cron line GitHub's `schedule` takes, else ValueError."""
    fields = value.split(" ")
    if len(fields) != 5 or not all(_CRON_FIELD.fullmatch(f) for f in fields):
        raise ValueError(
            f"{value!r} is not a cron line GitHub takes: five fields of numbers, '*', "
            "ranges, steps and lists, separated by one space (e.g. '17 */6 * * *')"
        )
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class HealthSettings(_Strict):
    """`health:` in hubfleet.yaml: the scheduled health checks."""

    schedule: str = Field(
        DEFAULT_HEALTH_SCHEDULE,
        description="cron (UTC) of the scheduled health-check workflow `hubfleet ci init` "
        "writes; GitHub runs it at most every 5 minutes",
    )
    cluster_concurrency: int = Field(8, ge=1, le=256, description="clusters checked at once")
    hub_concurrency: int = Field(4, ge=1, le=64, description="hubs of one cluster checked at once")
    retries: int = Field(
        1, ge=0, le=5, description="times a failed hub is checked again before it is reported"
    )
    attempt_timeout_s: float = Field(120.0, gt=0, le=3600, description="seconds per check")
    retry_delay_s: float = Field(
        5.0, ge=0, le=600, description="seconds between a failed check and its retry"
    )

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        return cron_line(value)


class NotifySettings(_Strict):
    """`notify:` in hubfleet.yaml: the owners of the hubs a merged change deploys are
    told before the deploy and after it (opt-in)."""

    owners: bool = Field(False, description="tell the owners of each affected hub (opt-in)")
    channel: Literal["github", "webhook"] = Field(
        "github",
        description="github: a comment on the merged pull request mentioning the owners; "
        "webhook: a JSON POST by the workflow to the URL in the secret HUBFLEET_NOTIFY_WEBHOOK_URL",
    )
    contacts: dict[str, list[Owner]] = Field(
        default_factory=dict,
        description="`cluster/hub` or a hub name -> GitHub users or teams told besides (or "
        "instead of, for a hub without a community) its community's owners",
    )

    @field_validator("contacts")
    @classmethod
    def _contact_keys(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for key in value:
            if not _contact_key(key):
                raise ValueError(f"{key!r} is not a hub name or cluster/hub")
        return value
