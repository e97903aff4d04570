"""`plan --diff`: a whole push planned from its `before`, the comment's budget with
171 hubs, hostile owner handles and hostile diff files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from hubfleet.base.jsonio import InputError
from hubfleet.base.redact import Redactor
from hubfleet.plan.diff_report import (
    Mention,
    code_block,
    diff_markdown,
    mentions,
    mentions_markdown,
    read_diffs,
    to_json,
    valid_handle,
)
from hubfleet.plan.labels import Labels
from hubfleet.plan.manifest_diff import HubChange, ResourceChange, full_text, unified
from hubfleet.plan.plan import Plan
from hubfleet.plan.render_diffs import to_markdown_with_diffs
from hubfleet.plan.revisions import plan_from_git
from tests.ci.ci_helpers import bash
from tests.conftest import TESTS
from tests.plan.conftest import GitFleet, units

LIMIT = 65_536
DEPLOY_TEMPLATE = TESTS.parent / "src/hubfleet/ci/templates/workflows/hubfleet-deploy.yaml"


# ------------------------------------------------------------------ a whole push


def test_a_push_of_three_commits_plans_the_two_hubs_it_changes(git_fleet: GitFleet) -> None:
    git_fleet.edit("config/clusters/gamma/prod.values.yaml", "hello from prod", "hi from prod")
    git_fleet.commit("A: gamma/prod")
    git_fleet.edit("config/clusters/alpha/prod2.values.yaml", "hello from prod2", "hi, prod2")
    git_fleet.commit("B: alpha/prod2")
    git_fleet.edit("config/clusters/beta/research.values.yaml", "extras:\n", "# a note\nextras:\n")
    git_fleet.commit("C: a comment")
    plan = plan_from_git(
        git_fleet.root,
        base="base",  # the push's before: three commits ago
        head="HEAD",
        labels=Labels(),
        redactor=Redactor(),
        rendered=True,
    )
    assert units(plan) == {
        "support": [],
        "staging": ["alpha/staging"],  # the canary of alpha/prod2
        "prod": ["alpha/prod2", "gamma/prod"],
    }
    assert [j.hub for j in plan.skipped] == ["research"]  # the comment: rendered identical


def _base_of(repo: Path, tmp_path: Path, **env: str) -> str:
    """The `--base` the deploy workflow's Plan step passes (hubfleet faked)."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    fake = bindir / "hubfleet"
    fake.write_text(
        '#!/bin/bash\nprintf "%s\\n" "$@" >> "$FAKE_LOG"\ncase "$*" in *json*) echo "{}";; esac\n'
    )
    fake.chmod(0o755)
    log = tmp_path / "args.txt"
    workflow: dict[str, Any] = yaml.safe_load(DEPLOY_TEMPLATE.read_text())
    [plan_step] = [s for s in workflow["jobs"]["plan"]["steps"] if s.get("name") == "Plan"]
    full = {key: "" for key in plan_step["env"]}
    full.update(env, FAKE_LOG=str(log), GITHUB_STEP_SUMMARY=str(tmp_path / "summary.md"))
    result = bash(plan_step["run"], cwd=repo, env=full, path_first=[bindir])
    assert result.returncode == 0, result.stderr
    args = [line for line in log.read_text().splitlines()]
    return args[args.index("--base") + 1]


def test_the_workflow_plans_a_push_from_before_a_new_branch_from_the_default_branch(
    git_fleet: GitFleet, tmp_path: Path
) -> None:
    base = git_fleet.git("rev-parse", "HEAD")
    git_fleet.git("update-ref", "refs/remotes/origin/main", base)
    for n in (1, 2, 3):
        git_fleet.path(f"notes-{n}.txt").write_text(f"{n}\n")
        git_fleet.commit(f"c{n}")
    assert _base_of(git_fleet.root, tmp_path, EVENT_NAME="push", PUSH_BEFORE=base) == base
    # A new branch: before is all zeros; its merge base with the default branch.
    new_branch = {"EVENT_NAME": "push", "PUSH_BEFORE": "0" * 40, "DEFAULT_BRANCH": "main"}
    assert _base_of(git_fleet.root, tmp_path, **new_branch) == base


