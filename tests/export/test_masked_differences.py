"""How export --verify's differences may be shown: Secret data masked, `(absent)` kept."""

from __future__ import annotations

from hubfleet.base.redact import MaskKey
from hubfleet.export.compare import ABSENT, Difference, masked
from hubfleet.helm.masking import MASK_PREFIX


def test_secret_data_is_masked_and_an_absent_side_says_so() -> None:
    key = MaskKey.random()
    found = [
        Difference("Secret/hub/hub", "data.token", "'c2VjcmV0'", ABSENT),
        Difference("Secret/hub/hub", "data.other", "'YQ=='", "'Yg=='"),
        Difference("ConfigMap/hub/hub", "data.x", "'1'", "'2'"),
    ]
    absent, changed, plain = masked(found, key)
    assert absent.expected.startswith(MASK_PREFIX) and "c2VjcmV0" not in absent.expected
    assert absent.actual == ABSENT  # which side lacks the field stays visible
    assert changed.expected.startswith(MASK_PREFIX) and changed.actual.startswith(MASK_PREFIX)
    assert changed.expected != changed.actual  # a change stays visible
    assert plain == found[2]
