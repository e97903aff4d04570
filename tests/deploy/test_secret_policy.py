"""One secret policy for every command that reads the files, not only `validate`.

A plaintext file whose name contains `secret` is refused (exit 2, at the file) by
render, deploy --dry-run, export and plan --rendered, and a deploy refuses a
plaintext credentials file before anything runs; the plaintext lint covers JSON
values files too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import SECRET_MARKER
from tests.deploy.conftest import DeployEnv

PLAIN = "config/clusters/alpha/enc-x.secret.values.yaml"


def _add_values_file(fleet: Path, name: str, text: str, hub: str = "staging") -> str:
    folder = fleet / "config" / "clusters" / "alpha"
    (folder / name).write_text(text)
    cluster_yaml = folder / "cluster.yaml"
    doc = yaml.safe_load(cluster_yaml.read_text())
    [entry] = [h for h in doc["hubs"] if h["name"] == hub]
    entry["helm_chart_values_files"].append(name)
    cluster_yaml.write_text(yaml.safe_dump(doc, sort_keys=False))
    return f"config/clusters/alpha/{name}"


COMMANDS = {
    "render": ["render", "alpha", "staging"],
    "deploy --dry-run": ["deploy", "alpha", "--dry-run", "--progress", "plain"],
    "export": ["export", "alpha", "staging", "{out}/export"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_plaintext_secret_named_file_refused(run_cli: Any, denv: DeployEnv, command: str) -> None:
    path = _add_values_file(
        denv.fleet, "enc-x.secret.values.yaml", f"hub:\n  cookieSecret: plain-{SECRET_MARKER}\n"
    )
    (denv.out / "changed.txt").write_text(f"{path}\n")
    args = [a.format(out=denv.out) for a in COMMANDS[command]]
    result = run_cli("--repo", denv.fleet, *args)
    assert result.exit_code == 2, result.output
    assert f"{PLAIN}:1: file name says it holds secrets, but it is not sops-encrypted" in (
        result.stderr
    )
    assert SECRET_MARKER not in result.output
    assert "Traceback" not in result.output
    assert not (denv.out / "export").exists() or not any((denv.out / "export").rglob("*x.secret*"))
    assert denv.upgrades() == []


def test_plaintext_secret_named_file_refused_by_plan_rendered(denv: DeployEnv) -> None:
    """`plan --rendered` renders each hub at head and base with `render_hub` (needs git
    for the base; the head side is this function, the policy is the same)."""
    from hubfleet.base.errors import SecretsError
    from hubfleet.config.load import load_fleet
    from hubfleet.plan.rendered import render_hub

    _add_values_file(denv.fleet, "enc-x.secret.values.yaml", "hub:\n  cookieSecret: plain\n")
    fleet = load_fleet(denv.fleet).fleet_or_raise()
    with pytest.raises(SecretsError) as info:
        render_hub(fleet, fleet.cluster("alpha").hub("staging"), allow_pull=False)
    assert info.value.exit_code == 2 and info.value.path == PLAIN and info.value.line == 1


def test_plaintext_credentials_file_refused_before_the_deploy(
    run_cli: Any, denv: DeployEnv
) -> None:
    creds = denv.fleet / "config/clusters/alpha/enc-deployer-credentials.secret.json"
    creds.write_text(json.dumps({"type": "service_account", "private_key": SECRET_MARKER}))
    result = run_cli("--repo", denv.fleet, "deploy", "alpha", "--progress", "plain")
    assert result.exit_code == 2, result.output
    assert "config/clusters/alpha/enc-deployer-credentials.secret.json:1:" in result.stderr
    for tool in denv.fakes.tools:
        assert denv.fakes.started(tool) == [], tool
    assert list(denv.tmp.iterdir()) == []


def test_json_values_file_linted(run_cli: Any, denv: DeployEnv) -> None:
    _add_values_file(
        denv.fleet, "oauth.values.json",
        json.dumps({"hub": {"config": {"GitHubOAuthenticator": {"client_secret": "abcdef0123456789abcdef"}}}}),
    )  # fmt: skip
    result = run_cli("--repo", denv.fleet, "validate", "alpha", "--no-render")
    assert result.exit_code == 2, result.output
    assert "config/clusters/alpha/oauth.values.json:" in result.stdout + result.stderr
    assert "client_secret holds a plaintext secret" in result.output


def test_relative_age_key_file_from_a_subfolder(denv: DeployEnv) -> None:
    """SOPS_AGE_KEY_FILE relative to where the user is, not to the fleet root sops runs in."""
    import os
    import shutil
    import subprocess
    import sys

    from tests.conftest import AGE_KEY

    work = denv.out / "work" / "sub"
    work.mkdir(parents=True)
    shutil.copy(AGE_KEY, work / "keys.txt")
    env = {**os.environ, "SOPS_AGE_KEY_FILE": "keys.txt", "TMPDIR": str(denv.tmp)}
    result = subprocess.run(
        [sys.executable, "-m", "hubfleet", "--repo", str(denv.fleet), "render", "alpha", "support"],
        cwd=work, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "cannot decrypt" not in result.stderr
    assert SECRET_MARKER not in result.stdout  # decrypted, and redacted as ever
