"""Offline checks of rendered manifests against the Kubernetes OpenAPI schemas.

The schemas are the strict ones shipped by PyPI `kubernetes-validate` (unknown
fields are errors). Its `validate()` re-reads the 1.8 MB definitions file on
every call (~15-30 ms a document), so we load each schema once per
(Kubernetes version, kind, apiVersion) and keep compiled validators.

Two validators per kind, one answer: `jsonschema_rs` (Rust, ~4 µs a document)
says whether a document is valid; only a document it finds invalid is checked
again by `jsonschema` (pure Python, ~1-3 ms a document, Draft 2020-12 and the same
registry as the library builds), whose messages are the ones reported. So the
messages are exactly those of `jsonschema`, and the check of a valid release holds
the GIL for about the time of reading its YAML. The schemas use only `type`,
`$ref`, `properties`, `additionalProperties`, `items`, `required`, `enum`, `oneOf`
and `format` (an annotation in 2020-12, asserted by neither). The fast answer is not
trusted, and `jsonschema` decides, when the Rust one cannot read the document
(bytes, sets, dates or keys that are not strings, from explicit YAML tags) or when
the document holds pairs (`!!omap`, `!!pairs`: tuples, arrays to Rust, not to
`jsonschema`).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import multiprocessing
import re
import signal
import threading
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

    # Set once a document of this loader holds pairs (tuples): see the module's notes.
    made_pairs = False

    def construct_yaml_omap(self, node: Any) -> Any:
        self.made_pairs = True
        return super().construct_yaml_omap(node)

    def construct_yaml_pairs(self, node: Any) -> Any:
        self.made_pairs = True
        return super().construct_yaml_pairs(node)


_Loader.add_constructor("tag:yaml.org,2002:omap", _Loader.construct_yaml_omap)
_Loader.add_constructor("tag:yaml.org,2002:pairs", _Loader.construct_yaml_pairs)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_documents(text: str) -> list[Any]:
    """The non-empty documents of `text`, read as Kubernetes reads them.

    Raises `yaml.YAMLError` on invalid YAML."""
    return [doc for doc in yaml.load_all(text, Loader=_Loader) if doc is not None]


_load_all = load_documents


def _load_for_check(text: str) -> tuple[list[Any], bool]:
    """`load_documents(text)`, and whether any document holds pairs (tuples)."""
    loader = _Loader(text)
    try:
        documents = []
        while loader.check_data():
            document = loader.get_data()
            if document is not None:
                documents.append(document)
        return documents, loader.made_pairs
    finally:
        loader.dispose()


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


def _once(function: Callable[..., Any]) -> Callable[..., Any]:
    """`functools.lru_cache`, whose first call for a key is made once across threads:
    threads checking their first releases at once wait for one build of the compiled
    registry (~0.1 s of CPU) or validator (a few ms), instead of each building its own.
    One lock per function (the slow validator's build imports jsonschema, ~1 s)."""
    cached = functools.lru_cache(maxsize=1024)(function)
    lock = threading.Lock()

    @functools.wraps(function)
    def wrapper(*args: Any) -> Any:
        with lock:
            return cached(*args)

    wrapper.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
    wrapper.cache_info = cached.cache_info  # type: ignore[attr-defined]
    return wrapper


@_once
def _fast_registry(version: str) -> Any:
    import jsonschema_rs  # lazy: ~70 ms to import; only the manifest check uses it

    definitions = json.loads(_definitions_file(version).read_text())
    return jsonschema_rs.Registry([(definitions.get("$id", _DEFINITIONS_ID), definitions)])


def prepare(kube_version: str | None = None) -> None:
    """Build ahead what the first check of a manifest needs (the compiled schema
    registry of `kube_version`'s schemas): for a caller with a core to spare before
    its renders start. An unsupported version is said by the check itself."""
    try:
        _fast_registry(schema_version(kube_version))
    except ConfigError:
        return


_DEFINITIONS_ID = "https://kubernetes.io/api/_definitions.json"


def _definitions_file(version: str) -> Path:
    return _schema_root() / f"v{version}-local-strict" / "_definitions.json"


@functools.lru_cache(maxsize=1024)
def _schema(version: str, kind: str, api_version: str) -> dict[str, Any] | None:
    """The shipped schema of one kind, or None when there is none."""
    slug = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    file = _schema_root() / f"v{version}-local-strict" / f"{kind.lower()}-{slug}.json"
    if "/" in kind or not file.is_file():
        return None
    schema: dict[str, Any] = json.loads(file.read_text())
    return schema


@_once
def _fast_validator(version: str, kind: str, api_version: str) -> Any | None:
    """A compiled Rust validator for one kind (validity only), or None without a schema."""
    import jsonschema_rs  # lazy: ~70 ms to import; only the manifest check uses it

    schema = _schema(version, kind, api_version)
    if schema is None:
        return None
    return jsonschema_rs.Draft202012Validator(
        schema, registry=_fast_registry(version), validate_formats=False
    )


@_once
def _validator(version: str, kind: str, api_version: str) -> Any | None:
    """A compiled validator for one kind, or None when no schema is shipped."""
    # lazy: jsonschema's format checkers take ~1 s to import; only this check uses them
    from jsonschema.validators import (  # type: ignore[import-untyped,unused-ignore]
        Draft202012Validator,
    )
    from referencing import Resource  # lazy: with jsonschema

    schema = _schema(version, kind, api_version)
    if schema is None:
        return None
    registry = Resource.from_contents(schema) @ _registry(version)
    return Draft202012Validator(schema, registry=registry)


def _fast_says_valid(validator: Any, document: Any) -> bool:
    """True when the Rust validator finds `document` valid; False when it finds it
    invalid or cannot read it (then `jsonschema` decides and words the problems)."""
    try:
        return bool(validator.is_valid(document))
    except Exception:  # a Python value it does not take (bytes, set, date, int key)
        return False


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
            documents, pairs = _load_for_check(text)
        except yaml.YAMLError as exc:
            problems.append(ManifestProblem(template, "", "", f"invalid YAML: {exc}"))
            continue
        for document in documents:
            problems.extend(_check_document(template, document, version, unknown, fast=not pairs))
    return ManifestReport(sorted(problems), sorted(unknown), version)


def _check_document(
    template: str, document: Any, version: str, unknown: set[str], *, fast: bool = True
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
    quick = _fast_validator(version, kind, api_version)
    if quick is None:
        unknown.add(f"{kind} ({api_version})")
        return []
    if fast and _fast_says_valid(quick, document):
        return []
    validator = _validator(version, kind, api_version)
    assert validator is not None, "the same schema file as the fast validator's"
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
