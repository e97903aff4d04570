"""Releases: what one `helm upgrade` needs, and the values files it gets.

A `Release` is a hub or a cluster's support release: its chart, namespace and
values files in order. `read_values` reads one values file once, through the
confined reader, into a `ValuesFile`: its bytes and whether it is sops-encrypted,
and lazily (each made once) its text, its parsed document and its decrypted bytes.
Helm's bytes (`helm_bytes`) and the parsed values (`document`) both derive from
that one read. Encrypted files are decrypted in memory through a `Sops` instance
(which registers every value with the redactor) or, without one, their strings
replaced with stable placeholders so that charts still render without a key.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, NoReturn, TypeVar

from hubfleet.base import kubenames
from hubfleet.base.errors import ConfigError, Problem, SecretsError
from hubfleet.base.yamlio import decode_text, load_data, read_fleet_file
from hubfleet.config.charts import ChartSource
from hubfleet.config.fleet import Cluster, Fleet, Hub, JobKind, release_label
from hubfleet.helm.jsonnet import JsonnetFacts, is_jsonnet, render_jsonnet, render_jsonnet_data
from hubfleet.helm.values import placeholder_secrets
from hubfleet.secrets.sops import Sops, is_encrypted

_T = TypeVar("_T")


@dataclass(frozen=True)
class Release:
    cluster: str
    hub: str | None  # None for the support release
    kind: JobKind
    name: str
    namespace: str
    chart: ChartSource
    values_files: tuple[str, ...]  # repository-relative, in order (later wins)
    # A hub's domain_override_file: its `domain` replaces cluster.yaml's.
    domain_file: str | None = None

    @property
    def label(self) -> str:
        return release_label(self.cluster, self.hub)


@dataclass(frozen=True)
class ValuesDocument:
    path: str
    data: dict[str, Any]
    encrypted: bool
    decrypted: bool  # False: an encrypted file read as placeholders


def hub_release(fleet: Fleet, hub: Hub) -> Release:
    return Release(
        cluster=hub.cluster,
        hub=hub.name,
        kind=hub.kind,
        name=hub.release,
        namespace=hub.namespace,
        chart=fleet.hub_chart_source(hub),
        values_files=(*chart_jsonnet(fleet, hub.chart_override, hub.helm_chart), *hub.values_files),
        domain_file=hub.domain_override_file,
    )


def support_release(fleet: Fleet, cluster: Cluster) -> Release | None:
    if cluster.support is None:
        return None
    support = cluster.support
    # As the layout's deployer orders them: the chart's own (encrypted) values files,
    # the chart's values.jsonnet, then the cluster's files.
    return Release(
        cluster=cluster.name,
        hub=None,
        kind="support",
        name=support.release,
        namespace=support.namespace,
        chart=fleet.chart_source(support.helm_chart),
        values_files=(
            *support.chart_values_files,
            *chart_jsonnet(fleet, None, support.helm_chart),
            *support.cluster_values_files,
        ),
    )


def chart_jsonnet(fleet: Fleet, chart_override: str | None, chart: str) -> tuple[str, ...]:
    """The chart's `values.jsonnet` (a release's first values file), if it has one:
    in a `chart_override` folder, else in the local chart's folder."""
    folder = fleet.local_chart_dir(chart)
    if chart_override and fleet.abspath(chart_override).is_dir():
        folder = chart_override
    path = f"{folder}/values.jsonnet"
    return (path,) if fleet.abspath(path).is_file() else ()


def jsonnet_facts(fleet: Fleet, release: Release, domain: str | None = None) -> JsonnetFacts:
    """What the release's jsonnet files get as external variables (the other
    deployer's rules: an EKS cluster's name is its `clusterName`; the account is the
    AWS account or the GCP project). `domain`: the hub's domain from its
    domain_override_file (`override_domain`), else cluster.yaml's."""
    cluster = fleet.cluster(release.cluster)
    spec = cluster.spec
    name, account = cluster.name, None
    if cluster.provider == "aws" and spec.aws is not None:
        name = spec.aws.clusterName
        account = None if spec.aws.account is None else str(spec.aws.account)
    elif cluster.provider == "gcp" and spec.gcp is not None:
        account = spec.gcp.project
    hub = cluster.hub(release.hub) if release.hub is not None else None
    return JsonnetFacts(
        cluster_name=name,
        provider=cluster.provider,
        account_id=account,
        hub_name=hub.name if hub else None,
        hub_domain=(domain or hub.domain) if hub else None,
    )


def _jsonnet_vars(
    fleet: Fleet, path: str, release: Release | None, domain: str | None = None
) -> dict[str, str]:
    if release is None:
        raise ConfigError(
            [Problem(path, 1, "a .jsonnet values file is evaluated for a release, none given")]
        )
    facts = jsonnet_facts(fleet, release, domain)
    return facts.ext_vars(fleet.settings.jsonnet.ext_var_prefix)


def release_jsonnet(
    fleet: Fleet, release: Release | None, path: str, *, domain: str | None = None
) -> bytes:
    """The JSON a `.jsonnet` values file of `release` evaluates to (`domain`: the hub's
    overridden domain, see `override_domain`)."""
    return render_jsonnet(fleet.root, path, _jsonnet_vars(fleet, path, release, domain))


