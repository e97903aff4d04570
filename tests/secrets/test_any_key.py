"""Any key sops can use: PGP with a key made here, GCP and AWS KMS failing offline, and
the metadata a hostile file can carry (issue 24, point 1).

The PGP key is a throwaway one made by `gpg --quick-gen-key` in a private GNUPGHOME;
the layout fixture's `pgp-keys` cluster (committed for the test age key) is
re-encrypted for it in a copy, and validate, render and export run on that copy with
no age key anywhere. KMS files cannot be made offline: an age-encrypted file gets its
key group replaced by a `gcp_kms` or `kms` entry, and the cloud clients sops runs are
pointed at a missing credential file and a closed local port, so they fail at once
(nothing leaves 127.0.0.1).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hubfleet.base.errors import SecretsError
from hubfleet.base.redact import Redactor
from hubfleet.config.load import load_fleet
from hubfleet.release.pipeline import hub_release
from hubfleet.release.values import ReleaseValues
from hubfleet.secrets.environment import sops_environment
from hubfleet.secrets.metadata import MAX_KEYS, key_hint, master_keys, shown, sops_reason
from hubfleet.secrets.sops import KeyUnavailable, Sops, encrypt
from tests.conftest import AGE_KEY, SECRET_MARKER, CliResult, public_key
from tests.helpers import copy_layout
from tests.secretscan import scan_tree

PGP_CLUSTER = "config/clusters/pgp-keys"
PGP_FILES = ("enc-support.secret.values.yaml", "enc-staging.secret.values.yaml")
# The support chart's own encrypted values (added to every support release).
SUPPORT_CHART_SECRET = "helm-charts/support/enc-support.secret.values.yaml"
PGP_SECRETS = (
    "proxy-token-pgp-keys-staging-s3cr3t",
    "grafana-pw-pgp-keys-s3cr3t",
)
GCP_KEY = "projects/p/locations/global/keyRings/r/cryptoKeys/fleet-key"
AWS_KEY = "arn:aws:kms:us-west-2:123456789012:key/00000000-0000-0000-0000-000000000001"
# Fast enough to show no network wait (sops alone takes about 0.2 s here).
QUICK_S = 15.0


# ------------------------------------------------------------------ keys made here


@pytest.fixture(scope="module")
def gpg_home() -> Iterator[tuple[Path, str]]:
    """A throwaway GnuPG home with one secret key (no passphrase); its fingerprint."""
    if shutil.which("gpg") is None:
        pytest.skip("gpg is not installed (scripts/setup installs gnupg as root)")
    # A short path: gpg-agent's socket path is limited to about 100 characters.
    home = Path(tempfile.mkdtemp(prefix="hf-gpg-"))
    home.chmod(0o700)
    env = {"GNUPGHOME": str(home), "PATH": "/usr/bin:/bin", "HOME": str(home)}
    try:
        subprocess.run(
            [
                "gpg",
                "--batch",
                "--passphrase",
                "",
                "--quick-gen-key",
                "hubfleet test <pgp-test@example.invalid>",
                "futuredefault",
                "default",
                "never",
            ],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        listing = subprocess.run(
            ["gpg", "--batch", "--with-colons", "--list-secret-keys"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        fingerprint = next(
            line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")
        )
        yield home, fingerprint
    finally:
        subprocess.run(
            ["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"],
            env=env,
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(home, ignore_errors=True)


def age_sops(root: Path) -> Sops:
    return Sops(Redactor(), cwd=root, env={"SOPS_AGE_KEY_FILE": str(AGE_KEY)})


def to_pgp(fleet: Path, fingerprint: str, gnupghome: Path) -> None:
    """Re-encrypt the `pgp-keys` cluster's secret files, and the support chart's own
    (which every support release reads), for the PGP key only (in memory)."""
    decrypter = age_sops(fleet)
    relatives = [f"{PGP_CLUSTER}/{name}" for name in PGP_FILES]
    for relative in [*relatives, SUPPORT_CHART_SECRET]:
        plain = decrypter.decrypt(fleet / relative)
        ciphertext = encrypt(
            plain,
            filename=relative,
            cwd=fleet,
            pgp_fingerprints=[fingerprint],
            env={"GNUPGHOME": str(gnupghome)},
        )
        (fleet / relative).write_bytes(ciphertext)


@pytest.fixture
def no_age(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No age key anywhere sops looks, no GnuPG keyring (an empty HOME)."""
    for name in ("SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY", "SOPS_AGE_KEY_CMD", "GNUPGHOME"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))


