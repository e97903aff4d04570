"""Key material hubfleet is given: registered with the command's redactor at its start.

The fleet's master key (the age identity sops decrypts with) and the cloud
credentials in hubfleet's environment are secrets like the values they unlock:
a chart template, a values file or an error message that carries one of them
must never show it (DESIGN.md section 5). `register_key_material` adds, in every
form the redactor knows:

- `SOPS_AGE_KEY`: each identity line (`AGE-SECRET-KEY-1...`, plugin identities);
- the age key files sops reads: `SOPS_AGE_KEY_FILE`, else the default
  `~/.config/sops/age/keys.txt` (and `$XDG_CONFIG_HOME/sops/age/keys.txt`): each
  identity line (comments, such as the `# public key:` line, are not secret);
- `SOPS_AGE_SSH_PRIVATE_KEY_FILE` and `AZURE_CLIENT_CERTIFICATE_PATH`: the body
  of each PEM private key (each line and the whole body);
- `GOOGLE_APPLICATION_CREDENTIALS` (and gcloud's credential file override): the
  JSON's `private_key` (as above), `private_key_id`, `client_secret` and
  `refresh_token`; the same of the JSON in `GOOGLE_CREDENTIALS` (terraform's
  google provider takes the key itself there);
- files holding a federation token (`AWS_WEB_IDENTITY_TOKEN_FILE`,
  `AZURE_FEDERATED_TOKEN_FILE`, `CLOUDSDK_AUTH_ACCESS_TOKEN_FILE`): their content;
- every variable of sops' and the clouds' families (`SOPS_`, `AWS_`, `AZURE_`,
  `ARM_`, `GOOGLE_`, `CLOUDSDK_`, `VAULT_`, `HUBFLEET_`, `ACTIONS_ID_TOKEN_`)
  whose name says it holds a secret (`SECRET`, `TOKEN`, `PASSWORD`, a private
  `KEY`), e.g. `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AZURE_CLIENT_SECRET`,
  `VAULT_TOKEN`. Names of files, ids and public keys (`SOPS_AGE_KEY_FILE`,
  `AWS_ACCESS_KEY_ID`, `SOPS_PGP_FP`, `SOPS_AGE_RECIPIENTS`) are not secrets.

`SOPS_AGE_KEY_CMD` names a program whose output is the key: hubfleet does not run
it, so it cannot know that key (sops' own output never contains it). A file is
read only when it is a regular file of at most `MAX_KEY_FILE_BYTES`; a file that
cannot be read registers nothing (sops will say why it cannot decrypt).

This module holds no key: it names only the shapes it looks for (the
`AGE-SECRET-KEY-` prefix in this text, the PEM `-----BEGIN`/`-----END` armour
lines), as `secrets/lint.py` does. The keys its tests use are the test fleet's
public demo key (tests/fixtures/age) and values made in the test.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from hubfleet.base.redact import Redactor

MAX_KEY_FILE_BYTES = 1024 * 1024

# Variable families whose secret-named members are key material.
_FAMILIES = (
    "SOPS_",
    "AWS_",
    "AZURE_",
    "ARM_",
    "GOOGLE_",
    "CLOUDSDK_",
    "VAULT_",
    "HUBFLEET_",
    "ACTIONS_ID_TOKEN_",
)
_SECRET_PARTS = ("SECRET", "TOKEN", "PASSWORD", "PASSWD", "PRIVATE_KEY")
# A name that ends so names a file, a program or an id, never the secret itself.
_NOT_VALUES = ("_FILE", "_PATH", "_CMD", "_ID", "_URL", "_FP", "_RECIPIENTS", "_TYPE", "_ARN")
# Exactly these are secrets although their names do not say so.
_EXACT_SECRETS = frozenset({"SOPS_AGE_KEY"})

_AGE_KEY_FILES = ("SOPS_AGE_KEY_FILE",)
_PEM_FILES = ("SOPS_AGE_SSH_PRIVATE_KEY_FILE", "AZURE_CLIENT_CERTIFICATE_PATH")
_GOOGLE_FILES = ("GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE")
_TOKEN_FILES = (
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AZURE_FEDERATED_TOKEN_FILE",
    "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE",
)
_GOOGLE_JSON_VARIABLES = ("GOOGLE_CREDENTIALS", "GOOGLE_CLOUD_KEYFILE_JSON")
_GOOGLE_SECRET_KEYS = ("private_key", "private_key_id", "client_secret", "refresh_token")


def register_key_material(redactor: Redactor, environ: Mapping[str, str] | None = None) -> None:
    """Register every key `environ` (default: os.environ) gives hubfleet (module docstring)."""
    redactor.add_all(key_material(os.environ if environ is None else environ))


def key_material(environ: Mapping[str, str]) -> list[str]:
    """The secret values of `environ` and of the key files it names (module docstring)."""
    found: list[str] = []
    for name, value in environ.items():
        if name == "SOPS_AGE_KEY":
            found += age_identities(value)
        elif name in _GOOGLE_JSON_VARIABLES:
            found += google_secrets(value)
        elif _secret_name(name) and value.strip():
            found.append(value)
    for path in _age_key_files(environ):
        found += age_identities(_read(path) or "")
    for name in _PEM_FILES:
        found += pem_secrets(_read(environ.get(name)) or "")
    for name in _GOOGLE_FILES:
        found += google_secrets(_read(environ.get(name)) or "")
    for name in _TOKEN_FILES:
        token = (_read(environ.get(name)) or "").strip()
        if token:
            found.append(token)
    return found


def _secret_name(name: str) -> bool:
    if name in _EXACT_SECRETS:
        return True
    if not name.startswith(_FAMILIES) or name.endswith(_NOT_VALUES):
        return False
    return any(part in name for part in _SECRET_PARTS)


def _age_key_files(environ: Mapping[str, str]) -> Iterator[str]:
    """The key file sops reads: SOPS_AGE_KEY_FILE, else its default places (both may
    hold keys: sops reads SOPS_AGE_KEY_FILE and the default file)."""
    for name in _AGE_KEY_FILES:
        if environ.get(name):
            yield os.path.abspath(environ[name])
    for path in default_age_key_files(environ):
        yield str(path)


def default_age_key_files(environ: Mapping[str, str] | None = None) -> list[Path]:
    """Where sops looks for age keys when no SOPS_AGE_KEY* variable is set."""
    environ = os.environ if environ is None else environ
    found: list[Path] = []
    xdg = environ.get("XDG_CONFIG_HOME")
    if xdg:
        found.append(Path(xdg) / "sops" / "age" / "keys.txt")
    home = environ.get("HOME")
    if home:
        found.append(Path(home) / ".config" / "sops" / "age" / "keys.txt")
        if sys.platform == "darwin":
            found.append(Path(home) / "Library" / "Application Support" / "sops/age/keys.txt")
    return found


def age_identities(text: str) -> list[str]:
    """The identity lines of an age key file or SOPS_AGE_KEY (comments and blank
    lines are not secret: the `# public key:` line is the recipient)."""
    return [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def pem_secrets(text: str) -> list[str]:
    """The body of each PEM block holding a private key: each line and the whole body
    (the `-----BEGIN ...-----` lines are not secret); a text that is no PEM: its
    non-blank lines (an unknown key format is still a key)."""
    found: list[str] = []
    body: list[str] | None = None
    private = False
    saw_pem = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("-----BEGIN"):
            saw_pem, private, body = True, "PRIVATE" in line, []
        elif line.startswith("-----END"):
            if private and body:
                found += [*body, "".join(body), "\n".join(body)]
            body = None
        elif body is not None and line and ":" not in line:  # not a PEM header
            body.append(line)
    if not saw_pem:
        found = [line.strip() for line in text.splitlines() if line.strip()]
    return found


def google_secrets(text: str) -> list[str]:
    """The secret fields of a Google credential JSON (service account, user
    refresh token); a federation config (`external_account`) has none."""
    try:
        data = json.loads(text) if text.strip() else None
    except ValueError:
        return []
    if not isinstance(data, dict):
        return []
    found: list[str] = []
    for key in _GOOGLE_SECRET_KEYS:
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            found.append(value)
            if key == "private_key":
                found += pem_secrets(value)
    return found


def _read(path: str | os.PathLike[str] | None) -> str | None:
    """A regular file's text (at most MAX_KEY_FILE_BYTES), else None."""
    if not path:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_KEY_FILE_BYTES:
            return None
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(MAX_KEY_FILE_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    return data.decode("utf-8", errors="replace")
