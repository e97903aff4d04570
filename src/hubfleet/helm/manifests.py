"""Offline checks of rendered manifests against the Kubernetes OpenAPI schemas.

The schemas are the strict ones shipped by PyPI `kubernetes-validate` (unknown
fields are errors). Its `validate()` re-reads the 1.8 MB definitions file on
every call (~15-30 ms a document), so we load each schema once per
(Kubernetes version, kind, apiVersion) and keep a compiled `jsonschema`
validator, exactly as the library builds it (Draft 2020-12, same registry).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import multiprocessing
import re
import signal
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hubfleet.base.errors import ConfigError


@dataclass(frozen=True, order=True)
class ManifestProblem:
    template: str
    kind: str
    name: str
    message: str

    def render(self) -> str:
        what = f"{self.kind}/{self.name}" if self.kind else "document"
        return f"{self.template}: {what}: {self.message}"


@dataclass(frozen=True)
class ManifestReport:
    problems: list[ManifestProblem] = field(default_factory=list)
    unknown_kinds: list[str] = field(default_factory=list)
    kube_version: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


class _Loader(yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader):  # type: ignore[misc]
    """YAML as Kubernetes reads it: unquoted timestamps stay strings."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_documents(text: str) -> list[Any]:
    """The non-empty documents of `text`, read as Kubernetes reads them.

    Raises `yaml.YAMLError` on invalid YAML."""
    return [doc for doc in yaml.load_all(text, Loader=_Loader) if doc is not None]


_load_all = load_documents


def split_documents(manifests: Mapping[str, str]) -> list[dict[str, Any]]:
    """Every non-empty mapping document of the manifests, in template order.

    Raises `yaml.YAMLError` on invalid YAML (`check_manifests` reports it instead).
    """
    documents: list[dict[str, Any]] = []
    for _template, text in sorted(manifests.items()):
        documents.extend(doc for doc in _load_all(text) if isinstance(doc, dict))
    return documents


# ---------------------------------------------------------------- schemas


def _schema_root() -> Path:
    # Found, not imported: importing kubernetes_validate imports jsonschema (~1 s).
    spec = importlib.util.find_spec("kubernetes_validate")
    assert spec is not None and spec.origin is not None, "kubernetes-validate is a dependency"
    return Path(spec.origin).parent / "kubernetes-json-schema"


@functools.lru_cache(maxsize=1)
def available_versions() -> tuple[str, ...]:
    """Kubernetes versions with strict schemas, oldest first (e.g. `1.37.0`)."""
    found = set()
    for entry in _schema_root().iterdir():
        match = re.fullmatch(r"v(\d+\.\d+\.\d+)-local-strict", entry.name)
        if match:
            found.add(match.group(1))
    return tuple(sorted(found, key=_version_key))


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def schema_version(kube_version: str | None = None) -> str:
    """The schema set used for `kube_version` (`1.30`, `v1.30.2`; default newest):
    the newest shipped version not newer than the requested minor."""
    versions = available_versions()
    if kube_version is None:
        return versions[-1]
    wanted = _version_key(kube_version.lstrip("v"))[:2]
    if len(wanted) < 2:
        raise ConfigError(f"invalid Kubernetes version {kube_version!r}", hint="e.g. 1.30")
    usable = [v for v in versions if _version_key(v)[:2] <= wanted]
    if not usable or wanted > _version_key(versions[-1])[:2]:
        raise ConfigError(
            f"Kubernetes {kube_version} is not supported by the installed kubernetes-validate "
            f"(schemas for {versions[0]} to {versions[-1]})",
            hint="upgrade kubernetes-validate or choose a supported version",
        )
    return usable[-1]


@functools.lru_cache(maxsize=8)
def _registry(version: str) -> Any:
    from referencing import Registry, Resource  # lazy: with jsonschema, for the check only

    folder = _schema_root() / f"v{version}-local-strict"
    definitions = json.loads((folder / "_definitions.json").read_text())
    return Resource.from_contents(definitions) @ Registry()