@pytest.fixture
def pgp_layout(
    tmp_path: Path,
    gpg_home: tuple[Path, str],
    no_age: None,
    monkeypatch: pytest.MonkeyPatch,
    real_chart_cache: Path,
) -> Path:
    """The layout fixture copied, its `pgp-keys` cluster encrypted for the PGP key made
    here; GNUPGHOME set to that key's home, no age key."""
    home, fingerprint = gpg_home
    fleet = copy_layout(tmp_path)
    to_pgp(fleet, fingerprint, home)
    monkeypatch.setenv("GNUPGHOME", str(home))
    return fleet


# ------------------------------------------------------------------ PGP


def test_pgp_files_name_the_key_and_no_age_recipient(
    pgp_layout: Path, gpg_home: tuple[Path, str]
) -> None:
    _, fingerprint = gpg_home
    for name in PGP_FILES:
        text = (pgp_layout / PGP_CLUSTER / name).read_text()
        keys = master_keys(text, "yaml")
        assert [(k.kind, k.ident) for k in keys] == [("pgp", fingerprint)]
        assert public_key(AGE_KEY) not in text


def test_pgp_file_decrypts_with_the_keyring_and_is_skipped_without_it(
    pgp_layout: Path, gpg_home: tuple[Path, str], tmp_path: Path
) -> None:
    path = pgp_layout / PGP_CLUSTER / "enc-staging.secret.values.yaml"
    text = path.read_text()
    keyed = Sops(Redactor(), cwd=pgp_layout)
    assert keyed.may_decrypt(text, str(path))
    assert b"proxy-token-pgp-keys-staging-s3cr3t" in keyed.decrypt(path)
    # An empty keyring: the file is not tried (structure checks only), and said so.
    empty = tmp_path / "empty-gnupg"
    empty.mkdir(mode=0o700)
    bare = Sops(Redactor(), cwd=pgp_layout, env={"GNUPGHOME": str(empty)})
    assert not bare.may_decrypt(text, str(path))
    note = bare.no_key_note()
    assert note is not None and "1 for PGP" in note
    # Asked anyway (export --decrypt): sops' reason and the PGP hint, no traceback.
    with pytest.raises(KeyUnavailable) as info:
        bare.decrypt(path)
    assert "PGP" in info.value.message and "sops says:" in info.value.message
    assert info.value.hint and "gpg --import" in info.value.hint
    assert "\n" not in info.value.message + info.value.hint


