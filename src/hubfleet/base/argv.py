"""Values from configuration on an external program's command line: checked for their kind.

Every builder of an argv (helm, kubectl, gcloud, aws, az) passes each value that
comes from the fleet's files through one of the functions here, which returns it
unchanged or raises `ArgvError` (exit 2) before anything runs. On top of each
kind's own rule, no value may start with `-` (it would become an option, e.g. a
`health_check.secret` of `--kubeconfig=/root/.kube/config`), be empty, or hold a
control character (a newline, NUL, ...).

The builders also place the values where they cannot become an option however
they look: helm's and kubectl's positional arguments after `--` (cobra stops
reading flags there), and flags as one `--flag=value` word (gcloud, aws, az,
helm, kubectl all read that form), never as two words. `flag()` builds that form.

Base room: imports only `hubfleet.base.errors`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from hubfleet.base import kubenames
from hubfleet.base.errors import HubfleetError

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Kubernetes' own rules (DNS-1123 label and subdomain) are `kubenames`'; a port name
# (IANA_SVC_NAME, at most 15) is a label with a letter.
_REGION = re.compile(r"[a-z]{2,}(-[a-z0-9]+)+|[a-z]+[0-9]*")  # us-central1, eu-west-1, westeurope
_ZONE = re.compile(r"[a-z]{2,}(-[a-z0-9]+)+")  # us-central1-b
# GKE, EKS and AKS cluster names: letters, digits, '-', '_' (EKS, AKS), 1-100 long.
_CLOUD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
# A GCP project id (6-30: lowercase, digits, '-'), also the legacy `domain.com:project`.
_GCP_PROJECT = re.compile(r"([a-z0-9][a-z0-9.-]*[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]")
# An Azure resource group: letters, digits, '_', '-', '.', '(', ')'; not ending with '.'.
_RESOURCE_GROUP = re.compile(r"[\w().-]{0,89}[\w()-]")
_UUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
# An Azure tenant: a UUID or a domain (contoso.onmicrosoft.com).
_TENANT = re.compile(rf"{_UUID.pattern}|[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9-]+)+")
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}")
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}")
_CHART_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_CHART_REPOSITORY = re.compile(r"(https?|oci)://[^\s\"'\\]+")
# A version or a SemVer range helm accepts (`4.2.0`, `^4.2`, `>=1.0 <2.0` has a space: no).
_CHART_VERSION = re.compile(r"[A-Za-z0-9.+_~^<>=*|!-]+")


class ArgvError(HubfleetError):
    """A configuration value that cannot be passed to an external program (exit 2)."""


def _check(value: object, what: str, kind: str, pattern: re.Pattern[str] | None) -> str:
    text = value if isinstance(value, str) else str(value)
    if not text:
        raise _refuse(text, what, kind, "it is empty")
    if _CONTROL.search(text):
        raise _refuse(text, what, kind, "it contains a control character (a newline?)")
    if text.startswith("-"):
        raise _refuse(text, what, kind, "it starts with '-' and would be read as an option")
    if pattern is not None and not pattern.fullmatch(text):
        raise _refuse(text, what, kind, f"it is not a valid {kind}")
    return text


def _refuse(text: str, what: str, kind: str, why: str) -> ArgvError:
    return ArgvError(
        f"{what} {text!r} is refused: {why}",
        hint=f"set {what} to a {kind} in the fleet's configuration",
    )


def dns_label(value: str, what: str) -> str:
    """A Kubernetes DNS-1123 label (namespaces): lowercase, digits, '-', at most 63."""
    text = _check(value, what, "DNS-1123 label", kubenames.DNS_LABEL)
    if len(text) > kubenames.MAX_LABEL:
        raise _refuse(
            text, what, "DNS-1123 label", f"it is longer than {kubenames.MAX_LABEL} characters"
        )
    return text


def release_name(value: str, what: str = "the helm release name") -> str:
    """A helm release name: a DNS-1123 label of at most 53 characters."""
    text = _check(value, what, "helm release name", kubenames.DNS_LABEL)
    if len(text) > kubenames.MAX_RELEASE_NAME:
        limit = kubenames.MAX_RELEASE_NAME
        raise _refuse(text, what, "helm release name", f"it is longer than {limit} characters")
    return text


def k8s_name(value: str, what: str) -> str:
    """A Kubernetes object name (Secret, Service): a DNS-1123 subdomain, at most 253."""
    text = _check(value, what, "Kubernetes object name", kubenames.DNS_SUBDOMAIN)
    if len(text) > kubenames.MAX_SUBDOMAIN:
        limit = kubenames.MAX_SUBDOMAIN
        raise _refuse(text, what, "Kubernetes object name", f"it is longer than {limit} characters")
    return text


def port(value: int | str, what: str) -> str:
    """A Service port: a number 1-65535 or a port name (IANA_SVC_NAME)."""
    if isinstance(value, bool):
        raise _refuse(str(value), what, "port", "it is not a port")
    if isinstance(value, int):
        if not 1 <= value <= 65535:
            raise _refuse(str(value), what, "port", "it is not between 1 and 65535")
        return str(value)
    text = _check(value, what, "port", None)
    if text.isdigit():
        return port(int(text), what)
    if not kubenames.is_label(text, 15) or not re.search("[a-z]", text):
        raise _refuse(text, what, "port", "it is neither a port number nor a port name")
    return text


def region(value: str, what: str) -> str:
    """A cloud region (us-central1, eu-west-1, westeurope)."""
    return _check(value, what, "region", _REGION)


def zone(value: str, what: str) -> str:
    """A cloud zone (us-central1-b)."""
    return _check(value, what, "zone", _ZONE)


def cloud_name(value: str, what: str) -> str:
    """A managed cluster's name in its cloud (GKE, EKS, AKS)."""
    return _check(value, what, "cluster name", _CLOUD_NAME)