def test_a_force_push_plans_from_the_merge_base(git_fleet: GitFleet, tmp_path: Path) -> None:
    fork_point = git_fleet.git("rev-parse", "HEAD")
    git_fleet.path("old.txt").write_text("old\n")
    old_tip = git_fleet.commit("the commit a force push drops")
    git_fleet.git("reset", "-q", "--hard", fork_point)
    git_fleet.path("new.txt").write_text("new\n")
    git_fleet.commit("its replacement")
    assert _base_of(git_fleet.root, tmp_path, EVENT_NAME="push", PUSH_BEFORE=old_tip) == (
        fork_point
    )


# ---------------------------------------------------------------- the comment's budget


def _change(index: int, image: str) -> HubChange:
    """A large change of hub `index`: the image, and a config map of 400 lines."""
    left = "spec:\n  image: quay.io/jupyter/base:1\n" + "".join(
        f"  line{n}: {index}-{n}-old\n" for n in range(400)
    )
    right = f"spec:\n  image: {image}\n" + "".join(
        f"  line{n}: {index}-{n}-new\n" for n in range(400)
    )
    deployment = ResourceChange(
        "Deployment/hub", ("spec.template.spec.containers[0].image",), unified("d", left, right)
    )
    return HubChange(f"c{index % 30}", f"hub{index:03d}", (deployment,), ("Secret/hub data.x",))


def test_the_markdown_of_171_hubs_stays_under_the_limit_and_the_artifact_has_all() -> None:
    changes = [_change(i, f"quay.io/jupyter/base:{2 + i % 3}") for i in range(171)]
    markdown = to_markdown_with_diffs(Plan(), changes)
    assert len(markdown) < LIMIT and len(markdown.encode()) <= 60_000
    assert "<details><summary>" in markdown
    assert "the whole diff is in hubfleet-plan (plan.diff)" in markdown
    whole = full_text(changes)
    assert len(whole) > 10 * LIMIT
    for change in changes:
        assert f"# hub {change.label}: 1 resource(s) changed" in whole
    assert whole.count("+  line399: ") == 171


def test_hubs_with_the_same_change_are_grouped() -> None:
    same = [
        HubChange(
            "c",
            f"h{i}",
            (ResourceChange("Deployment/hub", ("spec.x",), unified("d", "x: 1\n", "x: 2\n")),),
        )
        for i in range(41)
    ]
    other = HubChange(
        "b", "research", (ResourceChange("ConfigMap/hub", ("data.y",), unified("c", "a\n", "b\n")),)
    )
    markdown = diff_markdown([*same, other], budget=60_000)
    assert "41 hubs: the same change as c/h0 (1 resource(s))" in markdown
    assert "b/research: 1 resource(s) changed" in markdown
    assert markdown.count("```diff") == 2


# ------------------------------------------------------------------ hostile content


@pytest.mark.parametrize(
    "owner",
    [
        "@evil](https://example.com)",
        "@a @b",
        "@user\n# heading",
        "@user<img src=x>",
        "user",
        "@-user",
        "@org/team",  # a team, not allowed by default
        "@" + "a" * 40,
        "@user`",
        "@us\u202eer",
    ],
)
def test_a_hostile_owner_is_never_mentioned(owner: str) -> None:
    found, refused = mentions({"c/h": [owner, "@good-owner"]}, teams=False)
    assert found == [Mention("@good-owner", ("c/h",))]
    assert refused == [owner]
    markdown = mentions_markdown([*found, Mention(owner, ("c/h",))], teams=False)
    assert markdown.count("@") == 1 and "- @good-owner: c/h" in markdown


def test_owners_are_mentioned_once_and_teams_only_when_allowed() -> None:
    owners = {"c/a": ["@Ann", "@org/team"], "c/b": ["@ann"], "c/c": ["@bob"]}
    found, _refused = mentions(owners, teams=True)
    assert found == [
        Mention("@ann", ("c/a", "c/b")),
        Mention("@bob", ("c/c",)),
        Mention("@org/team", ("c/a",)),
    ]
    assert valid_handle("@org/team", teams=True) and not valid_handle("@org/team", teams=False)
    text = mentions_markdown(found, teams=False)
    assert "@org/team" not in text and text.count("- @") == 2


