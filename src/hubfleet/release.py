"""Releases: what one `helm upgrade` needs, and the values it gets.

A `Release` is a hub or a cluster's support release: its chart, namespace and
values files in order. `values_documents` reads those files into memory,
decrypting sops files through a `Sops` instance (which registers every value
with the redactor) or, without one, replacing encrypted files with stable
placeholders so that charts still render without a key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from hubfleet.config.fleet import Cluster, Fleet, Hub, JobKind
from hubfleet.errors import ConfigError, Problem, SecretsError
from hubfleet.yamlio import load_data

if TYPE_CHECKING:
    from hubfleet.helm.charts import ChartSource
    from hubfleet.secrets.sops import Sops


@dataclass(frozen=True)
class Release:
    cluster: str
    hub: str | None  # None for the support release
    kind: JobKind
    name: str
    namespace: str
    chart: ChartSource
    values_files: tuple[str, ...]  # repository-relative, in order (later wins)

    @property
    def label(self) -> str:
        return f"{self.cluster}/{self.hub or 'support'}"


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
        values_files=hub.values_files,
    )


def support_release(fleet: Fleet, cluster: Cluster) -> Release | None:
    if cluster.support is None:
        return None
    support = cluster.support
    return Release(
        cluster=cluster.name,
        hub=None,
        kind="support",
        name=support.release,
        namespace=support.namespace,
        chart=fleet.chart_source(support.helm_chart),
        values_files=support.values_files,
    )


def values_documents(
    fleet: Fleet,
    release: Release,
    *,
    sops: Sops | None,
    cache: dict[str, ValuesDocument] | None = None,
) -> list[ValuesDocument]:
    """The release's values files, parsed in memory, in order.

    With a `cache`, each file is read and parsed once however many releases share it
    (a cluster's common values file); the cache lives as long as one command runs.
    """
    if cache is None:
        return [read_values_file(fleet, path, sops=sops) for path in release.values_files]
    for path in release.values_files:
        if path not in cache:
            cache[path] = read_values_file(fleet, path, sops=sops)
    return [cache[path] for path in release.values_files]


def values_bytes(fleet: Fleet, path: str, *, sops: Sops) -> bytes:
    """A values file's own bytes, decrypted in memory when it is sops-encrypted.

    What helm gets: the bytes, not data re-serialised by hubfleet, so that helm
    parses them exactly as plain `helm -f` would.
    """
    from hubfleet.secrets.sops import is_encrypted

    full = fleet.abspath(path)
    raw = full.read_bytes()
    text = raw.decode("utf-8", errors="replace")
    if is_encrypted(text, path):
        return sops.decrypt(full)
    require_encrypted(path, text)
    return raw


def read_values_file(fleet: Fleet, path: str, *, sops: Sops | None) -> ValuesDocument:
    from hubfleet.secrets.sops import is_encrypted

    text = fleet.abspath(path).read_text(encoding="utf-8")
    require_encrypted(path, text)
    if is_encrypted(text, path):
        if sops is None:
            from hubfleet.helm.values import placeholder_secrets

            data = _parse(text, path)
            data.pop("sops", None)
            return ValuesDocument(path, placeholder_secrets(data), True, False)
        decrypted = sops.decrypt_data(fleet.abspath(path))
        if not isinstance(decrypted, dict):
            raise ConfigError([Problem(path, 1, "values must be a mapping")])
        return ValuesDocument(path, decrypted, True, True)
    return ValuesDocument(path, _parse(text, path), False, False)


def secret_named(path: str) -> bool:
    """Whether the file's name says it holds secrets (DESIGN.md section 2)."""
    return "secret" in PurePosixPath(path).name


def require_encrypted(path: str, text: str, *, always: bool = False) -> None:
    """The one secret policy, for every command that reads a values file: a file whose
    name contains `secret` (or, `always`, a credentials file whatever its name) must be
    sops-encrypted (its `text` carries sops metadata). A plaintext one is refused
    (exit 2) before anything uses it."""
    from hubfleet.secrets.sops import is_encrypted

    if (always or secret_named(path)) and not is_encrypted(text, path):
        raise SecretsError(
            "file name says it holds secrets, but it is not sops-encrypted",
            path=path,
            line=1,
            hint=f"encrypt it in place: sops encrypt --in-place {path}",
        )


def merged_values(
    fleet: Fleet,
    release: Release,
    *,
    sops: Sops | None,
    cache: dict[str, ValuesDocument] | None = None,
) -> dict[str, Any]:
    """The release's values merged by helm's rule (later files win, null kept)."""
    from hubfleet.helm.values import merge_values

    documents = values_documents(fleet, release, sops=sops, cache=cache)
    return merge_values([doc.data for doc in documents])


def _parse(text: str, path: str) -> dict[str, Any]:
    data = load_data(text, path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([Problem(path, 1, "values must be a mapping of keys")])
    return data