@functools.lru_cache(maxsize=1024)
def _validator(version: str, kind: str, api_version: str) -> Any | None:
    """A compiled validator for one kind, or None when no schema is shipped."""
    # lazy: jsonschema's format checkers take ~1 s to import; only this check uses them
    from jsonschema.validators import (  # type: ignore[import-untyped,unused-ignore]
        Draft202012Validator,
    )
    from referencing import Resource  # lazy: with jsonschema

    slug = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    file = _schema_root() / f"v{version}-local-strict" / f"{kind.lower()}-{slug}.json"
    if "/" in kind or not file.is_file():
        return None
    schema = json.loads(file.read_text())
    registry = Resource.from_contents(schema) @ _registry(version)
    return Draft202012Validator(schema, registry=registry)


def _error_path(error: Any) -> str:
    text = ""
    for part in error.absolute_path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def check_manifests(
    manifests: Mapping[str, str], *, kube_version: str | None = None
) -> ManifestReport:
    """Check every rendered document against the strict Kubernetes schemas.

    Kinds without a shipped schema (custom resources) are listed in
    `unknown_kinds` as `Kind (apiVersion)`, not failed.
    """
    version = schema_version(kube_version)
    problems: list[ManifestProblem] = []
    unknown: set[str] = set()
    for template, text in sorted(manifests.items()):
        try:
            documents = _load_all(text)
        except yaml.YAMLError as exc:
            problems.append(ManifestProblem(template, "", "", f"invalid YAML: {exc}"))
            continue
        for document in documents:
            problems.extend(_check_document(template, document, version, unknown))
    return ManifestReport(sorted(problems), sorted(unknown), version)


def _check_document(
    template: str, document: Any, version: str, unknown: set[str]
) -> list[ManifestProblem]:
    if not isinstance(document, dict):
        return [ManifestProblem(template, "", "", "not a Kubernetes object (not a mapping)")]
    kind = document.get("kind")
    api_version = document.get("apiVersion")
    metadata = document.get("metadata")
    name = str(metadata.get("name") or "") if isinstance(metadata, dict) else ""
    if not isinstance(kind, str) or not kind or not isinstance(api_version, str) or not api_version:
        return [
            ManifestProblem(
                template, str(kind or ""), name, "a Kubernetes object needs `apiVersion` and `kind`"
            )
        ]
    validator = _validator(version, kind, api_version)
    if validator is None:
        unknown.add(f"{kind} ({api_version})")
        return []
    found = []
    for error in validator.iter_errors(document):
        where = _error_path(error)
        found.append(
            ManifestProblem(
                template, kind, name, f"{where}: {error.message}" if where else error.message
            )
        )
    return found


# A check in this process, or in a worker process (same arguments, same report).
Checker = Callable[[Mapping[str, str], "str | None"], ManifestReport]


def _in_process(manifests: Mapping[str, str], kube_version: str | None) -> ManifestReport:
    return check_manifests(manifests, kube_version=kube_version)


def _quiet_worker() -> None:
    """A worker ignores the terminal's SIGINT: the parent decides what an interrupt
    ends (exit 130 without a traceback); the pool goes when the parent does."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def manifest_checker(processes: int) -> Iterator[Checker]:
    """`check_manifests`, run in `processes` worker processes when more than one: the
    schema check is pure Python (jsonschema) and holds the GIL, so in threads it keeps
    one core busy while the embedded Helm engine's renders (Go) wait for it. Workers are
    started fresh (`spawn`: no fork of a threaded process), import jsonschema once each,
    and get the rendered manifests through a pipe (never a file)."""
    if processes <= 1:
        yield _in_process
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=context, initializer=_quiet_worker) as pool:

        def in_worker(manifests: Mapping[str, str], kube_version: str | None) -> ManifestReport:
            return pool.submit(check_manifests, dict(manifests), kube_version=kube_version).result()

        yield in_worker
