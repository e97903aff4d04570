"""Owners told (`hubfleet ci notice` and the deploy workflow's notify jobs): one notice
per merged change, its GitHub comment and its webhook payload, the steps that send
them run with a fake `gh` and a fake `curl`."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ci.ci_helpers import DEPLOY, PLAN, bash, load, rendered, step
from tests.fakes import install_fakes

Cli = Callable[..., Any]
COMMIT = "0123456789abcdef0123456789abcdef01234567"
RUN = "https://github.com/example-org/fleet/actions/runs/1"


def _notify(fleet: Path, **settings: Any) -> None:
    path = fleet / "hubfleet.yaml"
    data = yaml.safe_load(path.read_text())
    data["notify"] = settings
    path.write_text(yaml.safe_dump(data))


CONTACTS = {
    "alpha/prod1": ["@alice", "@example-org/hub-team"],
    "staging": ["@bob", "@alice"],  # every cluster's hub named staging
    "delta/prod": ["@Evil-Org/everyone"],
}


def _notice(run_cli: Cli, fleet: Path, out: Path, *extra: str) -> tuple[dict[str, str], Any]:
    result = run_cli(
        "--repo", fleet, "ci", "notice", "--plan", PLAN, "--commit", COMMIT, "--out", out,
        "--repository", "example-org/fleet", "--run-url", RUN, *extra,
    )  # fmt: skip
    outputs = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    return outputs, result


def test_no_notice_unless_the_fleet_opts_in(tmp_path: Path, fleet_copy: Path, run_cli: Cli) -> None:
    outputs, result = _notice(run_cli, fleet_copy, tmp_path / "n", "--stage", "before")
    assert result.exit_code == 0, result.output
    assert outputs == {"channel": "none", "file": ""}
    assert not (tmp_path / "n").exists()


def test_the_github_notice_mentions_each_owner_once(
    tmp_path: Path, fleet_copy: Path, run_cli: Cli
) -> None:
    _notify(fleet_copy, owners=True, contacts=CONTACTS)
    outputs, result = _notice(run_cli, fleet_copy, tmp_path / "n", "--stage", "before")
    assert result.exit_code == 0, result.output
    assert outputs["channel"] == "github"
    text = Path(outputs["file"]).read_text()
    assert "about to deploy" in text and "`0123456789ab`" in text
    # the hubs with owners, the others (delta/staging-a, local/prod1, ...) not listed
    assert "- `alpha/prod1`" in text and "- `alpha/staging`" in text and "- `delta/prod`" in text
    assert "delta/staging-a" not in text and "local/prod1" not in text
    told = text.split("Owners told: ")[1].strip()
    assert told == "@alice, @bob, `@Evil-Org/everyone`, @example-org/hub-team"
    assert text.count("@alice") == 1


def test_the_webhook_payload(tmp_path: Path, fleet_copy: Path, run_cli: Cli) -> None:
    _notify(fleet_copy, owners=True, channel="webhook", contacts=CONTACTS)
    outputs, result = _notice(run_cli, fleet_copy, tmp_path / "n", "--stage", "before")
    assert result.exit_code == 0, result.output
    assert outputs["channel"] == "webhook"
    payload = json.loads(Path(outputs["file"]).read_text())
    assert payload["stage"] == "before" and payload["commit"] == COMMIT
    assert payload["repository"] == "example-org/fleet" and payload["run_url"] == RUN
    assert payload["hubs"] == [
        {"cluster": "alpha", "hub": "prod1", "owners": ["@alice", "@example-org/hub-team"],
         "status": None},
        {"cluster": "alpha", "hub": "staging", "owners": ["@bob", "@alice"], "status": None},
        {"cluster": "delta", "hub": "prod", "owners": ["@Evil-Org/everyone"], "status": None},
    ]  # fmt: skip
    assert payload["text"].startswith("hubfleet: A merged change is about to deploy")
    assert "- alpha/prod1 (owners: @alice, @example-org/hub-team)" in payload["text"]


def test_after_the_deploy_each_hub_has_its_status(
    tmp_path: Path, fleet_copy: Path, run_cli: Cli
) -> None:
    _notify(fleet_copy, owners=True, channel="webhook", contacts=CONTACTS)
    reports = tmp_path / "reports"
    reports.mkdir()
    jobs = [
        {"cluster_name": "alpha", "hub_name": "staging", "kind": "staging", "status": "succeeded"},
        {"cluster_name": "alpha", "hub_name": "prod1", "kind": "prod", "status": "failed"},
    ]
    (reports / "alpha.json").write_text(json.dumps({"jobs": jobs}))
    (reports / "delta.json").write_text("{not json")  # unreadable: its hubs not deployed
    outputs, result = _notice(
        run_cli, fleet_copy, tmp_path / "n", "--stage", "after", "--reports", reports
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(Path(outputs["file"]).read_text())
    assert [(h["hub"], h["status"]) for h in payload["hubs"]] == [
        ("prod1", "failed"),
        ("staging", "succeeded"),
        ("prod", "not deployed (no report)"),
    ]


def test_owner_settings_are_checked(tmp_path: Path, fleet_copy: Path, run_cli: Cli) -> None:
    """A contact is a GitHub handle and a key a hub: anything else stops at the config."""
    for contacts in (
        {"alpha/prod1": ["alice"]},
        {"alpha/prod1": ["@alice <b>"]},
        {"<img>": ["@alice"]},
    ):
        _notify(fleet_copy, owners=True, contacts=contacts)
        _, result = _notice(run_cli, fleet_copy, tmp_path / "n", "--stage", "before")
        assert result.exit_code == 2, contacts
        assert "hubfleet.yaml" in result.stderr


def test_bad_arguments_are_refused(tmp_path: Path, fleet_copy: Path, run_cli: Cli) -> None:
    _notify(fleet_copy, owners=True)
    for extra in (("--stage", "during"), ("--stage", "before", "--commit", "HEAD;rm")):
        _, result = _notice(run_cli, fleet_copy, tmp_path / "n", *extra)
        assert result.exit_code == 2, extra


# ---------------------------------------------------------------- the workflow's steps


@pytest.fixture(scope="module")
def deploy() -> dict[str, Any]:
    return load(rendered()[DEPLOY])


@pytest.mark.parametrize("job", ["notify-before", "notify-after"])
def test_the_notice_jobs_never_hold_a_deploy_back(deploy: dict[str, Any], job: str) -> None:
    jobs = deploy["jobs"]
    waiting = set()
    for name, other in jobs.items():
        needs = other.get("needs", [])
        if job in ([needs] if isinstance(needs, str) else needs):
            waiting.add(name)
    # the clusters' deploy (or the first wave) waits for the notice before it, nothing
    # waits for the one after
    assert waiting == ({"cluster", "wave-1"} if job == "notify-before" else set())
    assert jobs[job]["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert "github.event_name != 'pull_request'" in jobs[job]["if"]
    assert "needs.plan.outputs.notify == 'true'" in jobs[job]["if"]


@pytest.mark.parametrize("waved", ["false", "true"])
@pytest.mark.parametrize(
    ("notify", "result"), [("true", "success"), ("true", "failure"), ("false", "")]
)
def test_the_deploy_starts_after_the_notice_whatever_it_gives(
    deploy: dict[str, Any], waved: str, notify: str, result: str
) -> None:
    """GitHub's rules (tests/ci/test_ci_order.py): with notices on, the first deploy
    job runs after notify-before, also when it failed; with them off, notify-before is
    skipped and the deploy runs all the same."""
    from tests.ci.test_ci_order import simulate

    outputs = {"plan": {"waved": waved, "cluster-count": "2", "notify": notify}}
    done, order = simulate(deploy, {}, {"notify-before": result} if result else {}, outputs)
    first = "wave-1" if waved == "true" else "cluster"
    assert done[first] == "success"
    if notify == "true":
        assert done["notify-before"] == result
        assert order.index("notify-before") < order.index(first)
    else:
        assert done["notify-before"] == "skipped"
        assert "notify-after" not in order


def test_the_webhook_url_never_reaches_argv_or_the_log(
    tmp_path: Path, deploy: dict[str, Any]
) -> None:
    fakes = install_fakes(tmp_path / "f", tools=["curl"])
    send = step(deploy["jobs"]["notify-before"], name="Send the webhook")
    assert send["env"]["WEBHOOK_URL"] == "${{ secrets.HUBFLEET_NOTIFY_WEBHOOK_URL }}"
    notice = tmp_path / "notice.json"
    notice.write_text('{"text": "hi"}')
    url = "https://hooks.example.com/services/T000/B000/s3cr3tw3bh00k"
    env = {"WEBHOOK_URL": url, "NOTICE": str(notice)}
    result = bash(send["run"], cwd=tmp_path, env=env, path_first=[fakes.bin_dir])
    assert result.returncode == 0, result.stderr
    [call] = fakes.calls("curl")
    assert url not in " ".join(call["argv"]) and url not in result.stdout + result.stderr
    assert base64.b64decode(call["stdin"]).decode() == f'url = "{url}"\n'
    assert call["argv"][:2] == ["--config", "-"] and f"@{notice}" in call["argv"]
    for bad in ("http://plain.example.com/x", 'https://x.example.com/"\nurl = "file:///etc/passwd'):
        fakes.reset()
        result = bash(send["run"], cwd=tmp_path, env={**env, "WEBHOOK_URL": bad},
                      path_first=[fakes.bin_dir])  # fmt: skip
        assert result.returncode == 1 and fakes.calls("curl") == []
        assert bad not in result.stdout + result.stderr


def test_the_github_notice_is_a_comment_on_the_merged_pull_request(
    tmp_path: Path, deploy: dict[str, Any]
) -> None:
    fakes = install_fakes(tmp_path / "f", tools=["gh"])
    fakes.script([{"tool": "gh", "args": ["api"], "stdout": "42\n"}])
    comment = step(deploy["jobs"]["notify-after"], name="Comment on the merged pull request")
    notice = tmp_path / "notice.md"
    notice.write_text("hello")
    env = {"GH_TOKEN": "t", "REPOSITORY": "o/r", "COMMIT": COMMIT, "NOTICE": str(notice)}
    result = bash(comment["run"], cwd=tmp_path, env=env, path_first=[fakes.bin_dir])
    assert result.returncode == 0, result.stderr
    api, pr = fakes.calls("gh")
    assert api["argv"][:2] == ["api", f"repos/o/r/commits/{COMMIT}/pulls"]
    assert pr["argv"] == ["pr", "comment", "42", "--repo", "o/r", "--body-file", str(notice)]


def test_community_owners_and_contacts_are_told(
    tmp_path: Path, fleet_copy: Path, run_cli: Cli
) -> None:
    path = fleet_copy / "config/clusters/alpha/cluster.yaml"
    doc = yaml.safe_load(path.read_text())
    [prod1] = [h for h in doc["hubs"] if h["name"] == "prod1"]
    prod1["community"] = {"owners": ["@carol", "@alice"], "files": ["prod1.values.yaml"]}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    _notify(
        fleet_copy, owners=True, channel="webhook", contacts={"alpha/prod1": ["@alice", "@dan"]}
    )
    outputs, result = _notice(run_cli, fleet_copy, tmp_path / "n", "--stage", "before")
    assert result.exit_code == 0, result.output
    [hub] = json.loads(Path(outputs["file"]).read_text())["hubs"]
    assert (hub["cluster"], hub["hub"]) == ("alpha", "prod1")
    assert hub["owners"] == ["@carol", "@alice", "@dan"]  # community first, each once


@pytest.mark.parametrize(
    ("settings", "expected"), [("", "false"), ("notify:\n  owners: true\n", "true")]
)
def test_the_plan_says_whether_notices_are_on(
    fleet_copy: Path,
    run_cli,  # type: ignore[no-untyped-def]
    settings: str,
    expected: str,
) -> None:
    import json

    from hubfleet.plan.plan import Plan

    with (fleet_copy / "hubfleet.yaml").open("a") as handle:
        handle.write(settings)
    plan = fleet_copy.parent / "plan.json"
    plan.write_text(json.dumps(Plan().to_json()))
    result = run_cli("--repo", fleet_copy, "ci", "matrix", "--plan", plan, "--output", "github")
    assert result.exit_code == 0, result.output
    assert f"notify={expected}" in result.stdout.splitlines()
