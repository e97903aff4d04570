"""The key of masked digests: random per command, or stable from HUBFLEET_MASK_KEY.

An unkeyed digest of a Secret's value lets anyone who reads the output (a public
CI log) hash a dictionary offline and confirm a weak secret; a keyed one does not.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import subprocess
from pathlib import Path

import pytest

from hubfleet.base.errors import SecretsError
from hubfleet.base.redact import MASK_KEY_ENV, MIN_MASK_KEY_CHARS, MaskKey, Redactor
from hubfleet.base.runner import base_environment
from hubfleet.helm.masking import MASK_PREFIX, mask_value
from hubfleet.secrets.environment import sops_environment
from tests.fakes import install_fakes
from tests.secretscan import find_secrets, scan_tree, snapshot

STABLE_KEY = "stable-mask-key-of-the-tests-0123456789abcdef"
WEAK = "admin123"  # a support chart's default password, first in any dictionary
STAGING_SECRET = Path("config/clusters/alpha/enc-staging.secret.values.yaml")
_TOKEN_LINE = re.compile(r'^\s*proxy\.secretToken: "(\[MASKED hmac:([0-9a-f]{8})\])"$', re.M)


def _token_digest(output: str) -> str:
    """The digest shown for the hub Secret's `proxy.secretToken` in `render` output."""
    found = _TOKEN_LINE.findall(output)
    assert len(found) == 1, output[-2000:]
    return str(found[0][1])


def _unkeyed_digests(candidate: str) -> set[str]:
    """What an attacker can compute without the key: sha256 and HMAC with an empty key."""
    data = candidate.encode()
    return {
        hashlib.sha256(data).hexdigest()[:8],
        hmac.new(b"", data, hashlib.sha256).hexdigest()[:8],
    }


def _with_weak_secret(fleet: Path) -> None:
    """Make alpha/staging's proxy token the weak value, encrypted as the fleet's rule says."""
    target = fleet / STAGING_SECRET
    target.write_text(f"proxy:\n  secretToken: {WEAK}\n")
    subprocess.run(
        ["sops", "--encrypt", "--in-place", str(STAGING_SECRET)],
        cwd=fleet,
        check=True,
        capture_output=True,
    )
    assert WEAK not in target.read_text()


# --- the key -------------------------------------------------------------------------


def test_the_default_key_is_random_and_a_set_key_is_stable() -> None:
    assert MaskKey.from_environment({}) != MaskKey.from_environment({})
    assert not MaskKey.from_environment({}).stable
    one = MaskKey.from_environment({MASK_KEY_ENV: STABLE_KEY})
    two = MaskKey.from_environment({MASK_KEY_ENV: STABLE_KEY})
    assert one.stable and one == two
    assert mask_value(WEAK, one) == mask_value(WEAK, two)
    assert mask_value(WEAK, one) != mask_value(WEAK, MaskKey.random())
    assert mask_value(WEAK, MaskKey.random()) != mask_value(WEAK, MaskKey.random())


def test_a_key_shorter_than_the_minimum_is_refused() -> None:
    short = "x" * (MIN_MASK_KEY_CHARS - 1)
    with pytest.raises(SecretsError) as caught:
        MaskKey.from_environment({MASK_KEY_ENV: short})
    assert caught.value.exit_code == 2
    assert MASK_KEY_ENV in str(caught.value) and caught.value.hint
    assert short not in str(caught.value)
    assert MaskKey.from_environment({MASK_KEY_ENV: "x" * MIN_MASK_KEY_CHARS}).stable


def test_the_key_is_not_in_its_repr_and_a_set_key_is_scrubbed() -> None:
    key = MaskKey.from_environment({MASK_KEY_ENV: STABLE_KEY})
    assert STABLE_KEY not in repr(key) and STABLE_KEY not in str(key)
    redactor = Redactor(key)
    assert redactor.mask_key is key
    assert STABLE_KEY not in redactor.scrub(f"key={STABLE_KEY} b64={_b64(STABLE_KEY)}")
    assert len(Redactor()) == 0  # a random key registers nothing


def test_no_program_is_given_the_env_key() -> None:
    """Not helm, kubectl, the cloud CLIs (the runner's environment), nor sops."""
    parent = {"PATH": "/bin", "HUBFLEET_CHART_CACHE": "/c", MASK_KEY_ENV: STABLE_KEY}
    assert base_environment(parent) == {"PATH": "/bin", "HUBFLEET_CHART_CACHE": "/c"}
    assert MASK_KEY_ENV not in sops_environment(source=parent)


