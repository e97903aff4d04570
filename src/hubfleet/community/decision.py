"""Whether a change is community-only, and why.

A change is community-only when every changed file is a community file of every hub
that reads it (not shared with a hub whose community does not own it), every key it
changes (parsed base and head compared) is inside those hubs' policy, and, for each
of those hubs, the pull request's author or an approver is among its owners. Who
wrote and who approved come from the GitHub event payload (and a reviews list), never
from an artifact. Without a pull request (a push) only the files and keys are
decided: that is what the deploy uses to upgrade just those hubs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hubfleet.base.errors import ConfigError, HubfleetError
from hubfleet.base.yamlio import Document, PathKey, load_data, load_yaml
from hubfleet.community.model import HubCommunity, community_files
from hubfleet.community.policy import Finding, Policy, check_data, dotted
from hubfleet.config.fleet import Fleet
from hubfleet.plan.plan import CommunityDecision, FileVerdict, HubVerdict

# path -> bytes of the file at that revision (None: absent there)
Reader = Callable[[str], bytes | None]


@dataclass(frozen=True)
class ChangedPath:
    path: str
    status: str = "M"
    old_path: str | None = None


@dataclass(frozen=True)
class Review:
    login: str
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED, ...


@dataclass(frozen=True)
class PullRequest:
    """Who wrote the pull request and who approved it (latest review per person)."""

    author: str
    approvers: tuple[str, ...] = ()
    # "org/team" -> logins, when the workflow gave the members of the owner teams.
    teams: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


# The decision's types are the plan's (`plan --event` carries one in its JSON).
Decision = CommunityDecision


# ------------------------------------------------------------------ the event


def _login(value: Any) -> str | None:
    if isinstance(value, Mapping) and isinstance(value.get("login"), str):
        return str(value["login"])
    return None


def parse_reviews(items: Any) -> list[Review]:
    """Reviews in the GitHub API's shape (`[{"user": {"login"}, "state"}]`), in order."""
    reviews = []
    for item in items if isinstance(items, list) else []:
        login = _login(item.get("user")) if isinstance(item, Mapping) else None
        state = item.get("state") if isinstance(item, Mapping) else None
        if login and isinstance(state, str):
            reviews.append(Review(login, state.upper()))
    return reviews


def pull_request_from_event(
    payload: Any, reviews: Sequence[Review] = (), teams: Mapping[str, Sequence[str]] | None = None
) -> PullRequest | None:
    """The pull request of an event payload (None for a push or other event): its author
    (`pull_request.user.login`) and approvers from `reviews`, the payload's `reviews`
    list and, on a `pull_request_review` event, its `review`. A person's latest review
    counts (a later change request withdraws an approval); the author never approves."""
    if not isinstance(payload, Mapping):
        return None
    pull = payload.get("pull_request")
    author = _login(pull.get("user")) if isinstance(pull, Mapping) else None
    if author is None:
        return None
    found = [*parse_reviews(payload.get("reviews")), *reviews]
    review = payload.get("review")
    if isinstance(review, Mapping):
        found += parse_reviews([review])
    latest: dict[str, str] = {}
    for item in found:
        if item.state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            latest[item.login.lower()] = item.state
    names = {item.login.lower(): item.login for item in found}
    approvers = tuple(
        sorted(
            names[k] for k, state in latest.items() if state == "APPROVED" and k != author.lower()
        )
    )
    team_members = {
        team.lower().lstrip("@"): tuple(members) for team, members in (teams or {}).items()
    }
    return PullRequest(author, approvers, team_members)


def _owner_match(owner: str, login: str, pull: PullRequest) -> bool:
    name = owner.lstrip("@").lower()
    if "/" not in name:
        return name == login.lower()
    return login.lower() in {m.lower() for m in pull.teams.get(name, ())}


def owner_approval(community: HubCommunity, pull: PullRequest) -> str | None:
    """The owner login (author first, then approvers) that may merge for this hub."""
    for login in (pull.author, *pull.approvers):
        if any(_owner_match(owner, login, pull) for owner in community.owners):
            return login
    return None


# -------------------------------------------------------------- the contents