def override_domain(document: ValuesDocument) -> str:
    """The domain a hub's domain_override_file gives (its `domain` key), as that layout's
    deployer reads it. Decrypted, it is a secret (the `Sops` registered it with the
    redactor); an encrypted file read without a key gives its placeholder."""
    value = document.data.get("domain")
    if not isinstance(value, str) or not value:
        raise ConfigError(
            [
                Problem(
                    document.path,
                    1,
                    "a domain_override_file holds the hub's domain under `domain:`",
                    "e.g. `domain: hub.example.org` (sops-encrypted if the name is secret)",
                )
            ]
        )
    if (document.decrypted or not document.encrypted) and not kubenames.is_domain(value):
        shown = "its `domain`" if document.encrypted else f"{value!r}"
        raise ConfigError(
            [
                Problem(
                    document.path,
                    1,
                    f"{shown} is not a domain name",
                    "a DNS name: dot-separated labels of lowercase letters, digits and '-'",
                )
            ]
        )
    return value


def read_values(fleet: Fleet, path: str) -> ValuesFile:
    """The (not jsonnet) values file `path`, read once through the confined reader."""
    raw = read_fleet_file(fleet.root, path)
    text = raw.decode("utf-8", errors="replace")  # ValuesFile.text says why it is not UTF-8
    return ValuesFile(path, fleet.abspath(path), raw, is_encrypted(text, path))


@dataclass(frozen=True)
class ValuesFile:
    """One values file as a command read it, once: its bytes and whether it is
    sops-encrypted; lazily, each made once, its text, its parsed document and its
    decrypted bytes (through the command's `Sops`, from these bytes). Thread-safe:
    one lock per file."""

    path: str  # repository-relative
    full: Path
    raw: bytes
    encrypted: bool
    _made: dict[str, Any] = field(default_factory=dict, init=False, compare=False, repr=False)
    _lock: threading.RLock = field(
        default_factory=threading.RLock, init=False, compare=False, repr=False
    )

    def _once(self, name: str, make: Callable[[], _T]) -> _T:
        with self._lock:
            if name not in self._made:
                self._made[name] = make()
            made: _T = self._made[name]
            return made

    def check_policy(self) -> None:
        """The secret policy (`require_encrypted`) on this file: a secret-named one
        must be sops-encrypted."""
        if secret_named(self.path) and not self.encrypted:
            _refuse_plaintext(self.path)

    def text(self) -> str:
        """The file's text, strict UTF-8 (a ConfigError at the first bad byte)."""
        return self._once("text", lambda: decode_text(self.raw, self.path))

    def document(self, sops: Sops | None) -> ValuesDocument:
        """The parsed values: decrypted in memory through `sops`, or (None, or no key
        of the file's on this machine: `Sops.may_decrypt`) an encrypted file's strings
        as placeholders."""
        self.text()
        self.check_policy()
        if not self.encrypted:
            return self._once(
                "plain", lambda: ValuesDocument(self.path, self._data(), False, False)
            )
        if sops is None or not sops.may_decrypt(self.text(), self.path):
            return self._once("placeholders", self._placeholders)
        return self._once("decrypted", lambda: self._decrypted(sops))

    def helm_bytes(self, sops: Sops) -> bytes:
        """What `helm -f` gets: the file's own bytes (decrypted in memory when it is
        encrypted), not data re-serialised by hubfleet, so that helm parses them
        exactly as plain `helm -f` would, once they pass the bounded parser."""
        self.text()
        if self.encrypted:
            self._check_encrypted_keys()
            return sops.decrypt(self.full, self.raw)  # Sops keeps it: decrypted once
        self.check_policy()
        if self.path.endswith((".yaml", ".yml", ".json")):
            self._data()
        return self.raw

    def _data(self) -> dict[str, Any]:
        return self._once("data", lambda: _parse(self.text(), self.path))

    def _placeholders(self) -> ValuesDocument:
        data = dict(self._data())
        data.pop("sops", None)
        return ValuesDocument(self.path, placeholder_secrets(data), True, False)

    def _decrypted(self, sops: Sops) -> ValuesDocument:
        self._check_encrypted_keys()
        decrypted = sops.decrypt_data(self.full, self.raw)
        if not isinstance(decrypted, dict):
            raise ConfigError([Problem(self.path, 1, "values must be a mapping")])
        return ValuesDocument(self.path, decrypted, True, True)

    def _check_encrypted_keys(self) -> None:
        """sops keeps a file's keys in clear: one given twice is refused before
        decrypting (its decrypted YAML would keep the last one silently), as in a
        plain file."""
        if self.path.endswith((".yaml", ".yml", ".json")):
            self._once("keys", lambda: load_data(self.text(), self.path))


def read_values_file(
    fleet: Fleet, path: str, *, sops: Sops | None, release: Release | None = None
) -> ValuesDocument:
    """One values file parsed on its own, outside a command's `ReleaseValues` (a
    `.jsonnet` file evaluated for `release`)."""
    if is_jsonnet(path):
        data = render_jsonnet_data(fleet.root, path, _jsonnet_vars(fleet, path, release))
        return ValuesDocument(path, data, False, False)
    return read_values(fleet, path).document(sops)


def secret_named(path: str) -> bool:
    """Whether the file's name says it holds secrets (DESIGN.md section 2)."""
    return "secret" in PurePosixPath(path).name


def require_encrypted(path: str, text: str, *, always: bool = False) -> None:
    """The one secret policy, for every command that reads a values file: a file whose
    name contains `secret` (or, `always`, a credentials file whatever its name) must be
    sops-encrypted (its `text` carries sops metadata). A plaintext one is refused
    (exit 2) before anything uses it."""
    if (always or secret_named(path)) and not is_encrypted(text, path):
        _refuse_plaintext(path)


def _refuse_plaintext(path: str) -> NoReturn:
    raise SecretsError(
        "file name says it holds secrets, but it is not sops-encrypted",
        path=path,
        line=1,
        hint=f"encrypt it in place: sops encrypt --in-place {path}",
    )


def _parse(text: str, path: str) -> dict[str, Any]:
    data = load_data(text, path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([Problem(path, 1, "values must be a mapping of keys")])
    return data
