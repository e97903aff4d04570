"""The pull-request comment with each hub's rendered diffs (`plan --rendered --diff`).

Apart from `hubfleet.plan.render` so that a plan that renders nothing imports none
of the diff modules (`manifest_diff`, `diff_report`, the helm checks they use).
"""

from __future__ import annotations

from collections.abc import Sequence

from hubfleet.plan.diff_report import COMMENT_BUDGET, Mention, diff_markdown, mentions_markdown
from hubfleet.plan.manifest_diff import HubChange
from hubfleet.plan.plan import Plan
from hubfleet.plan.render import Scrub, to_markdown, unchanged


def to_markdown_with_diffs(
    plan: Plan,
    changes: Sequence[HubChange],
    scrub: Scrub = unchanged,
    *,
    found: Sequence[Mention] = (),
    teams: bool = False,
    budget: int = COMMENT_BUDGET,
) -> str:
    """The comment with the rendered diffs (and, opt-in, the owners to mention), in at
    most `budget` bytes: the job tables keep fewer reasons when they are large, and
    the diffs fill what is left (`hubfleet.plan.diff_report`)."""
    text = to_markdown(plan, scrub)
    for max_reasons in (3, 1):
        if len(text.encode("utf-8")) <= budget // 2:
            break
        text = to_markdown(plan, scrub, max_reasons=max_reasons)
    text += mentions_markdown(found, teams=teams, scrub=scrub)
    room = budget - len(text.encode("utf-8"))
    if room > 0:
        text += diff_markdown(changes, budget=room, scrub=scrub)
    return text
