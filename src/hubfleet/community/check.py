"""The community checks of `hubfleet validate`: blocks, files and the policy, at file:line."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath

from hubfleet.base.errors import ConfigError, Problem
from hubfleet.base.yamlio import load_yaml, read_fleet_text
from hubfleet.community.model import HubCommunity, communities, community_files
from hubfleet.community.policy import check_data
from hubfleet.config.fleet import Fleet
from hubfleet.secrets.sops import is_encrypted


def community_problems(
    fleet: Fleet, *, clusters: Sequence[str] | None = None, skip: frozenset[str] = frozenset()
) -> list[Problem]:
    """Every problem of the fleet's communities: a community file not among its hub's
    values files, a secret one, a key or value outside its policy (at its line, naming
    the entry that would allow it), and communities without a platform team.
    Only the communities of `clusters` (default: all) are checked; files in `skip`
    (refused or broken, reported elsewhere) are not read."""
    problems: list[Problem] = []
    found = [c for c in communities(fleet) if clusters is None or c.cluster in clusters]
    if found and not fleet.settings.community.platform_owners:
        problems.append(
            Problem(
                fleet.settings_file or "hubfleet.yaml",
                fleet.settings_lines.line(("community",)) if fleet.settings_file else 1,
                "hubs name a community but hubfleet.yaml names no community.platform_owners",
                "set community.platform_owners (e.g. ['@org/platform']): they own every other "
                "file in the generated CODEOWNERS",
            )
        )
    for community in found:
        hub = fleet.cluster(community.cluster).hub(community.hub)
        for path in community.files:
            line = community.file_lines[path]
            if path not in hub.values_files:
                problems.append(
                    Problem(
                        community.cluster_file,
                        line,
                        f"community file {path} of hub {community.label} is not in its "
                        "helm_chart_values_files",
                        "list it there (last, so that it can set what it owns): export and plain "
                        "helm read only helm_chart_values_files",
                    )
                )
            elif not path.endswith((".yaml", ".yml")):
                problems.append(
                    Problem(
                        community.cluster_file,
                        line,
                        f"community file {path} of hub {community.label} is not a YAML file",
                        "a community file is plain YAML (a .jsonnet file is code the policy "
                        "cannot judge)",
                    )
                )
            elif "secret" in PurePosixPath(path).name:
                problems.append(
                    Problem(
                        community.cluster_file,
                        line,
                        f"community file {path} of hub {community.label} is a secret file",
                        "a community file holds no secret: keep secrets in an encrypted file",
                    )
                )
    checked: set[str] = set()
    for path, all_owners in sorted(community_files(fleet).items()):
        owners = [c for c in all_owners if c in found]
        if not owners or path in skip or path in checked or not fleet.abspath(path).is_file():
            continue
        checked.add(path)
        problems += _file_problems(fleet, path, owners)
    return problems


def _file_problems(fleet: Fleet, path: str, owners: Sequence[HubCommunity]) -> list[Problem]:
    try:
        text = read_fleet_text(fleet.root, path)
        if is_encrypted(text, path):
            return [
                Problem(
                    path,
                    1,
                    f"community file {path} is sops-encrypted",
                    "a community file holds no secret and is edited in plain text",
                )
            ]
        doc = load_yaml(text, path)
    except ConfigError:
        return []  # the values checks report it
    problems = []
    for community in owners:
        for finding in check_data(community.policy, doc.data):
            problems.append(
                Problem(
                    path,
                    doc.lines.line(finding.key),
                    f"hub {community.label}: {finding.message}",
                    finding.hint,
                )
            )
    return problems