def changed_keys(old: Any, new: Any, here: PathKey = ()) -> list[PathKey]:
    """The key paths whose values differ between two parsed documents (the shallowest
    path where they differ: a list that changed is one changed key)."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        found: list[PathKey] = []
        for key in sorted(set(old) | set(new), key=str):
            if key not in old or key not in new:
                found.append((*here, key))
            else:
                found += changed_keys(old[key], new[key], (*here, key))
        return found
    if old == new and type(old) is type(new):
        return []
    return [here]


def _parse(data: bytes | None, path: str) -> Any:
    if data is None:
        return None
    return load_data(data.decode("utf-8"), path)


def _parse_lines(data: bytes | None, path: str) -> Document | None:
    """The file at head with its lines, so that each refusal names its line."""
    if data is None:
        return None
    return load_yaml(data.decode("utf-8"), path)


def _keys_problems(policy: Policy, head: Any, keys: Iterable[PathKey]) -> list[Finding]:
    """Findings of the policy on the head document that concern one of the changed keys;
    a key removed at head is checked as if set."""
    wanted = list(keys)
    if not wanted:
        return []

    def related(key: PathKey) -> bool:
        return any(key[: len(k)] == k or k[: len(key)] == key for k in wanted)

    findings = [f for f in check_data(policy, head) if related(f.key)]
    seen = {f.key for f in findings}
    for key in wanted:
        if not _present(head, key) and not any(key[: len(s)] == s for s in seen):
            findings += [
                f
                for f in check_data(policy, _nested(key))
                if f.key[: len(key)] == key[: len(f.key)]
            ]
    return findings


def _present(data: Any, key: PathKey) -> bool:
    for part in key:
        if isinstance(data, Mapping) and part in data:
            data = data[part]
            continue
        if not (isinstance(data, list) and isinstance(part, int) and part < len(data)):
            return False
        data = data[part]
    return True


def _nested(key: PathKey) -> Any:
    """A document setting only `key` (to a placeholder), to ask the policy about a removal."""
    value: Any = ""
    for part in reversed(key):
        value = {part: value}
    return value


def decide(
    fleet: Fleet,
    changes: Sequence[ChangedPath],
    *,
    read_base: Reader,
    read_head: Reader,
    pull: PullRequest | None,
) -> Decision:
    """The community-only decision for `changes` to the fleet (as loaded at head)."""
    reasons: list[str] = []
    owned = community_files(fleet)
    readers: dict[str, list[str]] = {}
    for hub in fleet.hubs():
        for path in hub.values_files:
            readers.setdefault(path, []).append(hub.label)
    selected: dict[str, HubCommunity] = {}
    verdicts: list[FileVerdict] = []
    if not changes:
        reasons.append("no changed files")
    for change in changes:
        path = change.path
        communities_of = owned.get(path, [])
        if change.old_path is not None or change.status not in ("M", "A"):
            what = "renamed" if change.old_path is not None else "deleted"
            reasons.append(f"{path} is {what}: only edits of community files are community-only")
            continue
        if not communities_of:
            reasons.append(f"{path} is not a community file")
            continue
        if not path.endswith((".yaml", ".yml")):
            reasons.append(f"{path} is not a YAML file: the policy judges only plain values")
            continue
        labels = {c.label for c in communities_of}
        shared = sorted(set(readers.get(path, [])) - labels)
        if shared:
            reasons.append(
                f"{path} is shared with {', '.join(shared)}, whose community does not own it"
            )
            continue
        try:
            old = _parse(read_base(path), path)
            doc = _parse_lines(read_head(path), path)
        except (ConfigError, UnicodeDecodeError, HubfleetError) as exc:
            reasons.append(f"{path} cannot be compared: {str(exc).splitlines()[0]}")
            continue
        new = doc.data if doc is not None else None
        keys = changed_keys(old if old is not None else {}, new if new is not None else {})
        found: set[tuple[int, str]] = set()
        for community in communities_of:
            selected[community.label] = community
            for finding in _keys_problems(community.policy, new or {}, keys):
                line = doc.lines.line(finding.key) if doc is not None else 1
                found.add((line, f"hub {community.label}: {finding.message}"))
        problems = [f"{path}:{line}: {text}" for line, text in sorted(found)]
        reasons += problems
        verdicts.append(
            FileVerdict(
                path,
                tuple(sorted(labels)),
                tuple(dotted(k) for k in keys),
                tuple(problems),
            )
        )
    files_only = not reasons
    hub_verdicts = []
    for label in sorted(selected):
        community = selected[label]
        approved = owner_approval(community, pull) if pull is not None else None
        hub_verdicts.append(
            HubVerdict(community.cluster, community.hub, community.owners, approved)
        )
        if pull is not None and approved is None:
            reasons.append(
                f"hub {label}: neither the author @{pull.author} nor an approver is among its "
                f"owners ({', '.join(community.owners)})"
            )
    if pull is None:
        reasons.append("not a pull request: the author and approvals were not checked")
    community_only = not reasons
    if community_only:
        reasons.append(
            "every changed file is a community file, every changed key is inside its policy, "
            "and each hub's owners approved (or wrote) it"
        )
    elif files_only and pull is None:
        reasons.insert(0, "every changed file is a community file inside its policy")
    return Decision(
        community_only=community_only,
        files_only=files_only,
        reasons=tuple(reasons),
        files=tuple(verdicts),
        hubs=tuple(hub_verdicts),
        author=pull.author if pull else None,
        approvers=pull.approvers if pull else (),
    )
