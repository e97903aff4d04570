"""A deploy reads each values file once (issue 22, point 1).

The hub `alpha/staging` of the test fleet has three values files, one of them
sops-encrypted. A `deploy --dry-run` of it (the fake helm of tests/fakes) reads
each of them exactly once: the pre-flight secret check, helm's bytes, the
decryption and the parsed values all come from that one read.

Fails on the code before the change: counted there (`git stash` of src/) as
{common: 2, staging: 2, enc-staging: 4}: the pre-flight secret check read every
file, `values_bytes` read it again for helm, and sops read the encrypted one a
third time (confined) and a fourth (`Sops.environment_for`'s `path.read_text`).
A health-checked deploy parsed each file through a second cache on top.
"""

from __future__ import annotations

import io
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from tests.deploy.conftest import DeployEnv

from hubfleet.base.confined import Root
from hubfleet.deploy import orchestrator, run
from hubfleet.release.pipeline import Release

FILES = (
    "config/clusters/alpha/common.values.yaml",
    "config/clusters/alpha/staging.values.yaml",
    "config/clusters/alpha/enc-staging.secret.values.yaml",
)


def count_reads(monkeypatch: pytest.MonkeyPatch, fleet: Path) -> Counter[str]:
    """Every read of a fleet file: through the confined reader (`Root.read_file`, which
    `read_fleet_file` and sops' own read use) and any plain open of it by name."""
    reads: Counter[str] = Counter()
    read_file = Root.read_file
    plain_open = io.open

    def confined(self: Root, relative: str, **kwargs: Any) -> bytes:
        reads[relative] += 1
        return read_file(self, relative, **kwargs)

    def opened(file: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, str | os.PathLike):
            name = Path(os.path.realpath(os.fspath(file)))
            if name.is_relative_to(fleet):
                reads[name.relative_to(fleet).as_posix()] += 1
        return plain_open(file, *args, **kwargs)

    monkeypatch.setattr(Root, "read_file", confined)
    monkeypatch.setattr(io, "open", opened)  # Path.read_text and read_bytes open through it
    return reads


def test_a_deploy_reads_each_values_file_once(
    run_cli: Any, denv: DeployEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = count_reads(monkeypatch, denv.fleet.resolve())
    result = run_cli(
        "--repo", denv.fleet, "deploy", "alpha", "staging", "--dry-run", "--progress", "plain"
    )
    assert result.exit_code == 0, result.output
    [upgrade] = denv.upgrades()
    assert "--dry-run=server" in upgrade["argv"]
    given = [value["content"] for value in upgrade["values"]]
    assert len(given) == len(FILES) and "secretToken: proxy-token" in given[2]  # decrypted
    assert {path: reads[path] for path in FILES} == dict.fromkeys(FILES, 1)


def test_a_deploy_builds_each_jobs_release_once(
    run_cli: Any, denv: DeployEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pre-flight checks and the orchestrator share one job -> Release mapping
    (before the change: each hub's release was built by `job_releases` and again by
    the orchestrator, 2 for alpha/staging)."""
    built: list[str] = []
    for module in (run, orchestrator):
        original = module.hub_release

        def counting(*args: Any, _original: Any = original) -> Release:
            release: Release = _original(*args)
            built.append(release.label)
            return release

        monkeypatch.setattr(module, "hub_release", counting)
    result = run_cli(
        "--repo", denv.fleet, "deploy", "alpha", "staging", "--dry-run", "--progress", "plain"
    )
    assert result.exit_code == 0, result.output
    assert built == ["alpha/staging"]
