"""Bounded fleet input: the reader, the YAML limits, names and settings (issue 12)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hubfleet.base.duration import seconds as duration_seconds
from hubfleet.base.errors import ConfigError
from hubfleet.base.yamlio import MAX_NODES, load_data, load_yaml, read_fleet_file, read_fleet_text
from hubfleet.config.load import load_fleet
from hubfleet.config.models import DeploySettings

BOMB = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)
)


@pytest.mark.parametrize("load", [load_yaml, load_data])
@pytest.mark.parametrize(
    ("text", "fragment", "line"),
    [
        (BOMB, "expands to more than", 6),
        ("a: 1\nb: &x [*x]\n", "recursive alias", 2),
        ("a: 1\n? [a, b]\n: 1\n", "mapping key", 2),
        ("a: 1\nb: \x07\n", "#x0007", 2),
    ],
)
def test_hostile_yaml_is_refused_at_its_line(load, text: str, fragment: str, line: int) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as info:
        load(text, "v.yaml")
    problem = info.value.problems[0]
    assert fragment in problem.message and problem.line == line and problem.hint


def test_aliases_within_the_limits_still_work() -> None:
    text = "base: &b {k: 1}\nhub: {c: *b}\nother: *b\nmerged:\n  <<: *b\n  own: 2\n"
    assert load_data(text, "v.yaml")["merged"] == {"k": 1, "own": 2}
    assert load_yaml(text, "v.yaml").data["hub"] == {"c": {"k": 1}}
    assert MAX_NODES >= 100_000


def test_reader_refuses_fifo_device_link_outside_and_large(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "ok.yaml").write_text("a: 1\n")
    os.mkfifo(root / "fifo.yaml")
    os.symlink("/dev/zero", root / "zero.yaml")
    (tmp_path / "outside.yaml").write_text("a: 1\n")
    os.symlink(tmp_path / "outside.yaml", root / "out.yaml")
    (root / "big.yaml").write_bytes(b"#" * (1024 * 1024 + 1))
    (root / "latin.yaml").write_bytes(b"a: 1\nb: \xe9\n")
    assert read_fleet_file(root, "ok.yaml") == b"a: 1\n"
    for name, fragment in [
        ("fifo.yaml", "FIFO"),  # would hang a plain open()
        ("zero.yaml", "outside the repository"),
        ("out.yaml", "outside the repository"),
        ("big.yaml", "over the limit of 1 MiB"),
        ("../outside.yaml", "outside the repository"),
    ]:
        with pytest.raises(ConfigError, match=fragment):
            read_fleet_file(root, name)
    with pytest.raises(ConfigError) as info:
        read_fleet_text(root, "latin.yaml")
    assert info.value.problems[0].line == 2 and "\\xe9" not in str(info.value)


def test_size_limit_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "f.yaml").write_text("a: 12345\n")
    monkeypatch.setenv("HUBFLEET_MAX_FILE_BYTES", "4")
    with pytest.raises(ConfigError, match="over the limit of 4 bytes"):
        read_fleet_file(tmp_path, "f.yaml")


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        ("name: prod2", "name: support", "support release"),
        ("name: prod2", "name: kube-node-lease", "Kubernetes keeps"),
        ("name: prod2", 'name: "prod2\\n"', "not a valid release"),
        (
            "domain: prod2.alpha.example.org",
            'domain: "prod2.alpha.example.org\\n"',
            "invalid domain",
        ),
    ],
)
def test_names_are_whole_kubernetes_names(
    fleet_copy: Path, old: str, new: str, fragment: str
) -> None:
    path = fleet_copy / "config/clusters/alpha/cluster.yaml"
    path.write_text(path.read_text().replace(old, new, 1))
    errors = load_fleet(fleet_copy).errors
    assert [p.line for p in errors if fragment in p.message] == [25 if "name" in old else 26]


def test_state_dir_stays_inside_unless_absolute(fleet_copy: Path) -> None:
    path = fleet_copy / "config/clusters/local/cluster.yaml"
    original = path.read_text()
    path.write_text(
        original.replace("base_port: 18100", "base_port: 18100\n  state_dir: a/../../x")
    )
    assert any("outside the repository" in p.message for p in load_fleet(fleet_copy).errors)
    path.write_text(
        original.replace("base_port: 18100", "base_port: 18100\n  state_dir: /srv/hubs")
    )
    loaded = load_fleet(fleet_copy)
    assert not loaded.errors
    assert [p.line for p in loaded.problems if "/srv/hubs" in p.message] == [5]


@pytest.mark.parametrize(
    ("text", "seconds"), [("10m", 600.0), ("300s", 300.0), ("1h30m", 5400.0), ("1.5h", 5400.0)]
)
def test_helm_durations(text: str, seconds: float) -> None:
    assert duration_seconds(text) == seconds
    assert DeploySettings(helm_timeout=text).helm_timeout == text


@pytest.mark.parametrize("text", ["banana", "300", "10m\n", "-5m", "0s", "48h"])
def test_bad_helm_timeouts_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        DeploySettings(helm_timeout=text)
