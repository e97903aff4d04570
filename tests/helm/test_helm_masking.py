"""Masking of Secret data in manifests and helm output: only the values change."""

from __future__ import annotations

import yaml

from hubfleet.base.redact import MaskKey
from hubfleet.helm.masking import MASK_PREFIX, is_secret_data, mask_manifests, mask_text, mask_value

KEY = MaskKey.random()

SECRET_DOC = """# Source: chart/templates/secret.yaml
kind: Secret
apiVersion: v1
metadata:
  name: hub
type: Opaque
data:
  values.yaml: "Q2hhcnQ6CiAgQXBwVmVyc2lvbjogNS4zLjAK"

  # a comment in the data block stays
  api.token: "ZmQ5MjkyODgwYThi"
stringData:
  config.yaml: |
    password: hunter2-s3cr3t

    more: x
  plain: value-s3cr3t
"""
CONFIGMAP = """# Source: chart/templates/configmap.yaml
kind: ConfigMap
apiVersion: v1
metadata:
  name: Secret
data:
  key: "not a secret: stays"
"""


def test_only_the_values_of_a_secret_change() -> None:
    masked = mask_text(f"---\n{CONFIGMAP}---\n{SECRET_DOC}", KEY)
    assert masked.startswith(f"---\n{CONFIGMAP}---\n")  # byte-stable outside Secret data
    assert "s3cr3t" not in masked and "ZmQ5MjkyODgwYThi" not in masked
    assert (
        '  values.yaml: "' + mask_value("Q2hhcnQ6CiAgQXBwVmVyc2lvbjogNS4zLjAK", KEY) + '"' in masked
    )
    assert "\n\n  # a comment in the data block stays\n" in masked
    document = list(yaml.safe_load_all(masked))[1]
    assert document["metadata"] == {"name": "hub"} and document["type"] == "Opaque"
    assert set(document["stringData"]) == {"config.yaml", "plain"}
    assert all(v.startswith(MASK_PREFIX) for v in document["stringData"].values())


def test_a_change_of_value_changes_the_digest_and_output_is_deterministic() -> None:
    changed = SECRET_DOC.replace("ZmQ5MjkyODgwYThi", "b3RoZXItdG9rZW4=")
    assert mask_text(SECRET_DOC, KEY) == mask_text(SECRET_DOC, KEY)
    assert mask_text(changed, KEY) != mask_text(SECRET_DOC, KEY)
    assert mask_value("a", KEY) == mask_value("a", KEY) != mask_value("b", KEY)


def test_unusual_layouts_are_masked_too() -> None:
    flow = 'kind: Secret\nmetadata: {name: x}\ndata: {a: YWJj, b: "ZGVm"}\n'
    as_json = '{"kind": "Secret", "metadata": {"name": "x"}, "data": {"a": "YWJjZGVmZ2g="}}\n'
    truncated = 'kind: Secret\ndata:\n  key: c2VjcmV0LXZhbHVl\n  key2: "unterminated'
    for text in (flow, as_json, truncated):
        masked = mask_text(text, KEY)
        assert "YWJj" not in masked and "ZGVm" not in masked and "c2VjcmV0" not in masked, masked
        assert MASK_PREFIX in masked


def test_manifests_without_secrets_are_untouched() -> None:
    manifests = {"a.yaml": CONFIGMAP, "b.txt": "helm says: Secret created"}
    assert mask_manifests(manifests, KEY) == manifests


def test_secret_data_fields_of_a_difference() -> None:
    assert is_secret_data("Secret/ns/hub", "data.values.yaml")
    assert is_secret_data("Secret/ns/hub", "stringData")
    assert not is_secret_data("Secret/ns/hub", "metadata.labels")
    assert not is_secret_data("ConfigMap/ns/hub", "data.values.yaml")


def test_masking_twice_shows_the_digest_of_the_value() -> None:
    """Helm's output is masked, then the report holding it again: one digest per value."""
    once = mask_text(SECRET_DOC, KEY)
    assert mask_text(once, KEY) == once
    assert mask_value(mask_value("a", KEY), KEY) == mask_value("a", KEY)
    # Only an exact marker is left alone: a value that merely starts like one is masked.
    posing = MASK_PREFIX + "hunter2-s3cr3t]"
    assert mask_value(posing, KEY) != posing and "hunter2" not in mask_value(posing, KEY)
