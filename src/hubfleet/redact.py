"""Redaction of known secret values from everything hubfleet prints or writes.

Every value sops decrypts is registered here; `scrub` replaces each with a fixed
marker. One `Redactor` lives per command invocation and is passed down; it is
thread-safe because deploys decrypt on many threads.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Iterable

MARKER = "[REDACTED]"
# Values shorter than this are not registered: scrubbing "1" or "true" from every
# line would destroy output without protecting anything.
MIN_LENGTH = 4


class Redactor:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str) -> None:
        """Register one secret value, each of its lines (multi-line keys), and their
        base64 forms (charts put secrets into Kubernetes Secrets with `b64enc`)."""
        plain = {value, value.strip(), *(line.strip() for line in value.splitlines())}
        plain = {v for v in plain if len(v) >= MIN_LENGTH}
        encoded = {base64.b64encode(v.encode()).decode() for v in plain}
        candidates = plain | encoded
        fresh = {c for c in candidates if len(c) >= MIN_LENGTH} - self._values
        if not fresh:
            return
        with self._lock:
            self._values |= fresh
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def add_all(self, values: Iterable[str]) -> None:
        for value in values:
            self.add(value)

    def scrub(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(MARKER, text)

    def __len__(self) -> int:
        return len(self._values)


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
