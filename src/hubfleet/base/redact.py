"""Redaction of known secret values from everything hubfleet prints or writes.

Every value sops decrypts is registered here; `scrub` replaces each with a fixed
marker. One `Redactor` lives per command invocation and is passed down; it is
thread-safe because deploys decrypt on many threads.

A value is matched in every form a chart, an encoder or an error message may give
it (`encoded_forms`): as it is, its stripped lines (multi-line keys), JSON, YAML
and Go (`quote`) escaping, Python repr, URL encoding, and base64 (standard and
URL alphabets) standalone and at each of the three alignments it can have inside
a larger base64 blob (z2jh stores the whole values document base64-encoded in a
Secret), plus the base64 of its base64. All forms go into one compiled regex, a
trie of the literals, built again only when the set changed.

Structured data is scrubbed before it is encoded (`scrub_data`), so JSON output
never depends on the encoder's escaping matching a registered form.

The Redactor also carries the command's `MaskKey`, the key of the digests that
masked Secret data shows (`hubfleet.helm.masking`): every output path already
gets the Redactor, so the key needs no global. It is random per command unless
`HUBFLEET_MASK_KEY` sets a stable one (`MaskKey.from_environment`), which is then
registered as a secret like any decrypted value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hubfleet.base.errors import SecretsError

MARKER = "[REDACTED]"
# Values shorter than this are not registered: scrubbing "1" or "true" from every
# line would destroy output without protecting anything.
MIN_LENGTH = 4
# Shortest base64 fragment registered for a value inside a larger blob: shorter
# fragments would match unrelated base64 text (a value of 7+ bytes has all three).
MIN_FRAGMENT = 8

_B64_URL = str.maketrans("+/", "-_")
# Characters Go's encoding/json escapes in strings by default (HTML safety).
_GO_HTML = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_GO_ESCAPES |= {"\v": "\\v", "\\": "\\\\", '"': '\\"'}


def _go_quote(value: str) -> str:
    """The inside of Go's `strconv.Quote` (helm's `quote` function)."""
    out = []
    for char in value:
        if char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        elif not char.isprintable() and ord(char) > 0x7F:
            out.append(f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}")
        else:
            out.append(char)
    return "".join(out)


def _yaml_double_quoted(value: str) -> str:
    """The inside of a YAML double-quoted scalar (PyYAML's and go-yaml's escapes)."""
    out = []
    for char in value:
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02X}")
        else:
            out.append(char)
    return "".join(out)


def text_forms(value: str) -> set[str]:
    """The value as text shows it: plain and escaped (JSON, YAML, Go, repr, URL)."""
    json_ascii = json.dumps(value)[1:-1]
    json_utf8 = json.dumps(value, ensure_ascii=False)[1:-1]
    forms = {
        value,
        json_ascii,
        json_utf8,
        "".join(_GO_HTML.get(c, c) for c in json_utf8),
        _yaml_double_quoted(value),
        value.replace("'", "''"),
        _go_quote(value),
        repr(value)[1:-1],
        ascii(value)[1:-1],
        repr(value.encode())[2:-1],
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote(value),
        urllib.parse.quote_plus(value),
    }
    lower = re.sub(
        r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), urllib.parse.quote(value, safe="")
    )
    forms.add(lower)
    # A quote inside a repr'd container can be escaped either way.
    forms.add(value.replace("\\", "\\\\").replace("'", "\\'"))
    forms.add(value.replace("\\", "\\\\").replace('"', '\\"'))
    return forms


def base64_fragments(raw: bytes) -> set[str]:
    """The base64 of `raw` (std and URL alphabets, with and without padding) and
    the part of it that is the same wherever `raw` sits in a larger blob: for
    each of the 3 alignments (0, 1 or 2 bytes before it), the characters that
    encode only `raw`'s bits."""
    whole = base64.b64encode(raw).decode()
    found = {whole, whole.rstrip("=")}
    for shift, start in ((0, 0), (1, 2), (2, 3)):
        encoded = base64.b64encode(b"\0" * shift + raw).decode()
        end = ((shift + len(raw)) * 8) // 6
        fragment = encoded[start:end]
        if len(fragment) >= MIN_FRAGMENT:
            found.add(fragment)
    found |= {form.translate(_B64_URL) for form in found}
    return {form for form in found if len(form) >= MIN_FRAGMENT or form == whole}


def encoded_forms(value: str) -> set[str]:
    """Every form of one value that `scrub` replaces (see the module docstring)."""
    texts = text_forms(value)
    forms = set(texts)
    for text in texts:
        forms |= base64_fragments(text.encode())
    # A chart's `b64enc` of the value, inside a document that is itself base64-encoded.
    forms |= base64_fragments(base64.b64encode(value.encode()))
    return {form for form in forms if len(form) >= MIN_LENGTH}


def _plain_values(value: str) -> set[str]:
    plain = {value, value.strip(), *(line.strip() for line in value.splitlines())}
    return {v for v in plain if len(v) >= MIN_LENGTH}


def trie_pattern(words: Iterable[str]) -> str:
    """One regex matching any of `words`, longest first at each position.

    A trie of the literals: at each character the regex engine follows one branch,
    so matching costs the depth of the trie, not the number of words.
    """
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = True
    return _node_pattern(root)