def test_validate_decrypts_the_pgp_cluster_without_any_age_key(
    run_cli: Any, pgp_layout: Path
) -> None:
    result: CliResult = run_cli("--repo", pgp_layout, "validate", "pgp-keys", "--output", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["problems"] == [], data
    assert sorted(data["rendered"]) == ["pgp-keys/staging", "pgp-keys/support"]
    # Every file of this cluster was decrypted: no "structure only" note.
    assert not any("structure only" in note for note in data.get("notes", [])), data
    # A tampered PGP file is caught, which only a decryption can do.
    path = pgp_layout / PGP_CLUSTER / "enc-staging.secret.values.yaml"
    text = path.read_text()
    at = text.index("ENC[AES256_GCM,data:") + len("ENC[AES256_GCM,data:")
    path.write_text(text[:at] + ("B" if text[at] != "B" else "C") + text[at + 1 :])
    tampered: CliResult = run_cli("--repo", pgp_layout, "validate", "pgp-keys")
    assert tampered.exit_code == 2, tampered.output
    assert "enc-staging.secret.values.yaml:1: cannot decrypt" in tampered.output
    assert "Traceback" not in tampered.output


def test_validate_whole_fleet_notes_the_age_files_it_could_not_open(
    run_cli: Any, pgp_layout: Path, real_dask_chart_cache: Path
) -> None:
    """No age key: the other clusters' age files are checked for structure, said once
    with the key type; the PGP cluster's files are decrypted all the same."""
    result: CliResult = run_cli("--repo", pgp_layout, "validate", "--output", "json")
    assert result.exit_code == 0, result.output
    notes = json.loads(result.stdout)["notes"]
    assert any("for age" in note and "structure only" in note for note in notes), notes
    assert not any("for PGP" in note or "GnuPG" in note for note in notes), notes


def test_render_uses_the_pgp_secrets_and_shows_none(
    run_cli: Any, pgp_layout: Path, gpg_home: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = load_fleet(pgp_layout).fleet_or_raise()
    release = hub_release(fleet, fleet.cluster("pgp-keys").hub("staging"))
    merged = ReleaseValues(fleet, sops=Sops(Redactor(), cwd=pgp_layout)).merged(release)
    assert merged["jupyterhub"]["proxy"]["secretToken"] == "proxy-token-pgp-keys-staging-s3cr3t"

    monkeypatch.setenv("HUBFLEET_MASK_KEY", "k" * 40)  # digests compare across the runs
    shown_render: CliResult = run_cli("--repo", pgp_layout, "render", "pgp-keys", "staging")
    assert shown_render.exit_code == 0, shown_render.output
    assert SECRET_MARKER not in shown_render.output
    placeholders: CliResult = run_cli(
        "--repo", pgp_layout, "render", "pgp-keys", "staging", "--placeholders"
    )
    assert placeholders.exit_code == 0, placeholders.output
    # The decrypted token reached the chart: its Secret's digest is not the placeholder's.
    assert shown_render.stdout != placeholders.stdout


def test_export_of_the_pgp_hub_round_trips_and_says_what_opens_it(
    run_cli: Any, pgp_layout: Path, gpg_home: tuple[Path, str], tmp_path: Path
) -> None:
    _, fingerprint = gpg_home
    out = tmp_path / "export"
    result: CliResult = run_cli(
        "--repo", pgp_layout, "export", "pgp-keys", "staging", out, "--verify", "-o", "json"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["verify"]["status"] == "same", data["verify"]
    assert data["verify"]["secrets"] == "decrypted"
    readme = (out / "README.md").read_text()
    assert f"pgp {fingerprint}" in readme
    assert "the PGP secret key in your GnuPG keyring" in readme
    assert "SOPS_AGE_KEY_FILE" not in readme
    assert scan_tree(out, PGP_SECRETS) == []


# ------------------------------------------------------------------ KMS, offline


def with_key_group(age_file: Path, target: Path, group: dict[str, Any]) -> Path:
    """`age_file` with its age key group replaced by `group` (what sops would write for
    a KMS key; its data key cannot be recovered, which is the point)."""
    data = yaml.safe_load(age_file.read_text())
    data["sops"].pop("age")
    data["sops"].update(group)
    target.write_text(yaml.safe_dump(data, sort_keys=False))
    return target


GCP_GROUP = {
    "gcp_kms": [
        {"resource_id": GCP_KEY, "created_at": "2024-01-01T00:00:00Z", "enc": "CiQAbcdefgh="}
    ]
}
AWS_GROUP = {
    "kms": [
        {
            "arn": AWS_KEY,
            "role": "arn:aws:iam::123456789012:role/sops-reader",
            "created_at": "2024-01-01T00:00:00Z",
            "enc": "QVFJQ0FIZ3Rlc3Q=",
            "aws_profile": "",
        }
    ]
}
AWS_FAKE_SECRET = "aws-fake-secret-access-key-s3cr3t"


@pytest.fixture
def offline_clouds(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Cloud clients that fail at once, on this machine: a missing Google credential
    file, the metadata servers and the AWS endpoints on a closed local port."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing-adc.json"))
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFAKEFIXTURE00009")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_FAKE_SECRET)


@pytest.fixture
def kms_layout(tmp_path: Path, no_age: None, offline_clouds: None) -> Path:
    """The layout copy with gcp-one's staging secret file for a GCP KMS key and
    aws-two's for an AWS KMS key."""
    fleet = copy_layout(tmp_path)
    for cluster, group in (("gcp-one", GCP_GROUP), ("aws-two", AWS_GROUP)):
        path = fleet / f"config/clusters/{cluster}/enc-staging.secret.values.yaml"
        with_key_group(path, path, group)
    return fleet


@pytest.mark.parametrize(
    ("cluster", "label", "key", "hint"),
    [
        ("gcp-one", "GCP KMS", GCP_KEY, "gcloud auth application-default login"),
        ("aws-two", "AWS KMS", AWS_KEY, "kms:Decrypt"),
    ],
)
def test_kms_file_fails_offline_at_once_naming_its_key(
    kms_layout: Path, cluster: str, label: str, key: str, hint: str
) -> None:
    path = kms_layout / f"config/clusters/{cluster}/enc-staging.secret.values.yaml"
    text = path.read_text()
    sops = Sops(Redactor(), cwd=kms_layout)
    assert sops.may_decrypt(text, str(path))  # a cloud login cannot be seen: tried
    started = time.monotonic()
    with pytest.raises(KeyUnavailable) as info:
        sops.decrypt(path)
    elapsed = time.monotonic() - started
    assert elapsed < QUICK_S, elapsed
    error = info.value
    assert error.cloud_only
    assert label in error.message and key in error.message
    assert "sops says:" in error.message
    assert error.hint and hint in error.hint and key in error.hint
    assert AWS_FAKE_SECRET not in str(error)
    # Not tried again in this run: the same key would fail the same way.
    assert not sops.may_decrypt(text, str(path))
    note = sops.no_key_note()
    assert note is not None and f"1 for {label}" in note


def test_gcp_failure_says_sops_reason(kms_layout: Path) -> None:
    path = kms_layout / "config/clusters/gcp-one/enc-staging.secret.values.yaml"
    with pytest.raises(KeyUnavailable) as info:
        Sops(Redactor(), cwd=kms_layout).decrypt(path)
    assert "missing-adc.json" in info.value.message  # sops' own reason: the missing file


def test_validate_warns_for_kms_files_it_cannot_open_and_checks_the_rest(
    run_cli: Any, kms_layout: Path, real_dask_chart_cache: Path
) -> None:
    """No cloud login (CI's plan job): a warning naming the key, sops' reason and the
    hint; the file's structure still checked; no traceback; the fleet still valid."""
    result: CliResult = run_cli("--repo", kms_layout, "validate", "--output", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    warnings = {p["path"]: p for p in data["problems"]}
    gcp = warnings["config/clusters/gcp-one/enc-staging.secret.values.yaml"]
    assert gcp["severity"] == "warning" and "GCP KMS" in gcp["message"]
    assert "gcloud auth application-default login" in gcp["hint"]
    aws = warnings["config/clusters/aws-two/enc-staging.secret.values.yaml"]
    assert "AWS KMS" in aws["message"]
    assert AWS_FAKE_SECRET not in result.output
    # A plaintext value pasted into the KMS file: the structure check still catches it.
    path = kms_layout / "config/clusters/gcp-one/enc-staging.secret.values.yaml"
    path.write_text(path.read_text().replace("sops:\n", "pasted: plain-text\nsops:\n", 1))
    broken: CliResult = run_cli("--repo", kms_layout, "validate", "gcp-one", "staging")
    assert broken.exit_code == 2, broken.output
    assert "pasted is not encrypted" in broken.output
    assert "Traceback" not in broken.output


def test_render_of_a_kms_hub_without_login_fails_with_the_kms_hint(
    run_cli: Any, kms_layout: Path, real_chart_cache: Path
) -> None:
    result: CliResult = run_cli("--repo", kms_layout, "render", "gcp-one", "staging")
    assert result.exit_code == 2, result.output
    assert "GCP KMS" in result.stderr and "gcloud auth application-default login" in result.stderr
    assert "Traceback" not in result.output
    placeholders: CliResult = run_cli(
        "--repo", kms_layout, "render", "gcp-one", "staging", "--placeholders"
    )
    assert placeholders.exit_code == 0, placeholders.output


def test_export_of_a_kms_hub_without_login_keeps_the_file_encrypted(
    run_cli: Any, kms_layout: Path, real_chart_cache: Path, tmp_path: Path
) -> None:
    out = tmp_path / "export"
    result: CliResult = run_cli("--repo", kms_layout, "export", "gcp-one", "staging", out)
    assert result.exit_code == 0, result.output
    readme = (out / "README.md").read_text()
    assert f"gcp kms {GCP_KEY}" in readme
    assert "gcloud auth application-default login" in readme


# ------------------------------------------------------------------ environment


def test_each_file_gets_only_the_login_of_its_own_key_type(
    kms_layout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SOMETHING_UNLISTED", "x")
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "azure-s3cr3t")
    monkeypatch.setenv("VAULT_TOKEN", "vault-s3cr3t")
    sops = Sops(Redactor(), cwd=kms_layout)
    gcp = sops.environment_for(
        kms_layout / "config/clusters/gcp-one/enc-staging.secret.values.yaml"
    )
    aws = sops.environment_for(
        kms_layout / "config/clusters/aws-two/enc-staging.secret.values.yaml"
    )
    age = sops.environment_for(
        kms_layout / "config/clusters/gcp-one/enc-research.secret.values.yaml"
    )
    assert "GOOGLE_APPLICATION_CREDENTIALS" in gcp and "GCE_METADATA_HOST" in gcp
    assert not any(name.startswith("AWS_") for name in gcp)
    assert aws["AWS_SECRET_ACCESS_KEY"] == AWS_FAKE_SECRET and aws["AWS_ENDPOINT_URL"]
    assert "GOOGLE_APPLICATION_CREDENTIALS" not in aws
    for env in (gcp, aws, age):
        assert "AWS_SOMETHING_UNLISTED" not in env  # a list of decisions, not a prefix
        assert "AZURE_CLIENT_SECRET" not in env and "VAULT_TOKEN" not in env
    assert not any(name.startswith(("AWS_", "GOOGLE_")) for name in age)


def test_sops_environment_by_key_type() -> None:
    source = {
        "PATH": "/bin",
        "AZURE_CLIENT_SECRET": "s",
        "VAULT_TOKEN": "t",
        "VAULT_ADDR": "http://127.0.0.1:8200",
        "GNUPGHOME": "relative-gnupg",
        "ARM_CLIENT_SECRET": "terraform-only",
    }
    assert "AZURE_CLIENT_SECRET" in sops_environment(source, key_types=["azure_kv"])
    vault = sops_environment(source, key_types=["hc_vault"])
    assert vault["VAULT_TOKEN"] == "t" and "AZURE_CLIENT_SECRET" not in vault
    everything = sops_environment(source, cloud=True)
    assert "ARM_CLIENT_SECRET" not in everything  # terraform's, never sops'
    assert Path(everything["GNUPGHOME"]).is_absolute()


# ------------------------------------------------------------------ hostile metadata


def test_metadata_of_every_key_type_json_dotenv_and_key_groups() -> None:
    meta = {
        "key_groups": [
            {"age": [{"recipient": "age1abc"}], "pgp": [{"fp": "ABCDEF"}]},
            {
                "azure_kv": [{"vault_url": "https://v.vault.azure.net", "name": "k"}],
                "hc_vault": [
                    {
                        "vault_address": "http://127.0.0.1:8200",
                        "engine_path": "sops",
                        "key_name": "f",
                    }
                ],
            },
        ]
    }
    keys = master_keys(json.dumps({"a": "ENC[...]", "sops": meta}), "json")
    assert [(k.kind, k.ident) for k in keys] == [
        ("age", "age1abc"),
        ("pgp", "ABCDEF"),
        ("azure_kv", "https://v.vault.azure.net/keys/k"),
        ("hc_vault", "http://127.0.0.1:8200/v1/sops/keys/f"),
    ]
    hint = key_hint(keys)
    for part in ("SOPS_AGE_KEY_FILE", "gpg --import", "az login", "VAULT_TOKEN"):
        assert part in hint
    dotenv = "a=ENC[x]\nsops_gcp_kms__list_0__map_resource_id=projects/x\nsops_mac=m\n"
    assert [(k.kind, k.ident) for k in master_keys(dotenv, "dotenv")] == [("gcp_kms", "projects/x")]


CREATED = {"created_at": "2024-01-01T00:00:00Z"}
EVIL_ARN = "arn:aws:kms:x\n/tmp/evil.yaml:1: forged problem `rm -rf /` <b>x</b>" + "A" * 5000


def test_hostile_metadata_is_bounded_and_escaped(
    tmp_path: Path, no_age: None, offline_clouds: None
) -> None:
    """Unknown key types, wrong shapes and an ARN carrying a newline, backticks and
    Markdown: no traceback, nothing injected, a bounded message, quickly."""
    source = copy_layout(tmp_path)
    age_file = source / "config/clusters/gcp-one/enc-staging.secret.values.yaml"
    group: dict[str, Any] = {
        "kms": [{"arn": EVIL_ARN, "enc": "QVFJQ0FIZ3Rlc3Q=", "role": "r\nforged", **CREATED}]
        + [{"arn": f"arn:aws:kms:us-west-2:1:key/{i}", "enc": "QQ==", **CREATED} for i in range(5)],
        "evil_kind": [{"id": "x"}],
    }
    path = with_key_group(age_file, tmp_path / "enc-evil.secret.values.yaml", group)
    keys = master_keys(path.read_text(), "yaml")
    assert [k.kind for k in keys] == ["kms"] * 6
    started = time.monotonic()
    with pytest.raises(KeyUnavailable) as info:
        Sops(Redactor(), cwd=tmp_path).decrypt(path)
    assert time.monotonic() - started < QUICK_S
    error = info.value
    shown_text = f"{error.message} {error.hint}"
    assert "\n" not in shown_text and "`rm" not in shown_text
    assert "<b>" not in (error.hint or "")  # the hint shows the file's ARN escaped
    assert "kms:x\\x0a/tmp/evil.yaml:1:\\x20forged" in shown_text  # escaped, not obeyed
    assert "AAAA" * 100 not in shown_text and len(shown_text) < 3000
    assert "(and 3 more)" in (error.hint or ""), error.hint
    # Shapes sops itself refuses: its reason, on one line, no traceback.
    group["pgp"] = [1, None, ["x"], {"fp": 7}]
    group["gcp_kms"] = "not a list"
    path = with_key_group(age_file, tmp_path / "enc-shapes.secret.values.yaml", group)
    assert [k.kind for k in master_keys(path.read_text(), "yaml")] == ["pgp"] + ["kms"] * 6
    with pytest.raises(SecretsError) as shapes:
        Sops(Redactor(), cwd=tmp_path).decrypt(path)
    assert "sops says:" in shapes.value.message and "\n" not in shapes.value.message


def test_a_file_naming_thousands_of_keys_is_refused_before_sops_runs(
    tmp_path: Path, no_age: None, offline_clouds: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sops tries every key in turn (10,000 KMS keys kept it busy past its 120 s timeout,
    measured): such a file is refused at once, without running sops. (A sops first on
    PATH notes any run; "at once" is hubfleet's own CPU time, which a loaded machine
    does not stretch as it does the wall clock.)"""
    source = copy_layout(tmp_path)
    age_file = source / "config/clusters/gcp-one/enc-staging.secret.values.yaml"
    group = {"kms": [{"arn": f"arn:{i}", "enc": "QQ=="} for i in range(10_000)]}
    path = with_key_group(age_file, tmp_path / "enc-many.secret.values.yaml", group)
    assert len(master_keys(path.read_text(), "yaml")) == MAX_KEYS + 1
    noted = tmp_path / "sops-ran"
    spy = tmp_path / "spy-bin"
    spy.mkdir()
    (spy / "sops").write_text(f"#!/bin/sh\ntouch {noted}\nexit 1\n")
    (spy / "sops").chmod(0o755)
    monkeypatch.setenv("PATH", f"{spy}{os.pathsep}{os.environ['PATH']}")
    assert shutil.which("sops") == str(spy / "sops")  # the sops hubfleet would run
    started = time.process_time()
    with pytest.raises(SecretsError) as info:
        Sops(Redactor(), cwd=tmp_path).decrypt(path)
    assert time.process_time() - started < 5
    assert not noted.exists()
    assert f"more than {MAX_KEYS} master keys" in info.value.message


def test_shown_and_reason_helpers() -> None:
    assert shown("a\nb`c") == "a\\x0ab\\x60c"
    assert shown("x" * 500).endswith("...") and len(shown("x" * 500)) <= 163
    stderr = (
        "Failed to get the data key required to decrypt the SOPS file.\n\nGroup 0: FAILED\n"
        "  projects/p/k: FAILED\n    - | cannot create GCP KMS service: open /x: no such\n"
        "      | file or directory\n\nRecovery failed because no master key was able\n"
    )
    assert (
        sops_reason(stderr) == "cannot create GCP KMS service: open /x: no such file or directory"
    )
    assert sops_reason("line one\nlast `line`\x1b[31m") == "last 'line'\\x1b[31m"
