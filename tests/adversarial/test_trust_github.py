"""Text that leaves for GitHub stays text, a plan file is checked against the fleet it
plans, and hostile JSON and YAML handoffs exit 2 at their line (issue 21, points 5 and 8).

Every case runs the real CLI. The Markdown that hubfleet writes for GitHub (the PR
plan comment, the plan's and the deploy's step summaries, the `ci summary` posted on
the merged pull request) is rendered by a CommonMark renderer with raw HTML on, as
GitHub's would be before its sanitizer: no hostile string may become a tag, a link,
an image, a mention or an issue reference, nor break a table row.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from tests.conftest import AGE_KEY, SECRET_MARKER, CliResult
from tests.deploy.conftest import DeployEnv, denv
from tests.plan.conftest import GitFleet
from tests.secretscan import age_secret_keys, decrypted_leaves, find_secrets

__all__ = ["denv"]

ALPHA = "config/clusters/alpha"
# Hostile text a pull request can put where hubfleet copies it into Markdown.
HOSTILE = (
    '<img src=x onerror="alert(1)"> [click](javascript:alert(1)) '
    "![](http://attacker.invalid/track.png) @octocat #123 <details><summary>x"
    " | cell | `code` <!-- hidden --> \u202egnp.exe\u200b <script>alert(2)</script>"
)
HOSTILE_FILE = "x<img src=x onerror=alert(1)>[y](javascript:z)@octocat #12 `a` | b.values.yaml"
MENTION = re.compile(r"(?<![\w`])@[A-Za-z0-9]")
REFERENCE = re.compile(r"(?<![\w&])#[0-9]")


# ------------------------------------------------------------------ helpers


def render_html(markdown: str) -> str:
    """The Markdown as a CommonMark renderer with tables and raw HTML makes it."""
    return MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)


def text_outside_code(html: str) -> str:
    """The rendered text GitHub scans for mentions and references (code excluded)."""
    return re.sub(r"<code>.*?</code>", "", html, flags=re.S)


def assert_inert(markdown: str, *, details: int = 0) -> str:
    """No hostile construct is live in `markdown`; returns the rendered HTML."""
    html = render_html(markdown)
    assert "<img" not in html and "<script" not in html, html
    assert "<a " not in html and "href=" not in html, html
    assert html.count("<details") == details, html
    assert "<!-- hidden" not in html
    assert "](" not in markdown
    assert "\u202e" not in markdown and "\u200b" not in markdown
    outside = text_outside_code(html)
    assert not MENTION.search(outside), MENTION.search(outside)
    assert not REFERENCE.search(outside), REFERENCE.search(outside)
    return html


def assert_rows_intact(html: str) -> None:
    """Every table row has as many cells as its header."""
    for table in re.findall(r"<table>.*?</table>", html, flags=re.S):
        header = len(re.findall(r"<th[ >]", table))
        for row in re.findall(r"<tr>(.*?)</tr>", table, flags=re.S)[1:]:
            assert len(re.findall(r"<td[ >]", row)) == header, row


def fleet_secrets(fleet: Path) -> set[str]:
    """The age key and every decrypted value of the test fleet (by sops itself)."""
    values = decrypted_leaves(fleet, AGE_KEY)
    return age_secret_keys(AGE_KEY) | {v for v in values if SECRET_MARKER in v}


def assert_clean(
    results: list[CliResult], fleet: Path, *files: Path, secrets: set[str] | None = None
) -> None:
    """No traceback, and neither the age key nor a decrypted value in any output."""
    secrets = secrets if secrets is not None else fleet_secrets(fleet)
    assert len(secrets) > 3
    for result in results:
        assert "Traceback" not in result.output, result.output
        assert result.exit_code != 70, result.output
        assert find_secrets(result.output.encode(), secrets) == []
    for file in files:
        if file.is_file():
            assert find_secrets(file.read_bytes(), secrets) == []


def hostile_values_file(fleet: Path) -> str:
    """A values file with a hostile name, listed by alpha/prod1 (a pull request's)."""
    (fleet / ALPHA / HOSTILE_FILE).write_text("singleuser:\n  memory: {limit: 1G}\n")
    cluster = fleet / ALPHA / "cluster.yaml"
    text = cluster.read_text()
    entry = "  - prod1.values.yaml\n"
    cluster.write_text(text.replace(entry, entry + f"  - {json.dumps(HOSTILE_FILE)}\n", 1))
    return f"{ALPHA}/{HOSTILE_FILE}"


def job(cluster: str, provider: str, hub: str | None = None, reason: str = "x") -> dict[str, Any]:
    entry: dict[str, Any] = {"cluster_name": cluster, "provider": provider}
    if hub is not None:
        entry["hub_name"] = hub
    return {**entry, "reasons": [reason], "choice_reason": reason}


def plan_json(run_cli: Any, fleet: Path, tmp: Path, *changed: str) -> dict[str, Any]:
    listing = tmp / "changed.txt"
    listing.write_text("\n".join(changed) + "\n")
    result = run_cli("--repo", fleet, "plan", "--changed-files", listing, "-o", "json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def write_lines(path: Path, data: dict[str, Any]) -> Path:
    """The plan with one job per line (so that a job's line is known)."""
    path.write_text(json.dumps(data, indent=1))
    return path


def line_of(path: Path, needle: str, nth: int = 1) -> int:
    lines = [n for n, line in enumerate(path.read_text().splitlines(), 1) if needle in line]
    return lines[nth - 1]


# ------------------------------------------------------------------ point 5: Markdown


def test_plan_comment_of_a_hostile_plan_file_is_inert(
    run_cli: Any, fleet_copy: Path, tmp_path: Path
) -> None:
    plan = {
        "support_jobs": [job("alpha", "gcp", reason=HOSTILE)],
        "staging_jobs": [],
        "prod_jobs": [job(HOSTILE, "gcp", HOSTILE, HOSTILE), job("beta", "aws", "b|c\nd")],
        "skipped": [{**job("beta", "aws", "research", HOSTILE), "kind": "prod"}],
        "warnings": [HOSTILE],
        "unmatched_files": [HOSTILE_FILE, "a\nb", "`", "<!-- hubfleet-plan -->"],
        "community": {"community_only": False, "files_only": False, "reasons": [HOSTILE]},
    }
    path = write_lines(tmp_path / "plan.json", plan)
    result = run_cli("--repo", fleet_copy, "plan", "--from-json", path, "--output", "markdown")
    assert result.exit_code == 0, result.output
    html = assert_inert(result.stdout, details=1)  # hubfleet's own unmatched-files section
    assert_rows_intact(html)
    assert html.count("<tr>") == 1 + 1 + 1 + 2 + 1 + 1  # header + row per table
    assert "&lt;img src=x" in html  # shown as text, not dropped
    assert "\\u202e" in html  # the bidi override made visible
    assert result.stdout.count("<!-- hubfleet-plan -->") == 1  # only hubfleet's marker
    assert_clean([result], fleet_copy)


def test_plan_step_summary_of_a_hostile_values_file_name_is_inert(
    run_cli: Any, fleet_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hostile = hostile_values_file(fleet_copy)
    listing = tmp_path / "changed.txt"
    listing.write_text(f"{hostile}\nconfig/clusters/beta/@octocat <img src=x>.txt\n")
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs.txt"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    result = run_cli("--repo", fleet_copy, "plan", "--changed-files", listing, "-o", "github")
    assert result.exit_code == 0, result.output
    markdown = summary.read_text()
    assert "prod1" in markdown and "x&lt;img src=x" in markdown  # the reason, as text
    html = assert_inert(markdown, details=1)
    assert_rows_intact(html)
    for line in outputs.read_text().splitlines():  # one output per line, JSON as written
        name, _, value = line.partition("=")
        assert name.endswith("-jobs") or name == "broken-clusters", line
        json.loads(value)
    assert_clean([result], fleet_copy, summary, outputs)


def test_ci_summary_of_hostile_reports_is_inert(
    run_cli: Any, fleet_copy: Path, tmp_path: Path
) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    record = {
        "cluster_name": "alpha",
        "hub_name": HOSTILE,
        "kind": "prod",
        "status": "failed",
        "reasons": [HOSTILE],
        "message": HOSTILE,
    }
    (reports / "alpha.json").write_text(json.dumps({"jobs": [record]}))
    (reports / "beta.json").write_text('{"jobs": [], "jobs": []}')  # unreadable: says why
    matrix = json.dumps(
        {
            "include": [
                {"cluster": "alpha", "provider": "gcp"},
                {"cluster": "beta", "provider": HOSTILE},
                {"cluster": HOSTILE, "provider": "gcp"},
            ]
        }
    )
    result = run_cli("ci", "summary", "--reports", reports, "--matrix", matrix)
    assert result.exit_code == 1, result.output  # failed clusters
    html = assert_inert(result.stdout)
    assert_rows_intact(html)
    assert "duplicate key" in result.stdout
    assert_clean([result], fleet_copy)


def test_deploy_step_summary_of_hostile_helm_output_is_inert(
    run_cli: Any, denv: DeployEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = denv.out / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    denv.fakes.script(
        [{"tool": "helm", "args": ["upgrade"], "exit": 1, "stderr": f"Error: {HOSTILE}\n"}]
    )
    report = denv.out / "report.json"
    result = run_cli(
        "--repo", denv.fleet, "deploy", "--plan", denv.plan(["alpha"]), "--report", report
    )
    assert result.exit_code == 1, result.output
    markdown = summary.read_text()
    assert "failed" in markdown
    assert_rows_intact(assert_inert(markdown))
    assert_clean([result], denv.fleet, summary, report)


# ------------------------------------------------------------------ point 5: deploy --plan


def test_a_job_added_by_hand_is_refused_at_its_line(
    run_cli: Any, denv: DeployEnv, tmp_path: Path
) -> None:
    data = plan_json(run_cli, denv.fleet, tmp_path, f"{ALPHA}/prod1.values.yaml")
    assert [j["hub_name"] for j in data["prod_jobs"]] == ["prod1"]
    data["prod_jobs"].append(job("alpha", "gcp", "prod2", "added by hand"))
    path = write_lines(denv.out / "plan.json", data)
    result = run_cli("--repo", denv.fleet, "deploy", "--plan", path, "--dry-run")
    assert result.exit_code == 2, result.output
    line = line_of(path, '"hub_name": "prod2"') - 3  # the entry's opening brace
    assert f"{path}:{line}: prod_jobs[1]: the fleet at this commit gives no prod job " in (
        result.stderr
    )
    assert "alpha/prod2" in result.stderr
    assert denv.upgrades() == []
    assert_clean([result], denv.fleet)


def test_a_job_for_an_untouched_cluster_is_refused(
    run_cli: Any, denv: DeployEnv, tmp_path: Path
) -> None:
    data = plan_json(run_cli, denv.fleet, tmp_path, f"{ALPHA}/prod1.values.yaml")
    data["support_jobs"].append(job("gamma", "azure"))
    path = write_lines(denv.out / "plan.json", data)
    for extra in ((), ("--cluster", "alpha")):  # also when only alpha is deployed
        result = run_cli("--repo", denv.fleet, "deploy", "--plan", path, "--dry-run", *extra)
        assert result.exit_code == 2, result.output
        assert "support_jobs[0]: the fleet at this commit gives no support job for gamma" in (
            result.stderr
        )
    assert denv.upgrades() == []


def test_a_subset_of_the_plan_deploys(run_cli: Any, denv: DeployEnv, tmp_path: Path) -> None:
    data = plan_json(run_cli, denv.fleet, tmp_path, f"{ALPHA}/common.values.yaml")
    assert len(data["prod_jobs"]) == 2
    data["prod_jobs"] = data["prod_jobs"][1:]  # a retry of prod2 alone
    path = write_lines(denv.out / "plan.json", data)
    result = run_cli("--repo", denv.fleet, "deploy", "--plan", path, "--dry-run")
    assert result.exit_code == 0, result.output
    released = sorted(c["argv"][c["argv"].index("--") + 1] for c in denv.upgrades())
    assert released == ["prod2", "staging"]


def test_a_plan_without_its_record_is_refused(
    run_cli: Any, denv: DeployEnv, tmp_path: Path
) -> None:
    data = plan_json(run_cli, denv.fleet, tmp_path, f"{ALPHA}/prod1.values.yaml")
    del data["planned"]
    path = write_lines(denv.out / "plan.json", data)
    result = run_cli("--repo", denv.fleet, "deploy", "--plan", path, "--dry-run")
    assert result.exit_code == 2, result.output
    assert "does not record what it was made from" in result.stderr
    assert "hubfleet plan --output json" in result.stderr
    assert denv.upgrades() == []


def test_a_git_plan_is_made_again_from_its_commits(
    run_cli: Any, denv: DeployEnv, tmp_path: Path
) -> None:
    repo = GitFleet.started(denv.fleet)
    repo.edit(f"{ALPHA}/cluster.yaml", "domain: prod2.alpha", "domain: new-prod2.alpha")
    head = repo.commit("prod2's domain")
    made = run_cli("--repo", denv.fleet, "plan", "--base", "base", "--head", "HEAD", "-o", "json")
    assert made.exit_code == 0, made.output
    data = json.loads(made.stdout)
    assert data["planned"]["head"] == head and len(data["planned"]["base"]) == 40
    # The history-aware plan: prod2 and its canary, not the whole cluster.
    assert [j["hub_name"] for j in data["prod_jobs"]] == ["prod2"]
    good = write_lines(denv.out / "good.json", data)
    ok = run_cli("--repo", denv.fleet, "deploy", "--plan", good, "--dry-run")
    assert ok.exit_code == 0, ok.output

    added = json.loads(made.stdout)
    added["prod_jobs"].append(job("alpha", "gcp", "prod1"))  # same cluster, untouched hub
    bad = write_lines(denv.out / "bad.json", added)
    refused = run_cli("--repo", denv.fleet, "deploy", "--plan", bad, "--dry-run")
    assert refused.exit_code == 2, refused.output
    assert "prod_jobs[1]: the fleet at this commit gives no prod job for alpha/prod1" in (
        refused.stderr
    )

    widened = json.loads(made.stdout)  # the record widened to allow the added job
    widened["planned"]["changes"].append({"path": f"{ALPHA}/prod1.values.yaml", "status": "M"})
    widened["prod_jobs"].append(job("alpha", "gcp", "prod1"))
    path = write_lines(denv.out / "widened.json", widened)
    refused = run_cli("--repo", denv.fleet, "deploy", "--plan", path, "--dry-run")
    assert refused.exit_code == 2, refused.output
    assert f"{path}:" in refused.stderr and "not git's changes" in refused.stderr

    repo.commit("a later commit")
    later = run_cli("--repo", denv.fleet, "deploy", "--plan", good, "--dry-run")
    assert later.exit_code == 2, later.output
    assert f"the plan was made at commit {head}" in later.stderr
    assert_clean([made, ok, refused, later], denv.fleet)


# ------------------------------------------------------------------ point 8: hostile JSON


DEEP = "[" * 100_000


def test_deeply_nested_json_exits_2_in_every_flag(
    run_cli: Any, denv: DeployEnv, tmp_path: Path
) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text('{"support_jobs":\n' + DEEP)
    changed = tmp_path / "changed.txt"
    changed.write_text(f"{ALPHA}/prod1.values.yaml\n")
    runs = {
        "deploy --plan": ("deploy", "--plan", deep, "--dry-run"),
        "plan --from-json": ("plan", "--from-json", deep),
        "ci matrix --plan": ("ci", "matrix", "--plan", deep),
        "deploy --retry-failed": ("deploy", "--retry-failed", deep, "--dry-run"),
        "plan --event": ("plan", "--changed-files", changed, "--event", deep),
        "plan --labels": ("plan", "--changed-files", changed, "--labels", DEEP),
        "ci summary --matrix": ("ci", "summary", "--reports", tmp_path, "--matrix", DEEP),
    }
    results = []
    for name, args in runs.items():
        result = run_cli("--repo", denv.fleet, *args)
        results.append(result)
        assert result.exit_code == 2, (name, result.output[-2000:])
        assert "nested more than 64 levels deep" in result.stderr, (name, result.stderr)
        if deep in args:
            assert f"{deep}:2:" in result.stderr, (name, result.stderr)
        assert "hint:" in result.stderr, name
    assert denv.upgrades() == []
    assert_clean(results, denv.fleet)


def test_duplicate_keys_in_json_handoffs_exit_2_at_their_line(
    run_cli: Any, denv: DeployEnv, tmp_path: Path
) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text('{"support_jobs": [],\n "prod_jobs": [],\n "prod_jobs": [],\n "x": 1}')
    event = tmp_path / "event.json"
    event.write_text('{"pull_request": {\n  "user": {"login": "a",\n  "login": "b"}}}')
    changed = tmp_path / "changed.txt"
    changed.write_text(f"{ALPHA}/prod1.values.yaml\n")
    report = tmp_path / "report.json"
    report.write_text('{"jobs": [\n {"status": "failed",\n  "status": "succeeded"}]}')
    cases = [
        (("deploy", "--plan", plan, "--dry-run"), f"{plan}:3: duplicate key 'prod_jobs'"),
        (("plan", "--from-json", plan), f"{plan}:3: duplicate key 'prod_jobs'"),
        (("plan", "--changed-files", changed, "--event", event), f"{event}:3: duplicate key"),
        (("deploy", "--retry-failed", report, "--dry-run"), f"{report}:3: duplicate key"),
    ]
    results = []
    for args, message in cases:
        result = run_cli("--repo", denv.fleet, *args)
        results.append(result)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr, (args, result.stderr)
    assert denv.upgrades() == []
    assert_clean(results, denv.fleet)


# ------------------------------------------------------------------ point 8: duplicate YAML keys


def test_duplicate_values_keys_refused_by_every_command(
    run_cli: Any, denv: DeployEnv, tmp_path: Path
) -> None:
    values = denv.fleet / ALPHA / "prod1.values.yaml"
    text = values.read_text()
    values.write_text(text + "singleuser:\n  image: {name: a}\nsingleuser:\n  image: {name: b}\n")
    line = len(text.splitlines()) + 3
    where = f"{ALPHA}/prod1.values.yaml:{line}: duplicate key 'singleuser'"
    runs = {
        "validate": ("validate", "alpha", "prod1"),
        "render": ("render", "alpha", "prod1"),
        "deploy": ("deploy", "alpha", "prod1", "--dry-run"),
        "export": ("export", "alpha", "prod1", tmp_path / "export"),
    }
    results = []
    for name, args in runs.items():
        result = run_cli("--repo", denv.fleet, *args)
        results.append(result)
        # A deploy fails the release (exit 1), as any bad values file: other clusters go on.
        assert result.exit_code == (1 if name == "deploy" else 2), (name, result.output[-2000:])
        assert where in result.output, (name, result.output[-2000:])
    assert denv.upgrades() == []
    assert not (tmp_path / "export").exists() or not any((tmp_path / "export").iterdir())
    assert_clean(results, denv.fleet)


def test_duplicate_keys_in_an_encrypted_values_file_are_refused_before_decrypting(
    run_cli: Any, denv: DeployEnv, tmp_path: Path
) -> None:
    secrets = fleet_secrets(denv.fleet)
    secret = denv.fleet / ALPHA / "enc-prod1.secret.values.yaml"
    lines = secret.read_text().splitlines(keepends=True)
    top = next(n for n, line in enumerate(lines) if re.match(r"^[A-Za-z]", line))
    key = lines[top].split(":")[0]
    secret.write_text("".join(lines) + f"{key}: null\n")  # its keys are in clear: a second one
    results = []
    for args in (("render", "alpha", "prod1"), ("deploy", "alpha", "prod1", "--dry-run")):
        result = run_cli("--repo", denv.fleet, *args)
        results.append(result)
        assert result.exit_code == (1 if args[0] == "deploy" else 2), result.output[-2000:]
        assert f"enc-prod1.secret.values.yaml:{len(lines) + 1}: duplicate key {key!r}" in (
            result.output
        ), result.output[-2000:]
    assert denv.upgrades() == []
    assert_clean(results, denv.fleet, secrets=secrets)