def _node_pattern(node: dict[str, Any]) -> str:
    literal = []
    while len(node) == 1 and "" not in node:  # a chain without branches: one literal
        ((char, child),) = node.items()
        literal.append(re.escape(char))
        node = child
    prefix = "".join(literal)
    branches = [
        re.escape(char) + _node_pattern(child) for char, child in sorted(node.items()) if char
    ]
    if not branches:
        return prefix
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if "" in node:  # a word ends here: the longer words are optional
        body = f"(?:{body})?"
    return prefix + body


MASK_KEY_ENV = "HUBFLEET_MASK_KEY"
MIN_MASK_KEY_CHARS = 32
_RANDOM_KEY_BYTES = 32


@dataclass(frozen=True)
class MaskKey:
    """The HMAC-SHA256 key of masked values' digests: without it a digest confirms no
    guess of the value (an unkeyed hash of a weak password can be checked offline).

    `stable` keys come from `HUBFLEET_MASK_KEY` (digests comparable across runs);
    the default is random, so digests compare only within one command.
    """

    secret: bytes = field(repr=False)
    stable: bool = False

    @classmethod
    def random(cls) -> MaskKey:
        return cls(secrets.token_bytes(_RANDOM_KEY_BYTES))

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> MaskKey:
        """`HUBFLEET_MASK_KEY` when set (at least 32 characters), else a random key."""
        environ = os.environ if environ is None else environ
        text = environ.get(MASK_KEY_ENV, "")
        if not text:
            return cls.random()
        if len(text) < MIN_MASK_KEY_CHARS:
            raise SecretsError(
                f"{MASK_KEY_ENV} is shorter than {MIN_MASK_KEY_CHARS} characters",
                hint="set it to a long random value (e.g. the output of `python3 -c "
                "'import secrets; print(secrets.token_urlsafe(32))'`), kept as a secret, "
                "or unset it for a key of this run only",
            )
        return cls(text.encode("utf-8", "surrogateescape"), stable=True)

    def digest(self, value: str) -> str:
        """The hex HMAC-SHA256 of `value` under this key."""
        data = value.encode("utf-8", "surrogateescape")
        return hmac.new(self.secret, data, hashlib.sha256).hexdigest()


class Redactor:
    def __init__(self, mask_key: MaskKey | None = None) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._forms: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._stale = False
        # Made once, never replaced: the digests of one command stay comparable.
        self._mask_key = mask_key if mask_key is not None else MaskKey.random()
        if self._mask_key.stable:  # a key the user chose is a secret like any other
            self.add(self._mask_key.secret.decode("utf-8", "surrogateescape"))

    @property
    def mask_key(self) -> MaskKey:
        """The command's key of masked values' digests (`hubfleet.helm.masking`)."""
        return self._mask_key

    def add(self, value: str) -> None:
        """Register one secret value: each of its lines (multi-line keys) too, in
        every encoded form (`encoded_forms`)."""
        self.add_all((value,))

    def add_all(self, values: Iterable[str]) -> None:
        plain: set[str] = set()
        for value in values:
            plain |= _plain_values(value)
        with self._lock:
            fresh = plain - self._values
        if not fresh:
            return
        forms: set[str] = set()
        for value in fresh:
            forms |= encoded_forms(value)
        with self._lock:
            self._values |= fresh
            if not forms <= self._forms:
                self._forms |= forms
                self._stale = True

    def _compiled(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._stale:
                self._pattern = re.compile(trie_pattern(self._forms)) if self._forms else None
                self._stale = False
            return self._pattern

    def scrub(self, text: str) -> str:
        if not text:
            return text
        pattern = self._compiled()
        if pattern is None:
            return text
        return pattern.sub(MARKER, text)

    def scrub_data(self, data: Any) -> Any:
        """`data` (JSON-like: dicts, lists, strings) with every string and key
        scrubbed: scrub before encoding, so no encoder's escaping can hide a value."""
        if isinstance(data, str):
            return self.scrub(data)
        if isinstance(data, dict):
            return {self.scrub_data(k): self.scrub_data(v) for k, v in data.items()}
        if isinstance(data, list | tuple):
            return [self.scrub_data(item) for item in data]
        return data

    def __len__(self) -> int:
        """How many forms are registered (0: nothing is scrubbed)."""
        return len(self._forms)


# Keys of credential documents (kubeconfigs, service-account JSON) whose values are
# identifiers, not secrets. Registering them would scrub cluster and user names from
# every path and message ("config/clusters/[REDACTED]/cluster.yaml").
STRUCTURAL_KEYS = frozenset(
    {
        "apiVersion",
        "kind",
        "name",
        "namespace",
        "current-context",
        "cluster",
        "user",
        "context",
        "server",
        "type",
        "project_id",
        "client_email",
        "auth_uri",
        "token_uri",
        "auth_provider_x509_cert_url",
        "client_x509_cert_url",
        "universe_domain",
        "region",
    }
)
# Long numbers may be secrets (a numeric password); short ones never are worth scrubbing.
MIN_NUMBER_DIGITS = 6


def leaf_strings(data: object, key: str | None = None) -> Iterable[str]:
    """The values of a decrypted document to register: its strings and long numbers,
    except those under the structural keys of credential documents."""
    if isinstance(data, dict):
        for child_key, value in data.items():
            yield from leaf_strings(value, str(child_key))
    elif isinstance(data, list):
        for item in data:
            yield from leaf_strings(item, key)
    elif key in STRUCTURAL_KEYS:
        return
    elif isinstance(data, str):
        yield data
    elif (
        isinstance(data, int)
        and not isinstance(data, bool)
        and len(str(abs(data))) >= MIN_NUMBER_DIGITS
    ):
        yield str(data)
