"""The values pipeline of one command (hubfleet.release.values.ReleaseValues)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import FIXTURES, SECRET_MARKER

from hubfleet.base.redact import Redactor
from hubfleet.config.load import load_fleet
from hubfleet.helm import jsonnet_pool
from hubfleet.helm.charts import resolve_chart
from hubfleet.helm.engine import render
from hubfleet.release import values as values_module
from hubfleet.release.pipeline import hub_release
from hubfleet.release.values import ReleaseValues
from hubfleet.secrets.sops import Sops

LAYOUT = FIXTURES / "layout2i2c" / "fleet"
BASEHUB_JSONNET = "helm-charts/basehub/values.jsonnet"
COMMON = "config/clusters/alpha/common.values.yaml"


def test_a_shared_file_is_read_once_for_every_release() -> None:
    fleet = load_fleet(FIXTURES / "fleet").fleet_or_raise()
    pipeline = ReleaseValues(fleet, sops=None)
    alpha = fleet.cluster("alpha")
    releases = [hub_release(fleet, hub) for hub in alpha.hubs]
    files = {path for release in releases for path in release.values_files}
    assert sum(COMMON in release.values_files for release in releases) == 3
    docs = [pipeline.documents(release) for release in releases]
    assert pipeline.reads == len(files)  # the common file once, not three times
    common = [doc for hub_docs in docs for doc in hub_docs if doc.path == COMMON]
    assert common[0] is common[1] is common[2]
    for release in releases:  # asking again reads nothing
        assert pipeline.merged(release) == ReleaseValues(fleet, sops=None).merged(release)
    assert pipeline.reads == len(files)


def test_jsonnet_values_are_cached_per_release() -> None:
    fleet = load_fleet(LAYOUT).fleet_or_raise()
    aws = fleet.cluster("aws-two")
    staging, lis = (hub_release(fleet, aws.hub(name)) for name in ("staging", "lis"))
    pipeline = ReleaseValues(fleet, sops=None)
    first, second = pipeline.documents(staging)[0], pipeline.documents(lis)[0]
    assert first.path == second.path == BASEHUB_JSONNET
    role = "eks.amazonaws.com/role-arn"
    assert first.data["userServiceAccount"]["annotations"][role].endswith("aws-two-eks-staging")
    assert second.data["userServiceAccount"]["annotations"][role].endswith("aws-two-eks-lis")
    reads = pipeline.reads
    assert pipeline.documents(staging)[0] is first  # cached for its own release
    assert pipeline.reads == reads


def test_the_hubs_z2jh_values_are_under_the_wrapper_key() -> None:
    fleet = load_fleet(LAYOUT).fleet_or_raise()
    release = hub_release(fleet, fleet.cluster("aws-two").hub("staging"))
    pipeline = ReleaseValues(fleet, sops=None)
    merged = pipeline.merged(release)
    assert dict(pipeline.hub_values(release)) == merged["jupyterhub"]
    assert merged["jupyterhub"]["ingress"] == {"hosts": ["staging.aws-two.example.org"]}


def test_render_release_is_the_chart_rendered_with_the_merged_values() -> None:
    fleet = load_fleet(FIXTURES / "fleet").fleet_or_raise()
    release = hub_release(fleet, fleet.cluster("alpha").hub("prod2"))
    pipeline = ReleaseValues(fleet, sops=None)
    expected = render(
        resolve_chart(release.chart, root=fleet.root),
        ReleaseValues(fleet, sops=None).merged(release),
        release=release.name,
        namespace=release.namespace,
    )
    assert expected
    assert pipeline.render_release(release) == expected


def test_values_bytes_are_decrypted_once_and_shared(age_key: Path) -> None:
    fleet = load_fleet(FIXTURES / "fleet").fleet_or_raise()
    redactor = Redactor()
    pipeline = ReleaseValues(fleet, sops=Sops(redactor, cwd=fleet.root))
    staging = hub_release(fleet, fleet.cluster("alpha").hub("staging"))
    prod1 = hub_release(fleet, fleet.cluster("alpha").hub("prod1"))
    first = dict(pipeline.values_bytes(staging))
    reads = pipeline.reads
    again = dict(pipeline.values_bytes(prod1))
    assert again[COMMON] is first[COMMON]
    assert pipeline.reads == reads + len(prod1.values_files) - 1
    secret = first["config/clusters/alpha/enc-staging.secret.values.yaml"]
    assert b"ENC[" not in secret and b"sops" not in secret


def test_values_bytes_need_a_key() -> None:
    fleet = load_fleet(FIXTURES / "fleet").fleet_or_raise()
    release = hub_release(fleet, fleet.cluster("alpha").hub("prod2"))
    with pytest.raises(ValueError, match="need a Sops"):
        ReleaseValues(fleet, sops=None).values_bytes(release)


def test_a_document_parsed_by_the_command_is_not_read_again() -> None:
    fleet = load_fleet(FIXTURES / "fleet").fleet_or_raise()
    release = hub_release(fleet, fleet.cluster("alpha").hub("prod2"))
    pipeline = ReleaseValues(fleet, sops=None)
    own = pipeline.documents(release)[0]
    seeded = ReleaseValues(fleet, sops=None)
    seeded.add(own)
    assert seeded.documents(release)[0] is own
    assert seeded.reads == len(release.values_files) - 1
    assert json.dumps(seeded.merged(release)) == json.dumps(pipeline.merged(release))


def test_a_file_asked_for_by_two_threads_at_once_is_read_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Parallel pipelines (a deploy's clusters, a cluster's hubs) share a file: the
    second thread waits for the first one's read instead of reading it too."""
    fleet = load_fleet(FIXTURES / "fleet").fleet_or_raise()
    staging, prod1 = (
        hub_release(fleet, fleet.cluster("alpha").hub(h)) for h in ("staging", "prod1")
    )
    pipeline = ReleaseValues(fleet, sops=None)
    first_in, second_in, let_go = threading.Event(), threading.Event(), threading.Event()
    reads: list[str] = []
    read_file = values_module.read_values

    def slow_read(*args: Any, **kwargs: Any) -> Any:
        path = args[1]
        if path == COMMON:
            (second_in if first_in.is_set() else first_in).set()
            if not second_in.is_set():
                let_go.wait(10)  # the first reader holds the file until the second asked
        reads.append(path)
        return read_file(*args, **kwargs)

    monkeypatch.setattr(values_module, "read_values", slow_read)
    one = threading.Thread(target=pipeline.documents, args=(staging,))
    one.start()
    assert first_in.wait(10)
    two = threading.Thread(target=pipeline.documents, args=(prod1,))
    two.start()
    # Without a lock per file the second thread reads the file itself at once.
    second_in.wait(1)
    let_go.set()
    one.join()
    two.join()
    assert reads.count(COMMON) == 1
    assert pipeline.documents(staging)[0] is pipeline.documents(prod1)[0]


