"""Redaction of known secret values from everything hubfleet prints or writes.

Every value sops decrypts is registered here; `scrub` replaces each with a fixed
marker. One `Redactor` lives per command invocation and is passed down; it is
thread-safe because deploys decrypt on many threads.

A value is matched in every form a chart, an encoder or an error message may give
it (`encoded_forms`): as it is, its stripped lines (multi-line keys), JSON, YAML
and Go (`quote`) escaping, Python repr, URL encoding, and base64 (standard and
URL alphabets) standalone and at each of the three alignments it can have inside
a larger base64 blob (z2jh stores the whole values document base64-encoded in a
Secret), plus the base64 of its base64; and what a chart's functions make of it
(`transformed_forms`): upper and lower case, the hex of its bytes (`printf "%x"`),
and their base64. Forms of 8 characters or more match in any case (`title`,
`printf "%X"`); shorter ones exactly.

Registering costs no rebuild of what is registered: each batch of values (one
decrypted file) is indexed once into a small chunk, and chunks are merged
geometrically (see "matching" below). A scrub never waits for a lock: it reads an
immutable state, and finds every occurrence of every form, overlapping ones too.

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
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
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
# Forms this long or longer are matched without regard to case (a chart's `upper`,
# `lower`, `title`, and `printf "%X"`); shorter ones exactly, as ordinary words
# would be.
MIN_CASELESS = 8

# Encoding of a value's text to bytes: a lone surrogate (from JSON's "\\ud800", which
# decrypted JSON may hold) is encoded as it is instead of failing the registration.
_SURROGATES = "surrogatepass"

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


# Characters that no escaping below changes (URL encoding keeps only these).
_UNESCAPED = re.compile(r"[A-Za-z0-9._~-]*")


def text_forms(value: str) -> set[str]:
    """The value as text shows it: plain and escaped (JSON, YAML, Go, repr, URL)."""
    if _UNESCAPED.fullmatch(value):  # most tokens: every escaping leaves them as they are
        return {value}
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
        repr(value.encode("utf-8", _SURROGATES))[2:-1],
        urllib.parse.quote(value, safe="", errors=_SURROGATES),
        urllib.parse.quote(value, errors=_SURROGATES),
        urllib.parse.quote_plus(value, errors=_SURROGATES),
    }
    lower = re.sub(
        r"%[0-9A-F]{2}",
        lambda m: m.group(0).lower(),
        urllib.parse.quote(value, safe="", errors=_SURROGATES),
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
    whole = _b64(raw)
    found = {whole, whole.rstrip("=")}
    for shift, start in ((0, 0), (1, 2), (2, 3)):
        end = ((shift + len(raw)) * 8) // 6
        if end - start < MIN_FRAGMENT:
            continue
        encoded = whole if not shift else _b64(b"\0" * shift + raw)
        found.add(encoded[start:end])
    found |= {form.replace("+", "-").replace("/", "_") for form in found}
    return {form for form in found if len(form) >= MIN_FRAGMENT or form == whole}


def _b64(raw: bytes) -> str:
    return binascii.b2a_base64(raw, newline=False).decode("ascii")


def transformed_forms(value: str) -> set[str]:
    """What a chart's functions make of a value that `scrub` must still find: sprig's
    `upper` and `lower` (Go's `strings.ToUpper`/`ToLower`), and `printf "%x"` (the hex
    of its UTF-8 bytes; `%X` is the same text in upper case, which caseless matching
    finds). A short, purely alphabetic value gets no case variants: its upper case is
    an ordinary word ("ADMIN") that scrubbing would destroy without protecting much."""
    forms = {value.encode("utf-8", _SURROGATES).hex()}
    if len(value) >= MIN_CASELESS or not value.isalpha():
        forms |= {value.upper(), value.lower()}
    return forms


def encoded_forms(value: str) -> set[str]:
    """Every form of one value that `scrub` replaces (see the module docstring)."""
    texts = text_forms(value)
    forms = set(texts)
    for text in texts:
        forms |= base64_fragments(text.encode("utf-8", _SURROGATES))
    # A chart's `b64enc` of the value, inside a document that is itself base64-encoded.
    forms |= base64_fragments(base64.b64encode(value.encode("utf-8", _SURROGATES)))
    for variant in transformed_forms(value):  # `upper`, `lower`, `printf "%x"`, then `b64enc`
        forms.add(variant)
        forms |= base64_fragments(variant.encode("utf-8", _SURROGATES))
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


# --- matching ----------------------------------------------------------------------
#
# Forms of MIN_CASELESS characters or more are matched without regard to case, through
# an index of their 6-character pieces ("grams"): text is sampled every `_STEP`
# characters, and each form is indexed under the gram at each of its first `_STEP`
# offsets, so every occurrence of a form contains exactly one sampled gram that leads
# to it. Building costs a few dictionary inserts per form (no regex to compile), and a
# scrub costs a slice per `_STEP` characters plus set intersections in C. Shorter forms
# (of values of 4 to 7 characters) are few and matched exactly, by a regex trie.

_GRAM = 6
_STEP = MIN_CASELESS - _GRAM + 1


def fold(text: str) -> str:
    """`text` in lower case, character by character (so of the same length: positions
    in the folded text are positions in `text`)."""
    if text.isascii():
        return text.lower()
    return "".join(low if len(low := char.lower()) == 1 else char for char in text)


_Entries = tuple[tuple[str, int], ...]  # the forms under a gram, each with its offset


class _Chunk:
    """An immutable index of a set of forms: the folded long ones by gram, the short
    ones in one regex."""

    def __init__(
        self,
        caseless: Iterable[str],
        exact: frozenset[str],
        grams: Mapping[str, _Entries] | None = None,
        size: int = 0,
    ) -> None:
        self.exact = exact
        self.size = size + len(exact)
        if grams is None:
            index: dict[str, list[tuple[str, int]]] = {}
            for form in caseless:
                self.size += 1
                for offset in range(_STEP):
                    index.setdefault(form[offset : offset + _GRAM], []).append((form, offset))
            # Tuples, not lists: tuples of strings and numbers are left out of the garbage
            # collector's walks, which would otherwise visit every entry of every chunk.
            grams = {gram: tuple(entries) for gram, entries in index.items()}
        self.grams: Mapping[str, _Entries] = grams
        self.pattern = re.compile(f"(?=({trie_pattern(exact)}))") if exact else None

    @classmethod
    def merged(cls, chunks: Sequence[_Chunk]) -> _Chunk:
        """One chunk of all of `chunks`' forms: the largest one's index copied and the
        others' added to it, in C but for the grams two chunks share (their lists are
        joined into new ones: a list another chunk holds is never changed)."""
        largest = max(chunks, key=lambda chunk: chunk.size)
        index = dict(largest.grams)
        for chunk in chunks:
            if chunk is largest:
                continue
            shared = [(gram, index[gram]) for gram in index.keys() & chunk.grams.keys()]
            index.update(chunk.grams)
            for gram, held in shared:
                index[gram] = held + chunk.grams[gram]
        exact = frozenset().union(*(chunk.exact for chunk in chunks))
        return cls((), exact, index, size=sum(chunk.size for chunk in chunks) - len(exact))

    def spans(self, text: str, folded: str, grams: list[str], present: set[str]) -> list[Span]:
        """Where this chunk's forms occur in `text` (`folded`: `fold(text)`; `grams`:
        its grams at every `_STEP`-th position; `present`: the set of them)."""
        found: list[Span] = []
        common = self.grams.keys() & present
        if common:
            index = self.grams
            for sample, gram in enumerate(grams):
                if gram in common:
                    at = sample * _STEP
                    for form, offset in index[gram]:
                        start = at - offset
                        if start >= 0 and folded.startswith(form, start):
                            found.append((start, start + len(form)))
        if self.pattern is not None:
            found += [match.span(1) for match in self.pattern.finditer(text)]
        return found


Span = tuple[int, int]


@dataclass(frozen=True)
class _State:
    """What a scrub reads: never changed, replaced whole (copy-on-write)."""

    chunks: tuple[_Chunk, ...] = ()
    # Forms registered but not indexed yet, one (caseless, exact) pair per batch.
    pending: tuple[tuple[frozenset[str], frozenset[str]], ...] = ()


def _merged(chunks: tuple[_Chunk, ...]) -> tuple[_Chunk, ...] | None:
    """The chunks with the trailing ones merged while each is at most twice the size of
    all those after it (so sizes fall geometrically: a logarithmic number of chunks,
    each form rebuilt a logarithmic number of times); None when nothing merges."""
    first = len(chunks) - 1
    total = chunks[first].size
    while first > 0 and chunks[first - 1].size <= 2 * total:
        first -= 1
        total += chunks[first].size
    if first == len(chunks) - 1:
        return None
    return (*chunks[:first], _Chunk.merged(chunks[first:]))


class Redactor:
    """Registered secrets, scrubbed from text in every form.

    Thread-safe without making a reader wait: `add_all` (a batch, e.g. one decrypted
    file) computes its forms outside any lock and appends them, unindexed, to the
    current state; the first scrub after it indexes them into one new chunk and
    publishes the state with that chunk (a pointer swap, skipped when a writer holds
    the lock: the next scrub publishes). Chunks are merged geometrically, by one
    thread at a time. A scrub never waits for a lock, and reads one state: every
    secret whose `add_all` returned before the scrub started is in it.
    """

    def __init__(self, mask_key: MaskKey | None = None) -> None:
        self._lock = threading.Lock()  # swaps of `_state` and the sets below; never held long
        self._merging = threading.Lock()  # one merger at a time; nobody waits for it
        self._values: set[str] = set()
        self._forms: set[str] = set()  # folded long forms and exact short forms
        self._state = _State()
        self.builds: list[int] = []  # the size of every chunk built (tests, benchmarks)
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
        """Register a batch of values (one decrypted file): indexed together, once."""
        plain: set[str] = set()
        for value in values:
            plain |= _plain_values(value)
        with self._lock:
            fresh = plain - self._values
        if not fresh:
            return
        caseless: set[str] = set()
        exact: set[str] = set()
        for value in fresh:
            for form in encoded_forms(value):
                if len(form) >= MIN_CASELESS:
                    caseless.add(fold(form))
                else:
                    exact.add(form)
        with self._lock:
            self._values |= fresh
            caseless -= self._forms
            exact -= self._forms
            if caseless or exact:
                self._forms |= caseless | exact
                state = self._state
                batch = (frozenset(caseless), frozenset(exact))
                self._state = _State(state.chunks, (*state.pending, batch))

    def _current(self) -> _State:
        """The state with every registered form indexed (building what is pending)."""
        state = self._state
        if not state.pending:
            return state
        chunk = _Chunk(
            frozenset().union(*(caseless for caseless, _ in state.pending)),
            frozenset().union(*(exact for _, exact in state.pending)),
        )
        self.builds.append(chunk.size)
        built = _State((*state.chunks, chunk))
        if self._lock.acquire(blocking=False):  # publish it, unless a writer is busy
            try:
                now = self._state
                done = len(state.pending)
                if now.chunks is state.chunks and now.pending[:done] == state.pending:
                    self._state = _State(built.chunks, now.pending[done:])
            finally:
                self._lock.release()
            self._merge()
        return built

    def _merge(self) -> None:
        if not self._merging.acquire(blocking=False):
            return  # another thread merges; chunks are correct unmerged
        try:
            chunks = self._state.chunks
            merged = _merged(chunks) if len(chunks) > 1 else None
            if merged is None:
                return
            self.builds.append(merged[-1].size)
            if self._lock.acquire(blocking=False):
                try:
                    now = self._state
                    if now.chunks[: len(chunks)] == chunks:
                        self._state = _State((*merged, *now.chunks[len(chunks) :]), now.pending)
                finally:
                    self._lock.release()
        finally:
            self._merging.release()

    def _spans(self, text: str) -> list[Span]:
        state = self._current()
        if not state.chunks:
            return []
        folded = fold(text)
        grams = [folded[at : at + _GRAM] for at in range(0, len(text) - _GRAM + 1, _STEP)]
        present = set(grams)
        spans: list[Span] = []
        for chunk in state.chunks:
            spans += chunk.spans(text, folded, grams, present)
        return spans

    def scrub(self, text: str) -> str:
        """`text` with every occurrence of every registered form (overlapping ones
        too) replaced by MARKER."""
        if not text or (not self._state.chunks and not self._state.pending):
            return text
        spans = self._spans(text)
        return _replaced(text, spans, 0, len(text)) if spans else text

    def scrub_all(self, texts: Iterable[str]) -> list[str]:
        """Each of `texts` scrubbed, in one pass over all of them (an argv): joined by
        NUL, which no argument can hold; a form across a separator is scrubbed on
        both sides."""
        items = list(texts)
        if not self._state.chunks and not self._state.pending:
            return items
        joined = "\0".join(items)
        spans = self._spans(joined)
        if not spans:
            return items
        out, start = [], 0
        for item in items:
            out.append(_replaced(joined, spans, start, start + len(item)))
            start += len(item) + 1
        return out

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


def _replaced(text: str, spans: list[Span], low: int, high: int) -> str:
    """`text[low:high]` with the union of `spans` (clipped to it) replaced by MARKER,
    overlapping spans as one."""
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        start, end = max(start, low), min(end, high)
        if start >= end:
            continue
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    if not merged:
        return text[low:high]
    parts, at = [], low
    for start, end in merged:
        parts += [text[at:start], MARKER]
        at = end
    parts.append(text[at:high])
    return "".join(parts)


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
