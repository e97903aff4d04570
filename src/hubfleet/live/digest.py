"""The digest of a release's inputs: what lets status say "in sync" without rendering.

`Digests(values).of(release)` is `sha256:<hex>` over, each part length-prefixed:

- the scheme (`SCHEME`), the release's name and namespace (what `helm upgrade`
  targets; hubfleet passes no other flag that changes what is deployed);
- the chart's identity: its name, repository and version, and for a local chart
  (a folder, a `chart_override`, an archive) the content of what helm gets: every
  file of the folder as stored (read confined to the repository), or of its build
  in the chart cache (the build is made from those files, its dependencies included);
- every values file, in order, as its bytes AS STORED: a sops-encrypted file as its
  encrypted bytes, never decrypted content; a `.jsonnet` file as its source and the
  JSON it evaluates to with the hub's domain from cluster.yaml, or, when the domain
  comes from an encrypted `domain_override_file`, with a fixed placeholder domain
  (that file's encrypted bytes are in the digest too).

So any changed input byte changes the digest (a missed change cannot read as "in
sync"), and no secret is confirmable from it: no decrypted byte enters it. A
re-encryption with the same plaintext changes it (a spurious "changed": accepted).
A remote chart is its repository and version (the chart itself is not pulled).
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from hubfleet.base.confined import Confinement, Root
from hubfleet.base.errors import ChartError
from hubfleet.helm.charts import MAX_CHART_BYTES, MAX_CHART_FILE_BYTES
from hubfleet.helm.jsonnet import is_jsonnet
from hubfleet.release.pipeline import Release, release_jsonnet
from hubfleet.release.values import ReleaseValues

SCHEME = b"hubfleet-digest/1"
# The domain a jsonnet file is evaluated with when the real one is a secret.
PLACEHOLDER_DOMAIN = "domain-override.hubfleet.invalid"


class _Hash:
    """sha256 of length-prefixed parts: no two different inputs join into the same bytes."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()

    def part(self, data: bytes | str | None) -> None:
        if data is None:
            self._sha.update(b"\xff")
            return
        raw = data.encode("utf-8") if isinstance(data, str) else data
        self._sha.update(len(raw).to_bytes(8, "big") + raw)

    def hexdigest(self) -> str:
        return self._sha.hexdigest()

    def digest(self) -> bytes:
        return self._sha.digest()


class Digests:
    """The digests of one command's releases: each local chart's content hashed once.
    Thread-safe (status and deploy compute them from parallel clusters)."""

    def __init__(self, values: ReleaseValues) -> None:
        self.values = values
        self._lock = threading.Lock()
        self._charts: dict[Path, bytes] = {}

    def of(self, release: Release) -> str:
        """`sha256:<hex>` of the release's inputs (see the module)."""
        h = _Hash()
        h.part(SCHEME)
        h.part(release.name)
        h.part(release.namespace)
        source = release.chart
        h.part(source.name)
        h.part(source.repository)
        h.part(source.version)
        h.part(self._chart_content(release) if source.local_dir is not None else None)
        h.part(str(len(release.values_files)))
        for path in release.values_files:
            h.part(path)
            h.part(self.values.file(path).raw)
            if is_jsonnet(path):
                h.part(self._jsonnet(release, path))
        h.part(release.domain_file)
        if release.domain_file is not None:
            h.part(self.values.file(release.domain_file).raw)
        return "sha256:" + h.hexdigest()

    def _jsonnet(self, release: Release, path: str) -> bytes:
        domain = None
        if release.domain_file is not None:
            document = self.values.file(release.domain_file)
            domain = PLACEHOLDER_DOMAIN if document.encrypted else self.values.domain(release)
        return release_jsonnet(self.values.fleet, release, path, domain=domain)

    def _chart_content(self, release: Release) -> bytes:
        chart = self.values.chart(release)  # the folder as it is, or its build in the cache
        with self._lock:
            known = self._charts.get(chart)
        if known is None:
            known = _tree_digest(chart, self.values.fleet.root)
            with self._lock:
                self._charts[chart] = known
        return known


def release_digest(release: Release, values: ReleaseValues) -> str:
    """One release's digest (a command digesting many makes one `Digests`)."""
    return Digests(values).of(release)


def _tree_digest(chart: Path, root: Path) -> bytes:
    """sha256 of every file (path and bytes) of a chart folder, or of an archive's bytes."""
    h = _Hash()
    inside = _relative(chart, root)
    if chart.is_file():
        h.part(b"archive")
        h.part(_read_archive(chart, root, inside))
        return h.digest()
    files = _read_folder(chart, root, inside)
    h.part(b"folder")
    for name in sorted(files):
        h.part(name)
        h.part(files[name])
    return h.digest()


def _relative(path: Path, root: Path) -> str | None:
    full, base = os.path.abspath(path), os.path.abspath(root)
    if full == base or full.startswith(base + os.sep):
        return os.path.relpath(full, base)
    return None


def _read_archive(chart: Path, root: Path, inside: str | None) -> bytes:
    try:
        if inside is not None:
            return Root(root).read_file(inside, limit=MAX_CHART_BYTES)
        return chart.read_bytes()  # the chart cache's copy, written by hubfleet
    except (Confinement, OSError) as exc:
        raise ChartError(f"cannot read the chart {chart} to digest it: {exc}") from None


def _read_folder(chart: Path, root: Path, inside: str | None) -> dict[str, bytes]:
    try:
        if inside is not None:
            return Root(root).read_tree(
                inside, file_limit=MAX_CHART_FILE_BYTES, total_limit=MAX_CHART_BYTES
            )
        found: dict[str, bytes] = {}
        for current, dirs, names in os.walk(chart):  # a build in hubfleet's own cache
            dirs.sort()
            for name in sorted(names):
                path = Path(current, name)
                found[path.relative_to(chart).as_posix()] = path.read_bytes()
        return found
    except (Confinement, OSError) as exc:
        raise ChartError(f"cannot read the chart {chart} to digest it: {exc}") from None