def test_the_digest_confirms_no_guess_without_the_key() -> None:
    for value in (WEAK, _b64(WEAK)):
        digest = mask_value(value, MaskKey.random())[len(MASK_PREFIX) : -1]
        assert digest not in _unkeyed_digests(value)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# --- through the CLI -----------------------------------------------------------------


def test_two_runs_differ_by_default_and_agree_with_the_env_key(
    fleet_copy: Path,
    age_key: Path,
    run_cli,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.delenv(MASK_KEY_ENV, raising=False)
    runs = [run_cli("--repo", fleet_copy, "render", "alpha", "staging") for _ in range(2)]
    assert [r.exit_code for r in runs] == [0, 0], [r.stderr for r in runs]
    assert _token_digest(runs[0].stdout) != _token_digest(runs[1].stdout)
    monkeypatch.setenv(MASK_KEY_ENV, STABLE_KEY)
    runs = [run_cli("--repo", fleet_copy, "render", "alpha", "staging") for _ in range(2)]
    assert [r.exit_code for r in runs] == [0, 0], [r.stderr for r in runs]
    assert _token_digest(runs[0].stdout) == _token_digest(runs[1].stdout)


def test_a_weak_secret_cannot_be_confirmed_from_the_rendered_digest(
    fleet_copy: Path,
    age_key: Path,
    run_cli,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    """The Secret holds base64 of a dictionary word: hashing the guess (plain or as
    the chart stores it) without the key does not give the digest shown."""
    _with_weak_secret(fleet_copy)
    monkeypatch.delenv(MASK_KEY_ENV, raising=False)
    result = run_cli("--repo", fleet_copy, "render", "alpha", "staging")
    assert result.exit_code == 0, result.stderr
    shown = _token_digest(result.stdout)
    for candidate in (WEAK, _b64(WEAK)):
        assert shown not in _unkeyed_digests(candidate), candidate
    # The digest is of that value: whoever holds the key (and only they) can match it.
    monkeypatch.setenv(MASK_KEY_ENV, STABLE_KEY)
    keyed = run_cli("--repo", fleet_copy, "render", "alpha", "staging")
    expected = hmac.new(STABLE_KEY.encode(), _b64(WEAK).encode(), hashlib.sha256).hexdigest()
    assert _token_digest(keyed.stdout) == expected[:8]


def test_the_env_key_is_never_shown_or_written(
    fleet_copy: Path,
    age_key: Path,
    run_cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    """Every output of render, validate, export and a dry-run deploy (whose fake helm
    records the environment it was given), and every file written: no trace of the key."""
    monkeypatch.setenv(MASK_KEY_ENV, STABLE_KEY)
    fakes = install_fakes(tmp_path / "fakes")
    monkeypatch.setenv("PATH", fakes.path)
    before = snapshot(tmp_path)
    out = tmp_path / "out"
    results = [
        run_cli("--repo", fleet_copy, "render", "alpha", "staging"),
        run_cli("--repo", fleet_copy, "--debug", "render", "alpha", "staging", "-o", "json"),
        run_cli("--repo", fleet_copy, "render", "alpha", "staging", "--output-dir", out / "r"),
        run_cli("--repo", fleet_copy, "--debug", "validate", "alpha"),
        run_cli("--repo", fleet_copy, "export", "alpha", "staging", out / "x", "--verify"),
        run_cli(
            "--repo", fleet_copy, "deploy", "alpha", "staging", "--dry-run",
            "--no-health-check", "--report", out / "report.json",
        ),
    ]  # fmt: skip
    assert [r.exit_code for r in results] == [0] * len(results), [r.output for r in results]
    assert fakes.calls("helm")  # the deploy ran helm, with its environment recorded
    assert all(MASK_PREFIX in r.stdout for r in results[:2])
    hits = [hit for r in results for hit in find_secrets(r.output.encode(), [STABLE_KEY])]
    assert hits == []
    assert scan_tree(tmp_path, [STABLE_KEY], since=before) == []


def test_a_short_env_key_stops_every_command_with_a_hint(
    fleet_copy: Path,
    run_cli,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    short = "too-short-mask-key"
    monkeypatch.setenv(MASK_KEY_ENV, short)
    for args in (["render", "alpha", "staging"], ["list"]):
        result = run_cli("--repo", fleet_copy, *args)
        assert result.exit_code == 2, result.output
        assert f"{MASK_KEY_ENV} is shorter than {MIN_MASK_KEY_CHARS} characters" in result.stderr
        assert "hint:" in result.stderr
        assert short not in result.output
