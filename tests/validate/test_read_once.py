"""validate reads each values file once (issue 22, point 1): the file checks, sops's
decryption, the schema check and the render of `alpha/staging` (three values files,
one sops-encrypted) all come from one read of each, by the values pipeline's reader.

Before (counted with this test on the code before the change): the encrypted file was
read 3 times (the file check, then sops by name in the check, then the pipeline for the
render); a plain one twice when the pipeline did not get validate's parsed document.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.deploy.test_read_once import FILES, count_reads


def test_validate_reads_each_values_file_once(
    run_cli: Any, fleet_copy: Path, age_key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = count_reads(monkeypatch, fleet_copy.resolve())
    result = run_cli("--repo", fleet_copy, "validate", "alpha", "staging")
    assert "release(s) rendered" in result.output and " 0 release(s)" not in result.output
    assert {path: reads[path] for path in FILES} == dict.fromkeys(FILES, 1), result.output
