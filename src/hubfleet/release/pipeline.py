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
from typing import Any

from hubfleet.base.errors import ConfigError, Problem, SecretsError
from hubfleet.base.yamlio import decode_text, load_data, read_fleet_file
from hubfleet.config.charts import ChartSource
from hubfleet.config.fleet import Cluster, Fleet, Hub, JobKind, release_label
from hubfleet.helm.jsonnet import JsonnetFacts, is_jsonnet, render_jsonnet, render_jsonnet_data
from hubfleet.helm.values import merge_values, placeholder_secrets
from hubfleet.secrets.sops import Sops, is_encrypted


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
        values_files=(*chart_jsonnet(fleet, None, support.helm_chart), *support.values_files),
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
        return [
            read_values_file(fleet, path, sops=sops, release=release)
            for path in release.values_files
        ]
    found: list[ValuesDocument] = []
    for path in release.values_files:
        if is_jsonnet(path):  # evaluated for this release: not shared through the cache
            found.append(read_values_file(fleet, path, sops=sops, release=release))
            continue
        if path not in cache:
            cache[path] = read_values_file(fleet, path, sops=sops)
        found.append(cache[path])
    return found


def chart_jsonnet(fleet: Fleet, chart_override: str | None, chart: str) -> tuple[str, ...]:
    """The chart's `values.jsonnet` (a release's first values file), if it has one:
    in a `chart_override` folder, else in the local chart's folder."""
    folder = fleet.local_chart_dir(chart)
    if chart_override and fleet.abspath(chart_override).is_dir():
        folder = chart_override
    path = f"{folder}/values.jsonnet"
    return (path,) if fleet.abspath(path).is_file() else ()


def jsonnet_facts(fleet: Fleet, release: Release) -> JsonnetFacts:
    """What the release's jsonnet files get as external variables (the other
    deployer's rules: an EKS cluster's name is its `clusterName`; the account is the
    AWS account or the GCP project)."""
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
        hub_domain=hub.domain if hub else None,
    )


def _jsonnet_vars(fleet: Fleet, path: str, release: Release | None) -> dict[str, str]:
    if release is None:
        raise ConfigError(
            [Problem(path, 1, "a .jsonnet values file is evaluated for a release, none given")]
        )
    return jsonnet_facts(fleet, release).ext_vars(fleet.settings.jsonnet.ext_var_prefix)


def release_jsonnet(fleet: Fleet, release: Release | None, path: str) -> bytes:
    """The JSON a `.jsonnet` values file of `release` evaluates to."""
    return render_jsonnet(fleet.root, path, _jsonnet_vars(fleet, path, release))


def values_bytes(fleet: Fleet, path: str, *, sops: Sops, release: Release | None = None) -> bytes:
    """A values file's own bytes, decrypted in memory when it is sops-encrypted;
    a `.jsonnet` file's result (JSON) for `release`.

    What helm gets: the bytes, not data re-serialised by hubfleet, so that helm
    parses them exactly as plain `helm -f` would.
    """
    if is_jsonnet(path):
        return release_jsonnet(fleet, release, path)
    full = fleet.abspath(path)
    raw = read_fleet_file(fleet.root, path)
    text = decode_text(raw, path)
    if is_encrypted(text, path):
        _check_encrypted_keys(text, path)
        return sops.decrypt(full)
    require_encrypted(path, text)
    if path.endswith((".yaml", ".yml", ".json")):
        _parse(text, path)  # helm gets the bytes, once they pass the bounded parser
    return raw


def read_values_file(
    fleet: Fleet, path: str, *, sops: Sops | None, release: Release | None = None
) -> ValuesDocument:
    if is_jsonnet(path):
        data = render_jsonnet_data(fleet.root, path, _jsonnet_vars(fleet, path, release))
        return ValuesDocument(path, data, False, False)

    text = decode_text(read_fleet_file(fleet.root, path), path)
    require_encrypted(path, text)
    if is_encrypted(text, path):
        if sops is None:
            data = _parse(text, path)
            data.pop("sops", None)
            return ValuesDocument(path, placeholder_secrets(data), True, False)
        _check_encrypted_keys(text, path)
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
    documents = values_documents(fleet, release, sops=sops, cache=cache)
    return merge_values([doc.data for doc in documents])


def _check_encrypted_keys(text: str, path: str) -> None:
    """sops keeps a file's keys in clear: one given twice is refused before decrypting
    (its decrypted YAML would keep the last one silently), as in a plain file."""
    if path.endswith((".yaml", ".yml", ".json")):
        load_data(text, path)


def _parse(text: str, path: str) -> dict[str, Any]:
    data = load_data(text, path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([Problem(path, 1, "values must be a mapping of keys")])
    return data
