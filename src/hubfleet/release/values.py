"""One command's values pipeline: the only cache of values bytes and parsed documents.

A command makes one `ReleaseValues` for its fleet (with its `Sops`, or None for
placeholders, and its `ChartResolver`) and asks it for every release's values:

- `documents(release)`: the release's values files parsed, each file read once for
  the whole command (a cluster's common file is shared by its hubs); a `.jsonnet`
  file depends on the release, so its result is cached per release;
- `merged(release)`: those documents merged by helm's rule (a fresh dict each call);
  with `placeholders`, an encrypted file's strings read as placeholders, even when
  the command decrypts (for what must not depend on a secret);
- `hub_values(release)`: the hub's z2jh values (under the wrapper chart's key);
- `render_release(release)`: the chart resolved through the command's resolver,
  the values merged, the manifests rendered by the embedded Helm engine;
- `values_bytes(release)`: what `helm -f` gets, each file's bytes (decrypted in
  memory) read once;
- `domain(release)`: a hub's domain from its `domain_override_file` (what its jsonnet
  files get as `HUB_DOMAIN`), the file read and decrypted like a values file.

Each values file is read once per command, through one reader
(`hubfleet.release.pipeline.read_values`, the confined `read_fleet_file`), into a
`ValuesFile` kept here: helm's bytes and the parsed documents both derive from it,
the secret policy is applied to it, and the deploy's pre-flight check asks it
(`file`). It sits above the sops decrypt cache (`Sops` keeps decrypted bytes per
file, decrypting the bytes read here): a file is read once, decrypted at most once,
parsed at most once, also when parallel threads ask for it (one lock per file).
Nothing is written to disk.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from hubfleet.config.fleet import Fleet
from hubfleet.helm import engine
from hubfleet.helm.charts import ChartResolver, jupyterhub_values_key
from hubfleet.helm.jsonnet import is_jsonnet, jsonnet_values
from hubfleet.helm.nesting import hub_z2jh_values_key
from hubfleet.helm.values import at_key, merge_values, placeholder_secrets
from hubfleet.release.pipeline import (
    Release,
    ValuesDocument,
    ValuesFile,
    override_domain,
    read_values,
    release_jsonnet,
)

if TYPE_CHECKING:
    from hubfleet.secrets.sops import Sops

# A cache key: the file, and the release it was evaluated for (jsonnet only).
_Key = tuple[str, str | None]
_T = TypeVar("_T")


class ReleaseValues:
    """The values of every release of one command (thread-safe; see the module)."""

    def __init__(
        self, fleet: Fleet, *, sops: Sops | None, charts: ChartResolver | None = None
    ) -> None:
        self.fleet = fleet
        self.sops = sops
        self.charts = charts if charts is not None else ChartResolver(root=fleet.root)
        self._files: dict[_Key, ValuesFile] = {}  # (path, None): read once
        self._documents: dict[_Key, ValuesDocument] = {}  # jsonnet, and `add`ed ones
        self._bytes: dict[_Key, bytes] = {}  # jsonnet results, per release
        self._lock = threading.Lock()
        # One lock per file and cache: read once. Documents of a .jsonnet file are made
        # from its bytes (one evaluation for helm and for the parsed values), so a
        # document's lock may be held while its bytes are made, never the other way.
        # A read file's own lock (ValuesFile) guards what is made from it.
        self._key_locks: dict[tuple[int, _Key], threading.Lock] = {}
        self.reads = 0  # files read (or evaluated): for tests and figures

    @staticmethod
    def _key(path: str, release: Release) -> _Key:
        return (path, release.label if is_jsonnet(path) else None)

    def _cached(self, cache: dict[_Key, _T], key: _Key, make: Callable[[], _T]) -> _T:
        with self._lock:
            if key in cache:
                return cache[key]
            key_lock = self._key_locks.setdefault((id(cache), key), threading.Lock())
        # The file's own lock: a slow decrypt holds up only the threads that want it.
        with key_lock:
            with self._lock:
                if key in cache:
                    return cache[key]
            made = make()
            with self._lock:
                self.reads += 1
                cache[key] = made
                return made

    def add(self, document: ValuesDocument) -> None:
        """A plain (not jsonnet) values file the command has parsed already (validate's
        file checks): later reads of it use this document."""
        with self._lock:
            self._documents.setdefault((document.path, None), document)

    def file(self, path: str) -> ValuesFile:
        """The (not jsonnet) values file `path`, read once for the whole command."""
        return self._cached(self._files, (path, None), lambda: read_values(self.fleet, path))

    def documents(self, release: Release) -> list[ValuesDocument]:
        """The release's values files, parsed in memory, in order."""
        return [self._document(path, release) for path in release.values_files]

    def _document(self, path: str, release: Release) -> ValuesDocument:
        if is_jsonnet(path):
            return self._cached(
                self._documents,
                self._key(path, release),
                lambda: ValuesDocument(
                    path, jsonnet_values(path, self._jsonnet(path, release)), False, False
                ),
            )
        with self._lock:
            seeded = self._documents.get((path, None))
        return seeded if seeded is not None else self.file(path).document(self.sops)

    def merged(self, release: Release, *, placeholders: bool = False) -> dict[str, Any]:
        """The release's values merged by helm's rule (later files win, null kept);
        `placeholders`: every encrypted file's strings as placeholders."""
        return merge_values(
            [
                placeholder_secrets(doc.data) if placeholders and doc.decrypted else doc.data
                for doc in self.documents(release)
            ]
        )

    def hub_values(self, release: Release, *, placeholders: bool = False) -> Mapping[str, Any]:
        """The hub's z2jh values: the merged values under the key of the JupyterHub
        chart inside a wrapper chart (all of them when the chart is z2jh itself)."""
        merged = self.merged(release, placeholders=placeholders)
        return at_key(merged, self._z2jh_key(release))

    def _z2jh_key(self, release: Release) -> str | None:
        """Where the release's chart keeps z2jh's values: hubfleet.yaml's
        `z2jh_values_keys` for a hub's chart wins (`hubfleet.helm.nesting`)."""
        if release.hub is None:
            return jupyterhub_values_key(release.chart)
        return hub_z2jh_values_key(self.fleet, release.cluster, release.hub, lambda: release.chart)

    def chart(self, release: Release) -> Path:
        """The release's chart, through the command's resolver (pulled or built once)."""
        return self.charts.resolve(release.chart)

    def render_release(self, release: Release) -> dict[str, str]:
        """The release's manifests (template -> text): its chart, its merged values."""
        chart = self.chart(release)
        values = self.merged(release)
        return engine.render(chart, values, release=release.name, namespace=release.namespace)

    def values_bytes(self, release: Release) -> list[tuple[str, bytes]]:
        """(path, bytes) of each values file as `helm -f` gets it, in order; needs a
        `Sops` (encrypted files are decrypted in memory)."""
        sops = self.sops
        if sops is None:
            raise ValueError("values bytes for helm need a Sops (encrypted files)")

        def read(path: str) -> bytes:
            if is_jsonnet(path):
                return self._jsonnet(path, release)
            return self.file(path).helm_bytes(sops)

        return [(path, read(path)) for path in release.values_files]

    def domain(self, release: Release) -> str | None:
        """The hub's domain from its domain_override_file (decrypted in memory, or its
        placeholder without a key), None when it has none: cluster.yaml's applies."""
        if release.domain_file is None:
            return None
        return override_domain(self._document(release.domain_file, release))

    def _jsonnet(self, path: str, release: Release) -> bytes:
        """The JSON `path` evaluates to for `release`: evaluated once per release."""
        return self._cached(
            self._bytes,
            self._key(path, release),
            lambda: release_jsonnet(self.fleet, release, path, domain=self.domain(release)),
        )
