"""A chart's CustomResourceDefinitions, as a deploy applies them before each upgrade.

Helm installs the files of a chart's `crds/` folders (its own and every subchart's,
at any depth of the dependency tree) only when a release is first installed, never
on an upgrade, so a chart that brings newer CRDs (dask-gateway's, cert-manager's)
leaves the old ones in the cluster. `chart_crds` reads them from the chart helm is
handed (the built chart in the cache, or a remote chart's cached archive) through
the embedded Helm engine (`helm show crds`: the same loader and the same recursion
into `charts/` folders and archives that helm's install uses), and gives each
`CustomResourceDefinition` with a digest of its document.

The digest is what a deploy compares with the cluster: it is set on the applied
object as the annotation `hubfleet.dev/crd-digest`, so an unchanged CRD is recognised
from one `kubectl get` without comparing the server's defaulted copy with the
chart's text. `apply_stream` is what `kubectl apply --filename=-` gets.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python

from hubfleet.base.errors import ChartError, ConfigError, DeployError
from hubfleet.base.yamlio import load_data
from hubfleet.helm.liblog import library_output

DIGEST_ANNOTATION = "hubfleet.dev/crd-digest"
CRD_KIND = "CustomResourceDefinition"
CRD_GROUP = "apiextensions.k8s.io"
_DOCUMENT_START = re.compile(r"^---[ \t]*(?:#.*)?$", re.MULTILINE)


@dataclass(frozen=True)
class Crd:
    """One CRD of a chart: its name, the digest of its document as the chart has it,
    and the document to apply (the chart's, with the digest annotation set)."""

    name: str
    digest: str
    document: Mapping[str, Any]


@dataclass(frozen=True)
class ChartCrds:
    """A chart's CRDs (sorted by name), and what its `crds/` folders held besides."""

    crds: tuple[Crd, ...]
    ignored: tuple[str, ...] = ()  # documents that are not CRDs ("Namespace/x"), not applied

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.crds)


def chart_crds(chart: Path, shown: str) -> ChartCrds:
    """The CRDs of `chart` (a folder or an archive) and of its subcharts at any depth.

    `shown` names the chart in errors. Raises `ChartError` when the chart cannot be
    loaded, `ConfigError` when a file of a `crds/` folder is not YAML or a CRD has no
    name."""
    try:
        with library_output():
            text = helm_python.show(str(chart), output_format="crds")
    except helm_python.HelmError as exc:
        detail = str(exc).strip().splitlines()
        raise ChartError(
            f"chart {shown}: cannot read its CRDs: {detail[-1] if detail else type(exc).__name__}"
        ) from None
    return crds_of_text(text, f"the crds/ folders of chart {shown}")


def crds_of_text(text: str, shown: str) -> ChartCrds:
    """The CRDs of a YAML stream (what `helm show crds` prints)."""
    found: dict[str, Crd] = {}
    ignored: list[str] = []
    for index, chunk in enumerate(_DOCUMENT_START.split(text)):
        data = load_data(chunk, f"{shown} (document {index})")
        if data is None:
            continue
        if not isinstance(data, dict):
            raise ConfigError(f"{shown}: document {index} is not a mapping")
        kind = str(data.get("kind") or "")
        group = str(data.get("apiVersion") or "").split("/", 1)[0]
        meta = data.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        if kind != CRD_KIND or group != CRD_GROUP:
            ignored.append(f"{kind or '(no kind)'}/{name or '(no name)'}")
            continue
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{shown}: a CustomResourceDefinition without metadata.name")
        found[name] = crd_of(data)  # the last one wins, as it would when applied
    return ChartCrds(tuple(found[n] for n in sorted(found)), tuple(ignored))


def crd_of(document: Mapping[str, Any]) -> Crd:
    """One CRD with its digest set as an annotation (on a copy)."""
    digest = document_digest(document)
    applied = copy.deepcopy(dict(document))
    meta = applied.setdefault("metadata", {})
    annotations = meta.get("annotations")
    meta["annotations"] = {**(annotations if isinstance(annotations, dict) else {})}
    meta["annotations"][DIGEST_ANNOTATION] = digest
    return Crd(str(meta["name"]), digest, applied)


def document_digest(document: Mapping[str, Any]) -> str:
    """sha256 of the document's canonical JSON (keys sorted): the same content gives the
    same digest whatever its YAML spelling (comments, order, quoting)."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def apply_stream(crds: Iterable[Crd]) -> bytes:
    """What `kubectl apply --filename=-` gets: one JSON document per CRD."""
    return "".join(
        "---\n" + json.dumps(c.document, sort_keys=True, default=str) + "\n" for c in crds
    ).encode("utf-8")


def live_digests(text: str) -> dict[str, str]:
    """Each CRD's digest annotation from `kubectl get ... --output=json` (one object or
    a List); a CRD without the annotation maps to ""."""
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        raise DeployError("kubectl get customresourcedefinitions answered no JSON") from None
    items: Sequence[Any] = ()
    if isinstance(data, dict):
        listed = data.get("items")
        items = listed if isinstance(listed, list) else [data]
    found: dict[str, str] = {}
    for item in items:
        meta = item.get("metadata") if isinstance(item, dict) else None
        if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
            continue
        annotations = meta.get("annotations")
        value = annotations.get(DIGEST_ANNOTATION) if isinstance(annotations, dict) else None
        found[meta["name"]] = value if isinstance(value, str) else ""
    return found


def changed(crds: Iterable[Crd], live: Mapping[str, str]) -> tuple[Crd, ...]:
    """The CRDs whose digest the cluster does not carry (absent, or another digest)."""
    return tuple(c for c in crds if live.get(c.name) != c.digest)
