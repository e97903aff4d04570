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

Not reported: empty strings, null, booleans and numbers; placeholders
(`changeme`, `xxxx`, `********`, `<your key here>`, ...); references rather than
values (subtrees under `valueFrom`, `secretKeyRef`, `secretRef`; keys such as
`existingSecret` or `secretName`; values like `${ENV_VAR}`, `$VAR`, `$(VAR)`,
`{env:VAR}`, `{file:path}`, `{{ template }}`, `<placeholder>` and sops ciphertext
`ENC[...]`); keys that merely mention a secret (`passwordPolicy`, `tokenLifetime`,
`secretName`).

**Code.** The values under an `extraConfig` key (z2jh's `hub.extraConfig`, and the
same key in other charts) are code snippets named by their keys: a snippet named
`00-exfiltrate-token` is not a token. Code is still checked for key material, and
for a string literal of 16 or more characters assigned to a secret-named name
(`c.GitHubOAuthenticator.client_secret = "..."`, `api_key: "..."`).

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

from hubfleet.base.errors import Problem
from hubfleet.base.yamlio import Document, PathKey, format_key_path

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
# Subtrees whose string values are code snippets named by their keys.
_CODE_SUBTREES = frozenset({"extraconfig"})

_REFERENCE_VALUE = re.compile(
    r"""^(?:
        \$\{[^}]*\}            # ${ENV}
      | \$[A-Za-z_][A-Za-z0-9_]*  # $ENV
      | \$\([A-Za-z_][A-Za-z0-9_]*\)  # $(ENV), Kubernetes' env expansion
      | \{(?:env|file):[^{}\s]+\}  # {env:ENV}, {file:path}
      | \{\{.*\}\}             # {{ template }}
      | <[^<>]*>               # <placeholder>
      | ENC\[AES256_GCM,.*\]   # sops ciphertext
    )$""",
    re.VERBOSE | re.DOTALL,
)
_NOT_A_VALUE = frozenset({"true", "false", "yes", "no", "null", "none", "~"})
_PLACEHOLDERS = frozenset(
    {
        "changeme",
        "change-me",
        "change_me",
        "replaceme",
        "replace-me",
        "replace_me",
        "placeholder",
        "todo",
        "tbd",
        "redacted",
    }
)
_REPEATED = re.compile(r"^(.)\1{2,}$")  # xxx, ********, ...
# In code: a secret-named name given a string literal (Python or YAML-ish).
_CODE_ASSIGNMENT = re.compile(
    r"""(?P<name>[A-Za-z_][A-Za-z0-9_.]*)\s*(?:=|:)\s*[rbuf]?(?P<q>['"])(?P<value>[^'"\n]{16,})(?P=q)"""
)

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
    lowered = stripped.lower()
    if not stripped or lowered in _NOT_A_VALUE or lowered in _PLACEHOLDERS:
        return False
    if _REPEATED.match(stripped):
        return False
    return _REFERENCE_VALUE.match(stripped) is None


def secret_in_code(code: str) -> str | None:
    """The secret-named name a string literal in `code` is assigned to, or None."""
    if "=" not in code and ":" not in code:
        return None
    for match in _CODE_ASSIGNMENT.finditer(code):
        name = match.group("name").rsplit(".", 1)[-1]
        if is_secret_key(name) and _is_value(match.group("value")):
            return match.group("name")
    return None


def looks_like_key_material(value: str) -> str | None:
    """What secret `value` looks like ("a private key", ...), or None."""
    for needle, what, pattern in _PATTERNS:
        if needle in value and pattern.search(value):
            return what
    return None


Leaf = tuple[PathKey, str, bool, bool]  # path, value, under a secret key, code


def _walk(data: Any, here: PathKey, code: bool = False) -> Iterator[Leaf]:
    """(path, string value, under a secret key, code) for every string leaf outside
    references; the values of a code subtree are code, their keys only names."""
    if isinstance(data, dict):
        for key, value in data.items():
            skey = str(key)
            name = _normalise(skey)
            if name in _REFERENCE_SUBTREES:
                continue
            child = (*here, key)
            if isinstance(value, str):
                yield child, value, not code and is_secret_key(skey), code
            elif isinstance(value, dict | list):
                yield from _walk(value, child, code or name in _CODE_SUBTREES)
    elif isinstance(data, list):
        for index, item in enumerate(data):
            child = (*here, index)
            if isinstance(item, str):
                yield child, item, False, code
            elif isinstance(item, dict | list):
                yield from _walk(item, child, code)


def lint_plaintext(doc: Document, text: str) -> list[Problem]:
    """Plaintext secrets in the values file `doc` (parsed from `text`), sorted by line."""
    if not isinstance(doc.data, dict | list):
        return []
    scan_patterns = any(needle in text for needle, _, _ in _PATTERNS)
    raw_lines: list[str] | None = None
    problems: list[Problem] = []
    for path, value, secret_key, code in _walk(doc.data, ()):
        what: str | None = None
        if secret_key and _is_value(value):
            what = "holds a plaintext secret"
        elif scan_patterns and (found := looks_like_key_material(value)):
            what = f"holds what looks like {found}"
        elif code and (name := secret_in_code(value)):
            what = f"holds a plaintext secret in code ({name} = ...)"
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