def gcp_project(value: str, what: str) -> str:
    return _check(value, what, "GCP project id", _GCP_PROJECT)


def resource_group(value: str, what: str) -> str:
    return _check(value, what, "resource group name", _RESOURCE_GROUP)


def subscription(value: str, what: str) -> str:
    """An Azure subscription: its id, or its name (which may hold spaces)."""
    return _check(value, what, "subscription id or name", None)


def azure_id(value: str, what: str) -> str:
    """An application (client) id: a UUID."""
    return _check(value, what, "UUID", _UUID)


def tenant(value: str, what: str) -> str:
    return _check(value, what, "tenant id or domain", _TENANT)


def role_arn(value: str, what: str) -> str:
    return _check(value, what, "IAM role ARN", _ROLE_ARN)


def session_name(value: str, what: str) -> str:
    return _check(value, what, "role session name", _SESSION_NAME)


def chart_name(value: str, what: str) -> str:
    return _check(value, what, "chart name", _CHART_NAME)


def chart_repository(value: str, what: str) -> str:
    return _check(value, what, "chart repository URL (https:// or oci://)", _CHART_REPOSITORY)


def chart_version(value: str, what: str) -> str:
    return _check(value, what, "chart version", _CHART_VERSION)


def path(value: str, what: str) -> str:
    """A file or folder path hubfleet made or resolved (absolute): no option, no newline."""
    text = _check(value, what, "path", None)
    if not text.startswith("/"):
        raise _refuse(text, what, "path", "it is not an absolute path")
    return text


@contextmanager
def located(path: str, line: int | None, label: str) -> Iterator[None]:
    """An `ArgvError` of the block, named `label` and placed at `path:line` (the
    configuration file the value comes from)."""
    try:
        yield
    except ArgvError as exc:
        raise ArgvError(
            f"{label}: {exc.message}", path=path, line=line or None, hint=exc.hint
        ) from None


def flag(name: str, value: str) -> str:
    """`--name=value`: one word, so that the value can never be read as an option."""
    if not name.startswith("--") or "=" in name:
        raise ValueError(f"not a long option name: {name!r}")
    return f"{name}={value}"