def test_a_hub_name_in_a_mention_cannot_mention_or_link() -> None:
    text = mentions_markdown([Mention("@ann", ("c/@bob [x](http://e)",))], teams=False)
    assert "@bob" not in text and "](http" not in text


def test_a_diff_cannot_close_its_block_or_hide_text() -> None:
    hostile = "+ ```\n+ </details>\n+ ````` @user\n+ a\u202eb\n"
    block = code_block(hostile)
    fence = block.splitlines()[0].removesuffix("diff")
    assert len(fence) > 5 and block.endswith("\n" + fence)
    inner = block.splitlines()[1:-1]
    assert all(not line.startswith(fence) for line in inner)
    assert "\u202e" not in block and "\\u202e" in block


def test_a_hostile_diff_file_is_refused(tmp_path: Path) -> None:
    good = to_json([_change(1, "x:2")], [Mention("@ann", ("c1/hub001",))])
    path = tmp_path / "diffs.json"
    path.write_text(json.dumps(good))
    changes, found = read_diffs(path)
    assert changes[0].label == "c1/hub001" and found == [Mention("@ann", ("c1/hub001",))]
    for broken in (
        {**good, "version": 2},
        {**good, "hubs": {"a": 1}},
        {**good, "hubs": [{**good["hubs"][0], "resources": [{"resource": 1}]}]},
        {**good, "mentions": [{"owner": ["@a"], "hubs": []}]},
    ):
        path.write_text(json.dumps(broken))
        with pytest.raises(InputError):
            read_diffs(path)
    path.write_text("not json")
    with pytest.raises(InputError):
        read_diffs(path)


def test_saved_mentions_need_the_trusted_fleet(
    tmp_path: Path,
    run_cli,  # type: ignore[no-untyped-def]
) -> None:
    """The comment workflow's `--repo trusted` is an empty folder: a mention an
    artifact carries is dropped, the diff is shown."""
    plan_file, diff_file = tmp_path / "plan.json", tmp_path / "diffs.json"
    plan_file.write_text(json.dumps(Plan().to_json()))
    diff_file.write_text(json.dumps(to_json([_change(1, "x:2")], [Mention("@ann", ("c1/x",))])))
    trusted = tmp_path / "trusted"
    trusted.mkdir()
    result = run_cli(
        "--repo", trusted, "plan", "--from-json", plan_file, "--diff-from", diff_file,
        "--output", "markdown",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Rendered changes: 1 hub(s)" in result.stdout
    assert "@ann" not in result.stdout


def test_saved_mentions_kept_as_the_trusted_fleet_says(
    tmp_path: Path,
    run_cli,  # type: ignore[no-untyped-def]
) -> None:
    """The comment workflow's `trusted` is the default branch's checkout: with
    `plan.mention_owners` there, a mention stays for the hubs that fleet gives the
    owner, and an owner or hub the artifact added is dropped."""
    import shutil

    trusted = tmp_path / "trusted"
    shutil.copytree(TESTS.parent / "examples" / "fleet", trusted, symlinks=True)
    plan_file, diff_file = tmp_path / "plan.json", tmp_path / "diffs.json"
    plan_file.write_text(json.dumps(Plan().to_json()))
    saved = [
        Mention("@alice-research", ("pilot-gcp/research", "pilot-gcp/teaching")),
        Mention("@mallory", ("pilot-gcp/research",)),
    ]
    diff_file.write_text(json.dumps(to_json([_change(1, "x:2")], saved)))
    args = ("plan", "--from-json", plan_file, "--diff-from", diff_file, "--output", "markdown")
    off = run_cli("--repo", trusted, *args)
    assert off.exit_code == 0, off.output
    assert "@alice-research" not in off.stdout  # mentions are off in that fleet
    with (trusted / "hubfleet.yaml").open("a") as handle:
        handle.write("plan:\n  mention_owners: true\n")
    on = run_cli("--repo", trusted, *args)
    assert on.exit_code == 0, on.output
    assert "@alice-research" in on.stdout
    line = on.stdout.split("@alice-research", 1)[1].splitlines()[0]
    assert "pilot-gcp/research" in line and "teaching" not in line
    assert "@mallory" not in on.stdout
