"""The one bounded JSON reader (`hubfleet.base.jsonio`): hostile documents exit 2 at
their line, never a RecursionError."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubfleet.base.jsonio import InputError, parse_json, read_json_file


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("[" * 100_000, "nested more than 64 levels deep", 1),
        ('{"a":\n' + '{"b":' * 70 + "1" + "}" * 71, "nested more than 64 levels deep", 2),
        ('{"a": 1,\n "a": 2}', "duplicate key 'a'", 2),
        ('{"x": {"k": 1},\n "y": {"k": 1,\n  "k": 2}}', "duplicate key 'k'", 3),
        ('{"a": NaN}', "NaN is not JSON", None),
        ("[1" + "0" * 5000 + "]", "not usable JSON", None),
        ('["ok",\n "\\ud800"]', "lone surrogate", 2),
        ("{\n]", "not JSON", 2),
    ],
)
def test_hostile_json_is_an_input_error_at_its_line(
    text: str, message: str, line: int | None
) -> None:
    with pytest.raises(InputError) as raised:
        parse_json(text, "f.json", "plan")
    assert message in raised.value.message
    assert raised.value.path == "f.json"
    if line is not None:
        assert raised.value.line == line


def test_strings_with_brackets_and_escapes_do_not_count_as_depth() -> None:
    text = '["' + "[" * 200 + '\\"]]", {"k\\"": "{{{{"}, "\\ud83d\\ude00"]'
    assert parse_json(text, "f.json", "plan").data[2] == "\U0001f600"


def test_files_are_bounded_and_decoded(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_text("[" + "1," * 100 + "1]")
    with pytest.raises(InputError, match="larger than"):
        read_json_file(big, "event", max_bytes=64)
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'{"a":\n"\xff"}')
    with pytest.raises(InputError, match="not UTF-8") as raised:
        read_json_file(bad, "plan")
    assert raised.value.line == 2
    with pytest.raises(InputError, match="cannot read the plan"):
        read_json_file(tmp_path / "nul\0.json", "plan")
    assert read_json_file(Path("-"), "plan", stdin_text='{"a": [1]}').data == {"a": [1]}
