"""`hubfleet validate` on bad inputs: exit 2, the exact file and line, no traceback.

Each case copies the test fleet, breaks one thing, and names where the problem
must be reported.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from tests.config.bad_input import (
    ALPHA,
    Case,
    Edit,
    assert_reported,
    both,
    parametrize,
    replace,
    write,
)
from tests.config.test_load import LOAD_CASES
from tests.conftest import FIXTURES, SECRET_MARKER
from tests.written import files_written_since

from hubfleet.helm.masking import MASK_PREFIX


def tamper(rel: str) -> Edit:
    """Change one character of an encrypted value's ciphertext (the MAC no longer matches)."""

    def edit(root: Path) -> None:
        path = root / rel
        text = path.read_text()
        match = re.search(r"ENC\[AES256_GCM,data:([A-Za-z0-9+/=]{4})", text)
        assert match
        start = match.start(1)
        flipped = "A" if text[start] != "A" else "B"
        path.write_text(text[:start] + flipped + text[start + 1 :])

    return edit


# The values' cases; the loader's are in tests/config/test_load.py.
CASES: list[Case] = [
    (
        "values-yaml-syntax",
        write(f"{ALPHA}/prod2.values.yaml", "ingress:\n  hosts: [a\nfoo: 1\n"),
        f"{ALPHA}/prod2.values.yaml:3:",
        "YAML syntax error",
        False,
    ),
    (
        "values-not-mapping",
        write(f"{ALPHA}/prod2.values.yaml", "- a\n- b\n"),
        f"{ALPHA}/prod2.values.yaml:1:",
        "must be a mapping",
        False,
    ),
    (
        "plaintext-secret",
        write(
            f"{ALPHA}/prod2.values.yaml",
            "hub:\n  config:\n    GitHubOAuthenticator:\n      client_secret: abcdef123456\n",
        ),
        f"{ALPHA}/prod2.values.yaml:4:",
        "plaintext secret",
        False,
    ),
    (
        "private-key",
        write(
            f"{ALPHA}/prod2.values.yaml",
            "extras:\n  message: |\n    -----BEGIN RSA PRIVATE KEY-----\n    MIIB\n",
        ),
        f"{ALPHA}/prod2.values.yaml:2:",
        "private key",
        False,
    ),
    (
        "secret-file-not-encrypted",
        write(f"{ALPHA}/enc-prod1.secret.values.yaml", "proxy:\n  secretToken: x\n"),
        f"{ALPHA}/enc-prod1.secret.values.yaml:1:",
        "not sops-encrypted",
        False,
    ),
    (
        "tampered-with-key",
        tamper(f"{ALPHA}/enc-prod1.secret.values.yaml"),
        f"{ALPHA}/enc-prod1.secret.values.yaml:1:",
        "modified after encryption",
        True,
    ),
    (
        "tampered-without-key",
        replace(
            f"{ALPHA}/enc-prod1.secret.values.yaml", "secretToken: ENC[", "secretToken: plain-ENC["
        ),
        f"{ALPHA}/enc-prod1.secret.values.yaml:2:",
        "not encrypted in a sops file",
        False,
    ),
    (
        "chart-schema-violation",
        write(f"{ALPHA}/prod2.values.yaml", "singleuser:\n  image:\n    tag: 5\n"),
        f"{ALPHA}/prod2.values.yaml:3:",
        "singleuser.image.tag",
        False,
    ),
    (
        "subchart-schema-violation",
        write(f"{ALPHA}/prod2.values.yaml", "extras:\n  replicas: many\n"),
        f"{ALPHA}/prod2.values.yaml:2:",
        "extras.replicas",
        False,
    ),
    (
        "unknown-values-key",
        write(f"{ALPHA}/prod2.values.yaml", "hub:\n  confg: {}\n"),
        f"{ALPHA}/prod2.values.yaml:2:",
        "confg",
        False,
    ),
    (
        "invalid-rendered-manifest",
        both(
            lambda root: __import__("shutil").copytree(
                FIXTURES / "charts/broken/badmanifest", root / ALPHA / "badchart"
            ),
            replace(
                f"{ALPHA}/cluster.yaml",
                "  domain: prod2.alpha.example.org\n",
                "  domain: prod2.alpha.example.org\n  chart_override: badchart\n",
            ),
        ),
        f"{ALPHA}/cluster.yaml:25:",
        "alpha/prod2: rendered",
        False,
    ),
]


@parametrize(CASES)
def test_bad_input(fleet_copy: Path, run_cli, monkeypatch: pytest.MonkeyPatch, case: tuple) -> None:  # type: ignore[no-untyped-def, type-arg]
    assert_reported(fleet_copy, run_cli, monkeypatch, *case)


def test_corpus_is_large_enough() -> None:
    assert len(CASES) + len(LOAD_CASES) >= 30


def test_clean_fleet_validates(fleet_copy: Path, run_cli, age_key: Path) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("--repo", fleet_copy, "validate")
    assert result.exit_code == 0, result.output
    assert "0 error(s)" in result.stderr
    assert "15 release(s) rendered" in result.stderr


def test_without_key_says_structure_only(fleet_copy: Path, run_cli, no_age_key: None) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("--repo", fleet_copy, "validate")
    assert result.exit_code == 0, result.output
    assert result.stderr.count("checked for structure only") == 1


def test_selection_of_cluster_and_hubs(fleet_copy: Path, run_cli, age_key: Path) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("--repo", fleet_copy, "validate", "alpha", "prod1", "--output", "json")
    assert result.exit_code == 0, result.output
    import json

    assert json.loads(result.stdout)["rendered"] == ["alpha/prod1"]


