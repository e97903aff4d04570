"""The plan JSON's one reader (`read_plan`): every structural check, each an error
naming the file, the entry and its line (exit 2), and a plan read back equal to the
plan written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hubfleet.base.errors import ConfigError
from hubfleet.plan.job import InputError, Job, json_line
from hubfleet.plan.plan import CommunityDecision, FileVerdict, HubVerdict, Plan, read_plan
from hubfleet.plan.render import to_json_text

JOB = {"provider": "gcp", "reasons": ["x"], "choice_reason": "x"}
COMMUNITY = {"community_only": True, "files_only": True, "reasons": []}


def _plan(**lists: Any) -> dict[str, Any]:
    return {"support_jobs": [], "staging_jobs": [], "prod_jobs": [], **lists}


def _written(tmp_path: Path, data: Any) -> Path:
    """The plan in a file: text as given; an object one key a line, one entry a line."""
    if isinstance(data, dict):
        members = [
            f"{json.dumps(key)}: "
            + (
                "[\n" + ",\n".join(json.dumps(entry) for entry in value) + "\n]"
                if isinstance(value, list)
                else json.dumps(value)
            )
            for key, value in data.items()
        ]
        data = "{\n" + ",\n".join(members) + "\n}\n"
    path = tmp_path / "plan.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def _line_of(path: Path, fragment: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if fragment in line)


def test_a_written_plan_reads_back_equal(tmp_path: Path) -> None:
    plan = Plan(
        support_jobs=(Job("alpha", None, "support", "gcp", ("a changed",)),),
        staging_jobs=(Job("alpha", "staging", "staging", "gcp", ("canary", "b changed")),),
        prod_jobs=(Job("beta", "prod1", "prod", "aws", ("c changed",)),),
        removed_hubs=(Job("beta", "gone", "removed", "aws", ("removed",)),),
        skipped=(
            Job("alpha", None, "cluster", "gcp", ("informational",)),
            Job("beta", "prod2", "prod", "aws", ("label",)),
        ),
        warnings=("w",),
        unmatched_files=("README.md",),
        community=CommunityDecision(
            False,
            True,
            ("r",),
            (FileVerdict("a.yaml", ("alpha/prod1",), ("x.y",), ()),),
            (HubVerdict("alpha", "prod1", ("@o",), None),),
            "someone",
            ("o",),
        ),
        terraform_jobs=(Job("alpha", None, "terraform", "gcp", ("cluster.yaml changed",)),),
    )
    path = _written(tmp_path, to_json_text(plan))
    assert read_plan(path) == plan
    assert read_plan(path, schema=True) == plan
    assert read_plan(Path("-"), stdin_text=path.read_text()) == plan


# case -> (the plan's data, the message, a fragment of the line the error is at)
CASES: dict[str, tuple[Any, str, str | None]] = {
    "not an object": ([], "not a plan: expected support_jobs", None),
    "no job list": ({"warnings": []}, "not a plan: expected support_jobs", None),
    "a list that is not": (_plan(prod_jobs={}), "prod_jobs must be a list", '"prod_jobs"'),
    "an entry that is no object": (
        _plan(prod_jobs=[{"cluster_name": "alpha", "hub_name": "p", **JOB}, "not a job"]),
        "prod_jobs[1]: a job must be a JSON object",
        '"not a job"',
    ),
    "no cluster_name": (
        _plan(support_jobs=[{"cluster_name": "alpha", **JOB}, {"cluster": "beta", **JOB}]),
        "support_jobs[1]: a job needs a cluster_name",
        '"cluster": "beta"',
    ),
    "a hub job without its hub": (
        _plan(staging_jobs=[{"cluster_name": "alpha", **JOB}]),
        "staging_jobs[0]: a staging job needs a hub_name",
        None,
    ),
    "an unknown provider": (
        _plan(prod_jobs=[{"cluster_name": "a", "hub_name": "h", "provider": "openstack"}]),
        "prod_jobs[0]: unknown provider 'openstack'",
        None,
    ),
    "two providers for one cluster": (
        _plan(
            support_jobs=[{"cluster_name": "a", **JOB}],
            prod_jobs=[{"cluster_name": "a", "hub_name": "h", "provider": "aws"}],
        ),
        "prod_jobs[0]: the plan gives cluster 'a' two providers: gcp and aws",
        '"provider": "aws"',
    ),
    "an unknown skipped kind": (
        _plan(skipped=[{"cluster_name": "a", "kind": "everything", **JOB}]),
        "skipped[0]: unknown kind 'everything'",
        None,
    ),
    "a community that is no object": (
        _plan(community=["yes"]),
        "community must be a JSON object",
        '"community"',
    ),
    "a community without its verdict": (
        _plan(community={"files_only": True, "reasons": []}),
        "community.community_only must be true or false",
        '"community"',
    ),
    "a community hub that is no object": (
        _plan(community={**COMMUNITY, "hubs": ["not a hub"]}),
        "community.hubs[0] must be a JSON object",
        '"community"',
    ),
    "a community hub without a name": (
        _plan(community={**COMMUNITY, "hubs": [{"cluster_name": "a", "hub_name": 1}]}),
        "community.hubs[0].hub_name must be a string",
        '"community"',
    ),
    "community reasons that are no strings": (
        _plan(community={**COMMUNITY, "reasons": [1]}),
        "community.reasons must be a list of strings",
        '"community"',
    ),
    "a community file entry without a path": (
        _plan(community={**COMMUNITY, "files": [{"hubs": []}]}),
        "community.files[0].path must be a string",
        '"community"',
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_malformed_plan_is_an_error_at_its_line(tmp_path: Path, case: str) -> None:
    data, message, fragment = CASES[case]
    path = _written(tmp_path, data)
    with pytest.raises(InputError) as raised:
        read_plan(path)
    error = raised.value
    assert error.exit_code == 2
    assert message in error.message
    assert error.path == str(path)
    if fragment is not None:
        assert error.line == _line_of(path, fragment), path.read_text()


def test_a_job_error_points_at_its_entry_on_one_line_or_many(tmp_path: Path) -> None:
    path = _written(tmp_path, "")
    path.write_text(
        '{"support_jobs": [], "staging_jobs": [],\n'
        ' "prod_jobs": [{"cluster_name": "a", "hub_name": "h"},\n'
        "   {\n"
        '     "cluster_name": "a"\n'
        "   }]}\n"
    )
    with pytest.raises(InputError, match=r"prod_jobs\[1\]: a prod job needs a hub_name") as raised:
        read_plan(path)
    assert str(raised.value).startswith(f"{path}:3: ")


def test_unreadable_and_not_json(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read the plan") as raised:
        read_plan(tmp_path / "missing.json")
    assert raised.value.path == str(tmp_path / "missing.json")
    path = _written(tmp_path, '{"prod_jobs": [\n  oops\n]}')
    with pytest.raises(InputError, match="the plan is not JSON") as raised:
        read_plan(path)
    assert raised.value.line == 2
    with pytest.raises(InputError, match="the plan is not JSON") as raised:
        read_plan(Path("-"), stdin_text="not json")
    assert raised.value.path == "stdin"


def test_the_schema_is_checked_only_when_asked(tmp_path: Path) -> None:
    """`plan --from-json` checks the JSON Schema too; deploy and ci matrix take a plan
    with a job's provider left out (the fleet's is used)."""
    path = _written(tmp_path, _plan(prod_jobs=[{"cluster_name": "a", "hub_name": "h"}]))
    assert read_plan(path).prod_jobs == (Job("a", "h", "prod", "", ()),)
    with pytest.raises(ConfigError, match="'provider' is a required property"):
        read_plan(path, schema=True)


def test_the_community_hubs_of_a_plan() -> None:
    hubs = (HubVerdict("alpha", "prod1", ("@o",), None),)
    decision = CommunityDecision(True, True, (), hubs=hubs)
    assert Plan(community=decision).community_hubs == frozenset({("alpha", "prod1")})
    not_files_only = CommunityDecision(False, False, (), hubs=hubs)
    assert Plan(community=not_files_only).community_hubs is None
    assert Plan().community_hubs is None


def test_a_community_decision_is_written_as_before(tmp_path: Path) -> None:
    """The typed field writes the JSON `plan --event` wrote as an untyped object: same
    keys, same order."""
    decision = CommunityDecision(
        True, True, ("r",), hubs=(HubVerdict("a", "h", ("@o",), "o"),), author="o"
    )
    written = Plan(community=decision).to_json()["community"]
    assert list(written) == [
        "community_only", "files_only", "reasons", "author", "approvers", "hubs", "files",
    ]  # fmt: skip
    assert written["hubs"] == [
        {"cluster_name": "a", "hub_name": "h", "owners": ["@o"], "approved_by": "o"}
    ]
    path = _written(tmp_path, to_json_text(Plan(community=decision)))
    assert read_plan(path, schema=True).community == decision


@pytest.mark.parametrize(
    ("text", "steps", "line"),
    [
        ('{\n "a": 1,\n "b": [\n  2,\n  {"c": 3}\n ]\n}', ("b", 1, "c"), 5),
        ('{\n "a": 1,\n "b": [\n  2,\n  {"c": 3}\n ]\n}', ("b", 0), 4),
        ('{"x": "}\\n{", \n"y": [1]}', ("y", 0), 2),  # braces and escapes inside strings
        ('{\n"a": {}\n}', ("a", "missing"), 2),  # the deepest value found
        ("[\n1,\n2\n]", ("key",), 1),  # a key where an array is
        ("", ("a",), None),  # no text: no line
    ],
)
def test_json_line(text: str, steps: tuple[str | int, ...], line: int | None) -> None:
    assert json_line(text, steps) == line
