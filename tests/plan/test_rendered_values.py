"""`plan --rendered` decides values changes too, with the real z2jh chart (the example
fleet in a git repository, the real chart archives in the chart cache): no-op edits
select nothing, a real change selects exactly the hubs it reaches and names the
changed resource, a changed secret shows as a changed digest and never as a value."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hubfleet.base.redact import MaskKey, Redactor
from hubfleet.plan.labels import Labels
from hubfleet.plan.plan import Plan
from hubfleet.plan.rendered import RenderRun
from hubfleet.plan.revisions import plan_from_revisions, read_revisions
from tests.conftest import TESTS, CliResult
from tests.plan.conftest import GitFleet, units
from tests.secretscan import find_secrets

EXAMPLE_FLEET = TESTS.parent / "examples" / "fleet"
DEMO_KEY = EXAMPLE_FLEET / "DEMO-ONLY.age-key.txt"
ONPREM = "config/clusters/onprem"
COMMON = f"{ONPREM}/common.values.yaml"
SECRET = f"{ONPREM}/enc-research.secret.values.yaml"
NEW_SECRET = "a-new-client-secret-3f9c2d7e1b"
OLD_SECRET_PLAIN = """\
hub:
  config:
    GitHubOAuthenticator:
      client_id: research-client-id-0001
      client_secret: {secret}
