"""The plaintext-secret lint: secrets left in values files that are not sops-encrypted.

`lint_plaintext(doc, text)` reports, for a plain (unencrypted) values file:

- a non-empty string under a key that names a secret: `password`, `clientSecret`,
  `client_secret`, `apiToken`, `secretToken`, `cookieSecret`, `privateKey`,
  `secretKey`, `accessKey`, `apiKey`, ... (case-insensitive, camelCase,
  snake_case or kebab-case), and any key ending in `Secret`/`_secret`,
  `Token`/`_token` or `Password`/`_password`;
- a string anywhere that looks like key material: a PEM private key, an AWS
  access key id (`AKIA...`/`ASIA...`), a GCP service-account JSON key, a GitHub
  token (`ghp_...`, `github_pat_...`), a Slack token or webhook, an age secret
  key (`AGE-SECRET-KEY-1...`).

Not reported: empty strings, null, booleans and numbers; references rather than
values (subtrees under `valueFrom`, `secretKeyRef`, `secretRef`; keys such as
`existingSecret` or `secretName`; values like `${ENV_VAR}`, `$VAR`,
`{{ template }}`, `<placeholder>` and sops ciphertext `ENC[...]`); keys that merely
mention a secret (`passwordPolicy`, `tokenLifetime`, `secretName`).

**The allow marker.** A value that is deliberately public (a demo hub's dummy
password, say) is allowed by the comment ``# hubfleet: allow-plaintext`` at the
end of the key's line::

    hub:
      config:
        DummyAuthenticator:
          password: demo  # hubfleet: allow-plaintext

The check is fast: key names are classified once and cached, and the value
patterns run only when one of their fixed prefixes occurs in the file's text.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

from hubfleet.errors import Problem
from hubfleet.helm.values import format_key_path
from hubfleet.yamlio import Document, PathKey

HINT = "move it into an enc-*.secret.values.yaml file encrypted with sops"

_MARKER_RE = re.compile(r"#\s*hubfleet:\s*allow-plaintext\b")

# Key names (lowercase, without "_" and "-") that hold a secret.
_SECRET_NAMES = frozenset(
    {
        "password",
        "passwd",
        "passphrase",
        "secret",
        "token",
        "clientsecret",
        "apitoken",
        "apikey",
        "secrettoken",
        "cookiesecret",
        "privatekey",
        "secretkey",
        "accesskey",
        "secretaccesskey",
        "accesskeyid",
        "authtoken",
        "accesstoken",
        "refreshtoken",
        "bearertoken",
        "sessiontoken",
        "encryptionkey",
        "signingkey",
        "cryptkey",
        "cryptokey",
        "hmackey",
        "sharedsecret",
        "webhooksecret",
        "masterkey",
        "connectionstring",
        "sslkey",
        "tlskey",
    }
)
_SECRET_SUFFIXES = ("secret", "token", "password", "passwd", "privatekey", "apikey")
# Keys that end like a secret but name a reference to one (a Kubernetes Secret).
_REFERENCE_NAMES = frozenset(
    {
        "existingsecret",
        "imagepullsecret",
        "tlssecret",
        "sourcesecret",
        "fromsecret",
        "usesecret",
        "kubernetessecret",
        "k8ssecret",
    }
)
# Subtrees that hold references, never values.
_REFERENCE_SUBTREES = frozenset({"valuefrom", "secretkeyref", "secretref", "existingsecret"})

_REFERENCE_VALUE = re.compile(
    r"""^(?:
        \$\{[^}]*\}            # ${ENV}
      | \$[A-Za-z_][A-Za-z0-9_]*  # $ENV
      | \{\{.*\}\}             # {{ template }}
      | <[^<>]*>               # <placeholder>
      | ENC\[AES256_GCM,.*\]   # sops ciphertext
    )$""",
    re.VERBOSE | re.DOTALL,
)
_NOT_A_VALUE = frozenset({"true", "false", "yes", "no", "null", "none", "~"})

# What key material looks like, with the fixed text each needs (checked first, cheaply).
# These are detection patterns only: no key or fragment of a real key is in this file.
_PATTERNS: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    (
        "PRIVATE KEY",
        "a private key",
        re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"),
    ),
    ("AKIA", "an AWS access key id", re.compile(r"(?<![A-Z0-9])AKIA[0-9A-Z]{16}(?![A-Z0-9])")),
    ("ASIA", "an AWS access key id", re.compile(r"(?<![A-Z0-9])ASIA[0-9A-Z]{16}(?![A-Z0-9])")),
    ('"private_key"', "a GCP service-account key", re.compile(r'"private_key"\s*:')),
    ("gh", "a GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}")),
    ("github_pat_", "a GitHub token", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,}")),
    ("xox", "a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    (
        "hooks.slack.com",
        "a Slack webhook URL",
        re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/]+"),
    ),
    ("AGE-SECRET-KEY-1", "an age secret key", re.compile(r"AGE-SECRET-KEY-1[0-9A-Z]{20,}")),
)


@functools.lru_cache(maxsize=4096)
def _normalise(key: str) -> str:
    return key.lower().replace("_", "").replace("-", "")


@functools.lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    """Whether a mapping key names a secret value (not a reference to one)."""
    name = _normalise(key)
    if name in _REFERENCE_NAMES or name.startswith("existing"):
        return False
    return name in _SECRET_NAMES or name.endswith(_SECRET_SUFFIXES)


def _is_value(value: str) -> bool:
    stripped = value.strip()
    if not stripped or stripped.lower() in _NOT_A_VALUE:
        return False
    return _REFERENCE_VALUE.match(stripped) is None


def looks_like_key_material(value: str) -> str | None:
    """What secret `value` looks like ("a private key", ...), or None."""
    for needle, what, pattern in _PATTERNS:
        if needle in value and pattern.search(value):
            return what
    return None


def _walk(data: Any, here: PathKey) -> Iterator[tuple[PathKey, str, bool]]:
    """(path, string value, under a secret key) for every string leaf outside references."""
    if isinstance(data, dict):
        for key, value in data.items():
            skey = str(key)
            if _normalise(skey) in _REFERENCE_SUBTREES:
                continue
            child = (*here, key)
            if isinstance(value, str):
                yield child, value, is_secret_key(skey)
            elif isinstance(value, dict | list):
                yield from _walk(value, child)
    elif isinstance(data, list):
        for index, item in enumerate(data):
            child = (*here, index)
            if isinstance(item, str):
                yield child, item, False
            elif isinstance(item, dict | list):
                yield from _walk(item, child)


def lint_plaintext(doc: Document, text: str) -> list[Problem]:
    """Plaintext secrets in the values file `doc` (parsed from `text`), sorted by line."""
    if not isinstance(doc.data, dict | list):
        return []
    scan_patterns = any(needle in text for needle, _, _ in _PATTERNS)
    raw_lines: list[str] | None = None
    problems: list[Problem] = []
    for path, value, secret_key in _walk(doc.data, ()):
        what: str | None = None
        if secret_key and _is_value(value):
            what = "holds a plaintext secret"
        elif scan_patterns:
            found = looks_like_key_material(value)
            if found:
                what = f"holds what looks like {found}"
        if what is None:
            continue
        line = doc.lines.line(path)
        if raw_lines is None:
            raw_lines = text.splitlines()
        if 0 < line <= len(raw_lines) and _MARKER_RE.search(raw_lines[line - 1]):
            continue
        problems.append(Problem(doc.path, line, f"{format_key_path(path)} {what}", HINT))
    problems.sort()
    return problems