def test_unknown_cluster_is_named_with_hint(fleet_copy: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("--repo", fleet_copy, "validate", "alpah", "--no-render")
    assert result.exit_code == 2
    assert "did you mean 'alpha'" in result.output


def test_remote_chart_unreachable_is_a_warning_or_strict_error(
    fleet_copy: Path,
    run_cli,
    age_key: Path,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setenv("HUBFLEET_CHART_CACHE", str(fleet_copy.parent / "cache"))
    replace("hubfleet.yaml", "https://hub.jupyter.org/helm-chart/", "http://127.0.0.1:9/charts/")(
        fleet_copy
    )
    replace(
        f"{ALPHA}/cluster.yaml",
        "  domain: prod2.alpha.example.org\n",
        "  domain: prod2.alpha.example.org\n  helm_chart: jupyterhub\n",
    )(fleet_copy)
    relaxed = run_cli("--repo", fleet_copy, "validate", "alpha")
    assert relaxed.exit_code == 0, relaxed.output
    # Said once, at the chart's pin in hubfleet.yaml, naming the releases it skipped.
    assert "hubfleet.yaml:3: warning: chart jupyterhub 4.2.0 from " in relaxed.stdout
    assert "render skipped for 1 release: alpha/prod2" in relaxed.stdout
    strict = run_cli("--repo", fleet_copy, "validate", "alpha", "--strict")
    assert strict.exit_code == 2
    assert "hubfleet.yaml:3: chart jupyterhub 4.2.0 from " in strict.stdout
    assert "render skipped for 1 release: alpha/prod2" in strict.stdout


def test_decrypting_for_validation_writes_and_prints_no_secret(
    fleet_copy: Path,
    run_cli,
    age_key: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    """Decrypt every secret of the fleet (validate and render, --debug too): nothing
    decrypted reaches the disk or the output."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    before = _snapshot(tmp_path)
    started = time.time()
    outputs = [
        run_cli("--repo", fleet_copy, "--debug", "validate"),
        run_cli("--repo", fleet_copy, "--debug", "render", "alpha", "staging"),
        run_cli("--repo", fleet_copy, "render", "alpha", "support"),
        run_cli("--repo", fleet_copy, "--debug", "validate", "--output", "json"),
    ]
    assert [r.exit_code for r in outputs] == [0, 0, 0, 0], [r.output for r in outputs]
    # the hub's proxy token was decrypted, then masked in its Secret
    assert f'proxy.secretToken: "{MASK_PREFIX}' in outputs[1].stdout
    for result in outputs:
        assert SECRET_MARKER not in result.output
    after = _snapshot(tmp_path)
    changed = {path for path, stamp in after.items() if before.get(path) != stamp}
    for path in changed:
        assert SECRET_MARKER.encode() not in Path(path).read_bytes(), path
    for path in _system_tmp_files(since=started):
        try:
            content = path.read_bytes()
        except OSError:  # another process's file, removed since it was listed
            continue
        assert SECRET_MARKER.encode() not in content, path


def _snapshot(root: Path) -> dict[str, tuple[float, int]]:
    found: dict[str, tuple[float, int]] = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            if os.path.isfile(path) and not os.path.islink(path):
                stat = os.stat(path)
                found[path] = (stat.st_mtime, stat.st_size)
    return found


def _system_tmp_files(since: float) -> list[Path]:
    """Files written under /tmp since `since` (pytest's own tmp folders are checked above),
    listed by `find` (a Python walk of a shared machine's /tmp took minutes)."""
    return files_written_since([Path("/tmp")], since, skip_dirs=["pytest-of-*"], max_size=999_999)


def test_render_json_is_redacted(fleet_copy: Path, run_cli, age_key: Path) -> None:  # type: ignore[no-untyped-def]
    import json

    result = run_cli("--repo", fleet_copy, "render", "alpha", "staging", "--output", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["release"] == "alpha/staging"
    assert "testhub/templates/secret.yaml" in data["manifests"]
    assert SECRET_MARKER not in result.stdout


def test_the_repository_is_found_from_a_subfolder(
    fleet_copy: Path,
    run_cli,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.delenv("HUBFLEET_REPO", raising=False)
    monkeypatch.chdir(fleet_copy / "config" / "clusters" / "alpha")
    result = run_cli("list", "--output", "json")
    assert result.exit_code == 0, result.output
    import json

    clusters = [c["name"] for c in json.loads(result.stdout)["clusters"]]
    assert clusters == ["alpha", "beta", "delta", "gamma", "local"]
    monkeypatch.chdir(fleet_copy.parent)
    outside = run_cli("list")
    assert outside.exit_code == 2
    assert "no fleet repository found" in outside.stderr


def test_debug_shows_the_traceback_only_when_given_to_hubfleet(
    fleet_copy: Path,
    run_cli,  # type: ignore[no-untyped-def]
) -> None:
    plain = run_cli("--repo", fleet_copy, "list", "extra-argument-that-is-not-debug")
    assert plain.exit_code == 2
    no_cluster = run_cli("--repo", fleet_copy, "render", "nosuch", "hub", "--placeholders")
    assert no_cluster.exit_code == 2 and "no cluster named 'nosuch'" in no_cluster.stderr
    with pytest.raises(Exception, match="no cluster named 'nosuch'"):
        run_cli("--repo", fleet_copy, "--debug", "render", "nosuch", "hub")
