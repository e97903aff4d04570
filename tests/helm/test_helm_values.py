"""Values merging (helm's `-f` rule) and secret placeholders."""

from __future__ import annotations

import copy
from pathlib import Path

from hubfleet.helm.engine import render
from hubfleet.helm.values import merge_values, placeholder_secrets

TESTHUB = Path(__file__).parents[1] / "fixtures" / "charts" / "testhub"


def test_maps_merge_recursively_and_later_wins() -> None:
    merged = merge_values(
        [
            {"hub": {"image": {"name": "a", "tag": "1"}, "config": {"X": 1}}},
            {"hub": {"image": {"tag": "2"}}, "proxy": {"secretToken": "t"}},
        ]
    )
    assert merged == {
        "hub": {"image": {"name": "a", "tag": "2"}, "config": {"X": 1}},
        "proxy": {"secretToken": "t"},
    }


def test_lists_and_scalars_are_replaced() -> None:
    merged = merge_values(
        [
            {"ingress": {"hosts": ["a", "b"]}, "x": {"y": 1}, "s": "one"},
            {"ingress": {"hosts": ["c"]}, "x": 5, "s": {"now": "map"}},
        ]
    )
    assert merged == {"ingress": {"hosts": ["c"]}, "x": 5, "s": {"now": "map"}}


def test_null_is_kept_and_none_documents_are_skipped() -> None:
    merged = merge_values([{"a": {"b": 1, "c": 2}}, None, {"a": {"b": None}}])
    assert merged == {"a": {"b": None, "c": 2}}


def test_inputs_are_not_mutated_and_result_shares_nothing() -> None:
    first = {"hub": {"config": {"A": {"x": 1}}}, "hosts": ["a"]}
    second = {"hub": {"config": {"A": {"y": 2}}}}
    before = copy.deepcopy([first, second])
    merged = merge_values([first, second])
    assert [first, second] == before
    merged["hub"]["config"]["A"]["x"] = 99
    merged["hosts"].append("b")
    assert [first, second] == before


def test_null_removes_the_chart_default_in_rendered_output() -> None:
    values = merge_values(
        [
            {"singleuser": {"memory": {"guarantee": "2G"}}},
            {"singleuser": {"memory": {"guarantee": None}}},
        ]
    )
    plain = render(TESTHUB, {}, release="demo", namespace="demo")
    removed = render(TESTHUB, values, release="demo", namespace="demo")
    deployment = "testhub/templates/deployment.yaml"
    assert "SINGLEUSER_MEM_GUARANTEE" in plain[deployment]  # the chart default, 512M
    assert "SINGLEUSER_MEM_GUARANTEE" not in removed[deployment]
    assert "SINGLEUSER_MEM_LIMIT" in removed[deployment]


def test_list_replacement_in_rendered_output() -> None:
    values = merge_values(
        [
            {"ingress": {"hosts": ["old.example.org", "b.example.org"]}},
            {"ingress": {"hosts": ["new.example.org"]}},
        ]
    )
    ingress = render(TESTHUB, values, release="demo", namespace="demo")[
        "testhub/templates/ingress.yaml"
    ]
    assert "new.example.org" in ingress
    assert "old.example.org" not in ingress


def test_placeholder_secrets_names_the_key_path() -> None:
    data = {
        "hub": {"config": {"GitHubOAuthenticator": {"client_secret": "s3cret", "n": 3}}},
        "tokens": ["a", "b"],
        "off": None,
    }
    placed = placeholder_secrets(data)
    assert placed == {
        "hub": {
            "config": {
                "GitHubOAuthenticator": {
                    "client_secret": "<secret:hub.config.GitHubOAuthenticator.client_secret>",
                    "n": 3,
                }
            }
        },
        "tokens": ["<secret:tokens[0]>", "<secret:tokens[1]>"],
        "off": None,
    }
    assert placeholder_secrets(data) == placed  # stable
    assert data["hub"]["config"]["GitHubOAuthenticator"]["client_secret"] == "s3cret"