"""


@pytest.fixture
def example(tmp_path: Path, real_chart_cache: Path, monkeypatch: pytest.MonkeyPatch) -> GitFleet:
    """The example fleet in git; no sops key anywhere unless a test gives one."""
    for name in ("SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY", "SOPS_AGE_KEY_CMD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-empty"))
    root = tmp_path / "fleet"
    shutil.copytree(EXAMPLE_FLEET, root, symlinks=False)
    (root / DEMO_KEY.name).unlink()  # the key is not part of a fleet's files
    return GitFleet.started(root)


def plan_of(repo: GitFleet, run: RenderRun | None = None) -> tuple[Plan, RenderRun]:
    run = run or RenderRun(MaskKey.random(), workers=1)
    with read_revisions(repo.root, base="base", head="HEAD", redactor=Redactor()) as revisions:
        return plan_from_revisions(revisions, Labels(), rendered=True, run=run), run


def onprem_hubs(plan: Plan) -> list[str]:
    return [f"{j.cluster}/{j.hub}" for j in (*plan.staging_jobs, *plan.prod_jobs)]


def test_a_comment_a_reordering_and_a_default_value_select_nothing(example: GitFleet) -> None:
    example.edit(
        COMMON, "singleuser:\n", "# memory as agreed with the research group\nsingleuser:\n"
    )
    # Reordered: cull's keys, and singleuser's before hub's.
    text = example.path(COMMON).read_text()
    text = text.replace("  enabled: true\n  timeout: 3600\n", "  timeout: 3600\n  enabled: true\n")
    example.path(COMMON).write_text(text)
    # z2jh's default for hub.config.JupyterHub.admin_access is true... set cull.users to
    # its chart default (false): the rendered manifests stay the same.
    example.edit(COMMON, "  every: 600\n", "  every: 600\n  users: false\n")
    example.commit("no-op edits")
    plan, run = plan_of(example)
    assert plan.empty, plan.to_json()
    assert plan.warnings == ()
    skipped = {f"{j.cluster}/{j.hub}" for j in plan.skipped}
    assert {"onprem/staging", "onprem/research", "onprem/teaching"} <= skipped
    reasons = next(j.reasons for j in plan.skipped if j.hub == "research")
    assert reasons[0] == f"values file {COMMON} changed"
    assert reasons[-1].startswith("rendered manifests identical at base and head")
    assert run.renders > 0 and run.changes == {}


def test_a_real_change_selects_exactly_the_hubs_and_names_the_resource(
    example: GitFleet,
    run_cli,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    with example.path(f"{ONPREM}/research.values.yaml").open("a") as handle:
        handle.write("singleuser:\n  image:\n    name: quay.io/jupyter/r-notebook\n")
    example.commit("research runs R")
    plan, run = plan_of(example)
    assert units(plan) == {
        "support": [],
        "staging": ["onprem/staging"],  # the canary of a production hub
        "prod": ["onprem/research"],
    }
    reasons = plan.prod_jobs[0].reasons
    assert reasons[0] == f"values file {ONPREM}/research.values.yaml changed"
    assert "rendered: DaemonSet/continuous-image-puller: spec.template.spec.initContainers" in (
        "\n".join(reasons)
    ), reasons
    assert any(r.startswith("rendered: Secret/hub: data.values.yaml") for r in reasons), reasons
    [change] = run.changes.values()
    assert change.label == "onprem/research"
    assert "+        image: quay.io/jupyter/r-notebook:" in change.diff_text()
    assert "[MASKED hmac:" in change.diff_text()
    # The CLI: the diff in the markdown and in the artifact.
    diff_file, diff_json = tmp_path / "plan.diff", tmp_path / "diffs.json"
    result: CliResult = run_cli(
        "--repo", example.root, "plan", "--base", "base", "--diff", "--output", "markdown",
        "--diff-file", diff_file, "--diff-json", diff_json,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "### Rendered changes: 1 hub(s)" in result.stdout
    assert "quay.io/jupyter/r-notebook" in result.stdout
    assert "quay.io/jupyter/r-notebook" in diff_file.read_text()
    saved = json.loads(diff_json.read_text())
    assert [h["hub_name"] for h in saved["hubs"]] == ["research"]


def _sops(root: Path, relative: str, plaintext: str) -> None:
    target = root / relative
    target.write_text(plaintext)
    subprocess.run(
        ["sops", "--encrypt", "--in-place", str(target)],
        cwd=root,
        check=True,
        capture_output=True,
        env={**os.environ, "SOPS_AGE_KEY_FILE": str(DEMO_KEY)},
    )


def _secret_outputs(example: GitFleet, run_cli, tmp_path: Path) -> list[bytes]:  # type: ignore[no-untyped-def]
    outputs: list[bytes] = []
    for output in ("json", "markdown", "table"):
        diff_file = tmp_path / f"plan-{output}.diff"
        diff_json = tmp_path / f"diffs-{output}.json"
        result = run_cli(
            "--repo", example.root, "plan", "--base", "base", "--diff", "--output", output,
            "--diff-file", diff_file, "--diff-json", diff_json,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        outputs += [result.stdout.encode(), result.stderr.encode()]
        outputs += [diff_file.read_bytes(), diff_json.read_bytes()]
    return outputs


def test_a_changed_secret_without_a_key_shows_as_a_changed_digest_and_never_as_a_value(
    example: GitFleet,
    run_cli,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    _sops(example.root, SECRET, OLD_SECRET_PLAIN.format(secret=NEW_SECRET))
    example.commit("rotate research's client secret")
    plan, run = plan_of(example)
    assert units(plan)["prod"] == ["onprem/research"]
    reasons = plan.prod_jobs[0].reasons
    assert any("compared without the key of" in r and "re-encryption" in r for r in reasons)
    [change] = run.changes.values()
    # The hub's Secret holds the values: its masked digest changed.
    assert change.resources[0].fields == ("data.values.yaml",)
    assert "-  values.yaml: '[MASKED hmac:" in change.diff_text()
    assert "+  values.yaml: '[MASKED hmac:" in change.diff_text()
    outputs = _secret_outputs(example, run_cli, tmp_path)
    for data in outputs:
        assert find_secrets(data, [NEW_SECRET, "research-client-id-0001"]) == []


def test_with_the_key_a_changed_secret_is_a_keyed_digest_and_a_re_encryption_is_nothing(
    example: GitFleet,
    run_cli,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(DEMO_KEY))
    plain = subprocess.run(
        ["sops", "--decrypt", str(example.path(SECRET))], capture_output=True, check=True, text=True
    ).stdout
    _sops(example.root, SECRET, plain)  # the same values, encrypted again
    example.commit("re-encrypted, nothing changed")
    from hubfleet.secrets.sops import Sops

    redactor = Redactor()
    plan, _run = plan_of(
        example, RenderRun(MaskKey.random(), sops=Sops(redactor, cwd=example.root), workers=1)
    )
    assert plan.empty, plan.to_json()
    # Now a real change of the value.
    _sops(example.root, SECRET, plain.replace("client_secret: ", f"client_secret: {NEW_SECRET}"))
    example.commit("a new client secret")
    plan, run = plan_of(
        example, RenderRun(MaskKey.random(), sops=Sops(redactor, cwd=example.root), workers=1)
    )
    assert units(plan)["prod"] == ["onprem/research"]
    [change] = run.changes.values()
    assert change.resources[0].fields == ("data.values.yaml",)
    assert "+  values.yaml: '[MASKED hmac:" in change.diff_text()
    assert not any("re-encryption" in r for r in plan.prod_jobs[0].reasons)
    secrets = [NEW_SECRET, *[line.split(": ", 1)[1] for line in plain.splitlines() if ": " in line]]
    for data in _secret_outputs(example, run_cli, tmp_path):
        assert find_secrets(data, [s for s in secrets if len(s) >= 8]) == []


def test_a_chart_missing_from_the_cache_keeps_the_file_level_plan_and_says_so(
    example: GitFleet, real_chart_cache: Path
) -> None:
    shutil.rmtree(real_chart_cache)
    real_chart_cache.mkdir()
    example.edit(COMMON, "singleuser:\n", "# a comment\nsingleuser:\n")
    example.commit("a comment")
    plan, _run = plan_of(example)
    assert onprem_hubs(plan) == ["onprem/staging", "onprem/research", "onprem/teaching"]
    for job in (*plan.staging_jobs, *plan.prod_jobs):
        assert any(r.startswith("rendered: not compared (") for r in job.reasons), job.reasons
        assert any("planned from the changed files" in r for r in job.reasons)