def test_placeholders_hide_a_decrypted_files_strings(age_key: Path) -> None:
    """`placeholders`: what must not depend on a secret reads an encrypted file's
    strings as placeholders, also from a pipeline that decrypts."""
    fleet = load_fleet(FIXTURES / "fleet").fleet_or_raise()
    release = hub_release(fleet, fleet.cluster("alpha").hub("staging"))
    decrypting = ReleaseValues(fleet, sops=Sops(Redactor(), cwd=fleet.root))
    assert SECRET_MARKER in json.dumps(decrypting.merged(release))
    hidden = decrypting.merged(release, placeholders=True)
    assert SECRET_MARKER not in json.dumps(hidden)
    assert hidden == ReleaseValues(fleet, sops=None).merged(release)


def test_a_jsonnet_file_is_evaluated_once_for_helm_and_for_its_values(
    monkeypatch: pytest.MonkeyPatch, age_key: Path
) -> None:
    """A deploy asks for a release's bytes (helm -f) and its documents (the health
    check): one evaluation of each jsonnet file serves both."""
    fleet = load_fleet(LAYOUT).fleet_or_raise()
    release = hub_release(fleet, fleet.cluster("aws-two").hub("staging"))
    evaluated: list[str] = []
    original = jsonnet_pool.Pool.evaluate

    def counting(self: Any, request: Any, *args: Any) -> Any:  # each evaluation in a child
        evaluated.append(request["path"])
        return original(self, request, *args)

    monkeypatch.setattr(jsonnet_pool.Pool, "evaluate", counting)
    pipeline = ReleaseValues(fleet, sops=Sops(Redactor(), cwd=fleet.root))
    jsonnet = [p for p in release.values_files if p.endswith(".jsonnet")]
    assert jsonnet
    documents = pipeline.documents(release)
    given = dict(pipeline.values_bytes(release))
    assert sorted(evaluated) == sorted(jsonnet)  # once each, not once per cache
    for doc in documents:
        if doc.path in jsonnet:
            assert json.loads(given[doc.path]) == doc.data


def test_helm_bytes_and_documents_come_from_one_read(
    monkeypatch: pytest.MonkeyPatch, age_key: Path
) -> None:
    """A deploy asks for a release's bytes (helm -f) and its documents (the health
    check): each file is read once for both, the encrypted one decrypted from that
    read (before: two caches, two reads of each file and sops' own third)."""
    from hubfleet.base import confined

    fleet = load_fleet(FIXTURES / "fleet").fleet_or_raise()
    release = hub_release(fleet, fleet.cluster("alpha").hub("staging"))
    reads: list[str] = []
    read_file = confined.Root.read_file

    def counting(self: confined.Root, relative: str, **kwargs: Any) -> bytes:
        reads.append(relative)
        return read_file(self, relative, **kwargs)

    monkeypatch.setattr(confined.Root, "read_file", counting)
    pipeline = ReleaseValues(fleet, sops=Sops(Redactor(), cwd=fleet.root))
    given = dict(pipeline.values_bytes(release))
    documents = pipeline.documents(release)
    assert sorted(reads) == sorted(release.values_files)
    assert pipeline.reads == len(release.values_files)
    assert pipeline.file(COMMON) is pipeline.file(COMMON)
    secret = "config/clusters/alpha/enc-staging.secret.values.yaml"
    [decrypted] = [doc for doc in documents if doc.path == secret]
    assert decrypted.decrypted and SECRET_MARKER in json.dumps(decrypted.data)
    assert SECRET_MARKER.encode() in given[secret]
