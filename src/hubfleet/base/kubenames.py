"""Kubernetes' and helm's name rules, the one definition every room uses.

Kubernetes (apimachinery validation): a DNS-1123 label is lowercase letters,
digits and '-', starting and ending with a letter or digit, at most 63
characters (namespaces, and the clusters' folder names here); a DNS-1123
subdomain is dot-separated labels, at most 253 characters (object names,
domains). helm limits a release name to 53 characters, so a hub's name (its
release and its namespace) is a label of at most 53.

The patterns are matched whole (`fullmatch`, or `\\Z`-anchored for `match`).
"""

from __future__ import annotations

import re

MAX_LABEL = 63
MAX_SUBDOMAIN = 253
MAX_RELEASE_NAME = 53

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
# A domain name: a subdomain whose every label is at most 63 characters.
DOMAIN = re.compile(
    rf"(?=.{{1,{MAX_SUBDOMAIN}}}\Z)[a-z0-9]([-a-z0-9]{{0,61}}[a-z0-9])?"
    r"(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*\Z"
)


def is_label(value: str, max_length: int = MAX_LABEL) -> bool:
    """Whether `value` is a DNS-1123 label of at most `max_length` characters."""
    return len(value) <= max_length and DNS_LABEL.match(value) is not None


def is_release_name(value: str) -> bool:
    """Whether `value` can be a helm release name (and so a hub's name)."""
    return is_label(value, MAX_RELEASE_NAME)


def is_subdomain(value: str) -> bool:
    """Whether `value` is a DNS-1123 subdomain (a Kubernetes object name)."""
    return len(value) <= MAX_SUBDOMAIN and DNS_SUBDOMAIN.match(value) is not None


def is_domain(value: str) -> bool:
    """Whether `value` is a domain name (labels of at most 63, 253 in all)."""
    return DOMAIN.match(value) is not None
