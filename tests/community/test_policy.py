"""The policy of community files: keys and values allowed and refused, wildcards, file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubfleet.community.check import community_problems
from hubfleet.community.policy import (
    Entry,
    Policy,
    check_data,
    image_registry_ok,
    matches,
    quantity,
)
from hubfleet.config.community import ValueConstraint
from hubfleet.config.load import load_fleet
from hubfleet.validate.run import validate
from tests.community.conftest import RESEARCH, TEACHING, line_of


def _policy(allow: list[str], deny: list[str] = (), **constraints: ValueConstraint) -> Policy:  # type: ignore[assignment]
    from hubfleet.community.policy import Constraint

    return Policy(
        tuple(Entry(p, "test") for p in allow),
        tuple(Entry(p, "test") for p in deny),
        tuple(Constraint(Entry(k.replace("__", "."), "test"), v) for k, v in constraints.items()),
    )


@pytest.mark.parametrize(
    ("pattern", "key", "expected"),
    [
        ("singleuser.image", ("singleuser", "image"), True),
        ("singleuser.image", ("singleuser",), False),
        (
            "hub.config.*.allowed_users",
            ("hub", "config", "GitHubOAuthenticator", "allowed_users"),
            True,
        ),
        ("hub.config.*.allowed_users", ("hub", "config", "a", "b", "allowed_users"), False),
        ("custom.homepage.**", ("custom", "homepage", "a", "b", "c"), True),
        ("custom.homepage.**", ("custom", "homepage"), True),
        ("**.nodeSelector", ("singleuser", "nodeSelector"), True),
        ("**.nodeSelector", ("nodeSelector",), True),
        ("**.*[Ss]ecret*", ("hub", "cookieSecret"), True),
        (
            "singleuser.profileList.*.kubespawner_override.image",
            ("singleuser", "profileList", 2, "kubespawner_override", "image"),
            True,
        ),
    ],
)
def test_patterns(pattern: str, key: tuple[str | int, ...], expected: bool) -> None:
    assert matches(pattern.split("."), key) is expected


def test_allowed_key_allows_everything_under_it_and_deny_wins() -> None:
    policy = _policy(["singleuser.profileList"], ["**.node_selector"])
    data = {
        "singleuser": {
            "profileList": [
                {"display_name": "small", "kubespawner_override": {"cpu_limit": 1}},
                {"display_name": "gpu", "kubespawner_override": {"node_selector": {"gpu": "y"}}},
            ]
        }
    }
    findings = check_data(policy, data)
    denied = [f for f in findings if f.rule == "policy.denied"]
    assert [f.key for f in denied] == [
        ("singleuser", "profileList", 1, "kubespawner_override", "node_selector")
    ]
    assert "deny entry '**.node_selector'" in denied[0].message
    # the pod checks judge what the allowed profile makes of a pod: no CPU bound is stated
    assert [(f.rule, f.key[-1]) for f in findings if f.rule.startswith("pod.")] == [
        ("pod.resources", "cpu_limit"),
        ("pod.node-placement", "gpu"),
    ]


def test_refused_key_names_the_entry_that_would_allow_it() -> None:
    policy = _policy(["singleuser.image"])
    findings = check_data(policy, {"singleuser": {"image": {"tag": "1"}, "cmd": ["x"]}})
    assert findings[0].rule == "policy.not-allowed"
    assert [f.key for f in findings] == [("singleuser", "cmd")]
    assert "'singleuser.cmd'" in findings[0].hint


def test_values_registries_ranges_choices() -> None:
    policy = _policy(
        ["singleuser"],
        singleuser__image=ValueConstraint(registries=["quay.io/jupyter"]),
        singleuser__memory__limit=ValueConstraint(minimum="1G", maximum="8G"),
        singleuser__defaultUrl=ValueConstraint(one_of=["/lab", "/tree"]),
    )
    good = {
        "singleuser": {
            "image": {"name": "quay.io/jupyter/base-notebook"},
            "memory": {"limit": "4G"},
            "defaultUrl": "/lab",
        }
    }
    assert check_data(policy, good) == []
    bad = {
        "singleuser": {
            "image": {"name": "evil.example/miner"},
            "memory": {"limit": "64Gi"},
            "defaultUrl": "/rstudio",
        }
    }
    found = check_data(policy, bad)
    messages = sorted(f.message for f in found if f.rule == "policy.constraint")
    assert len(messages) == 3
    assert "not one of '/lab', '/tree'" in messages[0]
    assert "not from an allowed registry" in messages[1]
    assert "above the maximum '8G'" in messages[2]


def test_quantities_and_registries() -> None:
    assert quantity("4G") == 4e9 and quantity("2Gi") == 2 * 2**30 and quantity("500m") == 0.5
    assert quantity(True) is None and quantity("lots") is None
    assert image_registry_ok("jupyter/scipy-notebook", ["docker.io/jupyter"])
    assert not image_registry_ok("jupyterx/scipy-notebook", ["docker.io/jupyter"])
    assert not image_registry_ok("quay.io.evil.example/jupyter/x", ["quay.io"])


def test_example_fleet_community_files_are_inside_the_policy(example_fleet: Path) -> None:
    fleet = load_fleet(example_fleet).fleet_or_raise()
    assert community_problems(fleet) == []
    result = validate(example_fleet, render=False)
    assert result.errors == ()


def _append(root: Path, path: str, text: str) -> None:
    with (root / path).open("a") as handle:
        handle.write(text)


def test_validate_reports_keys_and_values_outside_the_policy_at_their_line(
    example_fleet: Path,
) -> None:
    _append(
        example_fleet,
        RESEARCH,
        "proxy:\n  service:\n    type: LoadBalancer\n"
        "scheduling:\n  userPods:\n    nodeAffinity: {}\n",
    )
    text = (example_fleet / RESEARCH).read_text()
    text = text.replace("quay.io/jupyter/scipy-notebook", "ghcr.io/someone/miner")
    text = text.replace("  image:\n", "  nodeSelector:\n    pool: gpu\n  image:\n")
    (example_fleet / RESEARCH).write_text(text)
    _append(example_fleet, TEACHING, "    logo: x.png\n")  # custom.homepage.logo: allowed
    (example_fleet / TEACHING).write_text(
        (example_fleet / TEACHING).read_text().replace("limit: 4G", "limit: 32G")
        + "debug:\n  enabled: true\n"
    )
    result = validate(example_fleet, render=False)
    rendered = sorted(p.render() for p in result.errors)
    where = {(p.path, p.line): p.message for p in result.errors}
    # 6 key paths and values, and the pod checks' node placement and image registry
    assert len(result.errors) == 8, rendered
    research_proxy = (RESEARCH, line_of(example_fleet, RESEARCH, "proxy:"))
    assert "deny entry 'proxy'" in where[research_proxy]
    assert (
        "deny entry 'scheduling'"
        in where[(RESEARCH, line_of(example_fleet, RESEARCH, "scheduling:"))]
    )
    assert (
        "policy.not-allowed: singleuser.nodeSelector is outside the community policy"
        in where[(RESEARCH, line_of(example_fleet, RESEARCH, "nodeSelector:"))]
    )
    assert "pod.node-placement" in where[(RESEARCH, line_of(example_fleet, RESEARCH, "pool: gpu"))]
    assert (
        "not from an allowed registry"
        in where[(RESEARCH, line_of(example_fleet, RESEARCH, "image:"))]
    )
    limit = where[(TEACHING, line_of(example_fleet, TEACHING, "limit: 32G"))]
    assert "above the maximum '8G'" in limit
    debug = next(p for p in result.errors if p.path == TEACHING and "debug" in p.message)
    assert debug.line == line_of(example_fleet, TEACHING, "debug:")
    assert "is outside the community policy" in debug.message
    assert "'debug'" in str(debug.hint)
    # the constraint is named where it is written
    assert "config/clusters/pilot-gcp/cluster.yaml:" in str(
        next(p for p in result.errors if "maximum" in p.message).hint
    )


def test_hub_addition_allows_only_for_that_hub(example_fleet: Path) -> None:
    text = (
        (example_fleet / RESEARCH)
        .read_text()
        .replace("    tag: '2025-10-20'\n", "    tag: '2025-10-20'\n  memory:\n    limit: 4G\n")
    )
    (example_fleet / RESEARCH).write_text(text)
    result = validate(example_fleet, render=False)
    assert [(p.path, p.line, p.message.split(":")[0]) for p in result.errors] == [
        (RESEARCH, line_of(example_fleet, RESEARCH, "memory:"), "hub pilot-gcp/research"),
        # and no memory bound is stated for research (teaching's is its constraint)
        (RESEARCH, line_of(example_fleet, RESEARCH, "limit: 4G"), "hub pilot-gcp/research"),
    ]
    assert "policy.not-allowed" in result.errors[0].message
    assert "pod.resources" in result.errors[1].message


def test_community_file_must_be_a_values_file(example_fleet: Path) -> None:
    cluster = example_fleet / "config/clusters/pilot-gcp/cluster.yaml"
    text = cluster.read_text().replace("  - research.community.values.yaml\n", "", 1)
    cluster.write_text(text)
    result = validate(example_fleet, render=False)
    messages = [p.render() for p in result.errors]
    line = line_of(example_fleet, "config/clusters/pilot-gcp/cluster.yaml", "community:")
    assert messages == [
        f"config/clusters/pilot-gcp/cluster.yaml:{line}: community file "
        f"{RESEARCH} of hub pilot-gcp/research is not in its helm_chart_values_files "
        "(hint: list it there (last, so that it can set what it owns): export and plain helm "
        "read only helm_chart_values_files)"
    ]


def test_communities_need_a_platform_team(example_fleet: Path) -> None:
    settings = example_fleet / "hubfleet.yaml"
    settings.write_text(
        settings.read_text()
        .replace('    - "@example-org/platform"\n', "")
        .replace("  platform_owners:\n", "  platform_owners: []\n")
    )
    result = validate(example_fleet, render=False)
    assert any("names no community.platform_owners" in p.message for p in result.errors)


def test_bad_owner_is_a_schema_error(example_fleet: Path) -> None:
    cluster = example_fleet / "config/clusters/pilot-gcp/cluster.yaml"
    cluster.write_text(cluster.read_text().replace("'@alice-research'", "alice research"))
    result = validate(example_fleet, render=False)
    assert any("is not a GitHub owner" in p.message for p in result.errors), result.errors


def test_a_community_file_is_plain_yaml(example_fleet: Path) -> None:
    """A .jsonnet community file is code: the policy cannot judge what it evaluates to."""
    from hubfleet.community.decision import ChangedPath, decide

    cluster = example_fleet / "config/clusters/pilot-gcp/cluster.yaml"
    text = cluster.read_text().replace(
        "  - research.community.values.yaml\n",
        "  - research.community.values.yaml\n  - research.community.jsonnet\n",
        1,
    )
    text = text.replace(
        "    - '@alice-research'\n",
        "    - '@alice-research'\n    files: [research.community.values.yaml, "
        "research.community.jsonnet]\n",
        1,
    )
    cluster.write_text(text)
    jsonnet = "config/clusters/pilot-gcp/research.community.jsonnet"
    (example_fleet / jsonnet).write_text('{ singleuser: { image: { tag: "x" } } }\n')
    result = validate(example_fleet, render=False)
    assert any(
        "research.community.jsonnet of hub pilot-gcp/research is not a YAML file" in p.message
        for p in result.errors
    ), result.errors
    fleet = load_fleet(example_fleet).fleet_or_raise()
    decision = decide(
        fleet,
        [ChangedPath(jsonnet)],
        read_base=lambda _p: None,
        read_head=lambda p: (example_fleet / p).read_bytes(),
        pull=None,
    )
    assert not decision.files_only
    assert any("is not a YAML file" in r for r in decision.reasons), decision.reasons
