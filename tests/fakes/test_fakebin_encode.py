"""fakebin writes its JSON records without the json module: they must still be JSON."""

from __future__ import annotations

import json

import pytest

from tests.fakes import fakebin


@pytest.mark.parametrize(
    "value",
    [
        {"argv": ["upgrade", 'say "hi"', "back\\slash", "tab\there", "nl\n", "\x00\x1f"]},
        {"env": {"LANG": "C.UTF-8", "UNICODE": "é☃𝄞"}, "exit": -15, "start": 1.25e9},
        {"nested": [None, True, False, 0, [], {}, {"k": [1.5, "x"]}]},
    ],
)
def test_records_are_json(value: dict[str, object]) -> None:
    assert json.loads(fakebin._encode(value)) == value


def test_keys_are_sorted_and_odd_values_refused() -> None:
    assert fakebin._encode({"b": 1, "a": 2}) == '{"a": 2, "b": 1}'
    with pytest.raises(TypeError):
        fakebin._encode({"x": object()})
