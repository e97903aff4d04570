"""Every file hubfleet reads for a fleet is confined to the repository (issue 21, points 2,
3's jsonnet half, 4, and 8's NUL bytes, unusable caches and `render --output-dir`).

Each case builds a hostile fleet from a copy of the test fleet, with a canary string
in files outside the repository, and runs the real CLI in a child process (`python
-m hubfleet`: render, validate, deploy --dry-run with the fake helm, export) with the
age key in the environment (`SOPS_AGE_KEY`, which a chart file linked to
/proc/self/environ would show). Each command must exit 2 with the refusal at
`path:line` (a link's own path for a chart's link) and a hint, without a traceback;
nothing from outside the repository (the canary) may appear in any output or in any
file written (the chart cache's builds, an export); and a scan (tests/secretscan.py)
of every output and every new file finds neither the age key nor any of the fleet's
decrypted values, in any encoding.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from hubfleet.base.confined import Root, read_handoff, write_beneath
from hubfleet.base.errors import ConfigError
from hubfleet.base.yamlio import read_fleet_file
from hubfleet.config.charts import ChartSource
from hubfleet.helm import charts as charts_module
from hubfleet.helm.charts import ChartResolver
from tests.conftest import AGE_KEY, SECRET_MARKER, TEST_FLEET
from tests.fakes import install_fakes
from tests.secretscan import decrypted_leaves, find_secrets

ROOT = Path(__file__).resolve().parents[2]
CANARY = "canary-outside-the-repository-4b1d"
ALPHA = "config/clusters/alpha"
CLUSTER_YAML = f"{ALPHA}/cluster.yaml"
CHART = "helm-charts/testhub"
TIMEOUT = 180.0
AGE_SECRET = next(
    line.strip() for line in AGE_KEY.read_text().splitlines() if line.startswith("AGE-SECRET-KEY")
)


# ------------------------------------------------------------------ the fleet's secrets


@functools.cache
def fleet_secrets() -> tuple[str, ...]:
    """The age key and every decrypted secret value of the test fleet (decrypted by sops;
    the test fleet's secret values all hold SECRET_MARKER, its other decrypted values,
    such as a project id, are public)."""
    values = decrypted_leaves(TEST_FLEET / "config/clusters", AGE_KEY)
    return tuple(sorted({AGE_SECRET} | {v for v in values if SECRET_MARKER in v}))


# ------------------------------------------------------------------ running the CLI


@dataclass(frozen=True)
class Run:
    argv: Sequence[str]
    exit: int
    output: str


@dataclass
class World:
    """A hostile fleet's surroundings: the fleet, what lies outside it, the cache."""

    tmp: Path
    fleet: Path
    outside: Path
    cache: Path
    fakes_path: str

    def run(self, *args: str | Path, env: dict[str, str] | None = None) -> Run:
        argv = [sys.executable, "-m", "hubfleet", "--repo", str(self.fleet), *map(str, args)]
        environment = {
            **os.environ,
            "PATH": self.fakes_path,
            "SOPS_AGE_KEY_FILE": str(AGE_KEY),
            "SOPS_AGE_KEY": AGE_SECRET,  # as the generated deploy step sets it
            "SOPS_DISABLE_VERSION_CHECK": "1",
            "HUBFLEET_CHART_CACHE": str(self.cache),
            "HUBFLEET_JSONNET_TIMEOUT": "10",
            "NO_COLOR": "1",
            "COLUMNS": "200",
            **(env or {}),
        }
        done = subprocess.run(
            argv,
            cwd=self.tmp,
            env=environment,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        return Run(argv, done.returncode, done.stdout + done.stderr)


@pytest.fixture
def world(tmp_path: Path) -> World:
    fleet = tmp_path / "fleet"
    shutil.copytree(TEST_FLEET, fleet, symlinks=False)
    outside = tmp_path / "outside"
    outside.mkdir()
    # What a link could lead to: a template, a values file, a chart, a note, all canaries.
    (outside / "configmap.yaml").write_text(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stolen\ndata:\n  x: {CANARY}\n"
    )
    (outside / "values.yaml").write_text(f"stolen: {CANARY}\n")
    (outside / "note.txt").write_text(f"{CANARY}\n")
    shutil.copytree(fleet / CHART, outside / "testhub")
    shutil.copyfile(outside / "configmap.yaml", outside / "testhub/templates/stolen.yaml")
    shutil.copytree(fleet / CHART / "templates", outside / "templates")
    shutil.copyfile(outside / "configmap.yaml", outside / "templates/stolen.yaml")
    dep = outside / "dep"
    (dep / "templates").mkdir(parents=True)
    (dep / "Chart.yaml").write_text("apiVersion: v2\nname: dep\nversion: 0.1.0\n")
    shutil.copyfile(outside / "configmap.yaml", dep / "templates/stolen.yaml")
    fakes = install_fakes(tmp_path)
    return World(tmp_path, fleet, outside, tmp_path / "chart-cache", fakes.path)


def _files(root: Path) -> dict[Path, bytes]:
    found: dict[Path, bytes] = {}
    if not root.exists():
        return found
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = Path(dirpath, name)
            if path.is_file() and not path.is_symlink():
                found[path] = path.read_bytes()
    return found


def _written(world: World, before: dict[Path, bytes]) -> dict[Path, bytes]:
    """Every file under the test's folder that is new or changed, outside excluded
    (the fleet's own files are compared too: nothing may write into it)."""
    now = _files(world.tmp)
    return {
        path: content
        for path, content in now.items()
        if before.get(path) != content and world.outside not in path.parents
    }


def assert_clean(world: World, runs: Sequence[Run], before: dict[Path, bytes]) -> None:
    """No canary and no secret in any output or in any file written."""
    secrets = fleet_secrets()
    for run in runs:
        label = f"{run.argv[4:]} exit {run.exit}:\n{run.output[-3000:]}"
        assert CANARY not in run.output, label
        assert not find_secrets(run.output.encode(), secrets), label
    for path, content in _written(world, before).items():
        assert CANARY.encode() not in content, path
        assert AGE_SECRET.encode() not in content, path
        assert not find_secrets(content, secrets), path


def assert_refused(run: Run, where: str, fragment: str) -> None:
    """Exit 2 with the refusal at `where`; `deploy` refuses a fleet that does not load
    (exit 2) and reads a release's chart and values in the release's job, which fails
    with the refusal (exit 1, as for any broken file of one hub: the corpus's documented
    outcome), the other clusters unharmed."""
    label = f"{run.argv[4:]} exit {run.exit}:\n{run.output[-3000:]}"
    assert run.exit in ((1, 2) if "deploy" in run.argv[5:6] else (2,)), label
    assert "Traceback" not in run.output and "internal error" not in run.output, label
    assert fragment in run.output, label
    assert re.search(where + r":", run.output), label
    assert "hint:" in run.output, label


def every_command(world: World, *, hub: str = "staging") -> list[Run]:
    export = world.tmp / "export"
    runs = [
        world.run("validate", "alpha"),
        world.run("render", "alpha", hub),
        world.run("deploy", "--dry-run", "alpha", hub),
        world.run("export", "alpha", hub, export),
    ]
    assert not export.exists() or not any(export.iterdir()), "export wrote files"
    return runs


def check_case(world: World, build: Callable[[World], None], where: str, fragment: str) -> None:
    build(world)
    before = _files(world.tmp)
    runs = every_command(world)
    for run in runs:
        assert_refused(run, where, fragment)
    assert_clean(world, runs, before)


# ------------------------------------------------------------------ building cases


def link(relative: str, target: Path | str) -> Callable[[World], None]:
    def build(world: World) -> None:
        path = world.fleet / relative
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif os.path.lexists(path):
            path.unlink()
        os.symlink(target, path)

    return build


def add_dependency(repository: str) -> Callable[[World], None]:
    def build(world: World) -> None:
        chart = world.fleet / CHART / "Chart.yaml"
        text = chart.read_text()
        assert "dependencies:\n" in text
        entry = f"  - name: dep\n    version: 0.1.0\n    repository: {repository}\n"
        chart.write_text(text.replace("dependencies:\n", "dependencies:\n" + entry, 1))

    return build


def values_entry(entry: str) -> Callable[[World], None]:
    """The staging hub's first values file is replaced by `entry` (YAML, as written)."""

    def build(world: World) -> None:
        path = world.fleet / CLUSTER_YAML
        text = path.read_text()
        old = "  - common.values.yaml\n  - staging.values.yaml\n"
        assert old in text
        path.write_text(text.replace(old, f"  - {entry}\n  - staging.values.yaml\n", 1))

    return build


def jsonnet(source: str, extra: Callable[[World], None] | None = None) -> Callable[[World], None]:
    def build(world: World) -> None:
        values_entry("staging.jsonnet")(world)
        (world.fleet / ALPHA / "staging.jsonnet").write_text(source)
        if extra is not None:
            extra(world)

    return build


CLUSTER_LINE = re.escape(CLUSTER_YAML) + r":16"  # the staging hub's first values file


# ------------------------------------------------------------------ local charts


def test_a_chart_file_linked_outside_is_refused_at_the_link(world: World) -> None:
    check_case(
        world,
        link(f"{CHART}/templates/configmap.yaml", world.outside / "configmap.yaml"),
        re.escape(f"{CHART}/templates/configmap.yaml") + ":1",
        "link pointing outside the repository",
    )


def test_a_templates_folder_linked_outside_is_refused_at_the_link(world: World) -> None:
    check_case(
        world,
        link(f"{CHART}/templates", world.outside / "templates"),
        re.escape(f"{CHART}/templates") + ":1",
        "link pointing outside the repository",
    )


def test_a_chart_folder_linked_outside_is_refused_at_the_link(world: World) -> None:
    check_case(
        world,
        link(CHART, world.outside / "testhub"),
        re.escape(CHART) + ":1",
        "link pointing outside the repository",
    )


def test_a_relative_link_climbing_out_is_refused(world: World) -> None:
    check_case(
        world,
        link(f"{CHART}/values.yaml", "../../../outside/values.yaml"),
        re.escape(f"{CHART}/values.yaml") + ":1",
        "link pointing outside the repository",
    )


def test_a_file_dependency_outside_the_repository_is_refused(world: World) -> None:
    check_case(
        world,
        add_dependency("file://../../../outside/dep"),
        re.escape(f"{CHART}/Chart.yaml") + r":\d+",
        "points outside the repository",
    )


def test_a_file_dependency_whose_folder_is_a_link_out_is_refused(world: World) -> None:
    def build(world: World) -> None:
        add_dependency("file://../dep")(world)
        os.symlink(world.outside / "dep", world.fleet / "helm-charts/dep")

    check_case(
        world, build, re.escape("helm-charts/dep") + ":1", "link pointing outside the repository"
    )


def test_a_chart_file_linked_to_proc_self_environ_shows_no_key(world: World) -> None:
    """The deploy step sets SOPS_AGE_KEY: a template linked to /proc/self/environ would
    show it in render and validate and put it in the chart cache's build."""
    check_case(
        world,
        link(f"{CHART}/templates/environ.yaml", "/proc/self/environ"),
        re.escape(f"{CHART}/templates/environ.yaml") + ":1",
        "outside the repository",
    )
    assert not any(AGE_SECRET.encode() in c for c in _files(world.cache).values())


def test_a_fifo_in_a_chart_is_refused_without_a_hang(world: World) -> None:
    def build(world: World) -> None:
        os.mkfifo(world.fleet / CHART / "templates/fifo.yaml")

    check_case(world, build, re.escape(f"{CHART}/templates/fifo.yaml") + ":1", "FIFO")


def test_a_link_inside_the_repository_is_followed_and_built_as_a_file(world: World) -> None:
    """Links that stay inside are fine: the build holds the file's content, no link."""
    values = world.fleet / CHART / "values.yaml"
    (world.fleet / "shared-values.yaml").write_bytes(values.read_bytes())
    values.unlink()
    os.symlink("../../shared-values.yaml", values)
    run = world.run("render", "alpha", "staging")
    assert run.exit == 0, run.output
    builds = list((world.cache / "built").iterdir())
    assert builds
    assert not any(p.is_symlink() for b in builds for p in b.rglob("*"))


def test_a_chart_override_linked_outside_is_refused(world: World) -> None:
    def build(world: World) -> None:
        path = world.fleet / CLUSTER_YAML
        text = path.read_text()
        path.write_text(
            text.replace(
                "- name: staging\n", "- name: staging\n  chart_override: override/Chart.yaml\n", 1
            )
        )
        (world.fleet / ALPHA / "override").mkdir()
        os.symlink(
            world.outside / "testhub/Chart.yaml", world.fleet / ALPHA / "override/Chart.yaml"
        )

    build(world)
    before = _files(world.tmp)
    runs = [world.run("validate", "alpha"), world.run("render", "alpha", "staging")]
    for run in runs:
        assert_refused(run, re.escape(CLUSTER_YAML) + r":\d+", "outside the repository")
    assert_clean(world, runs, before)


# ------------------------------------------------------------------ paths from config


def test_a_nul_byte_in_a_values_path_is_an_error_at_its_line(world: World) -> None:
    check_case(world, values_entry('"a\\0b.values.yaml"'), CLUSTER_LINE, "NUL byte")


def test_git_config_listed_as_values_is_refused_everywhere(world: World) -> None:
    """`../../../.git/config` names a file inside the repository, but under .git/."""

    def build(world: World) -> None:
        subprocess.run(["git", "init", "-q", str(world.fleet)], check=True)
        with (world.fleet / ".git/config").open("a") as handle:
            handle.write(f"[canary]\n\tvalue = {CANARY}\n")
        values_entry("../../../.git/config")(world)

    check_case(world, build, CLUSTER_LINE, ".git/")


# ------------------------------------------------------------------ the chart cache


def test_a_chart_cache_at_dev_null_is_exit_2_with_its_path(world: World) -> None:
    for args in (("validate", "alpha"), ("render", "alpha", "staging")):
        run = world.run(*args, env={"HUBFLEET_CHART_CACHE": "/dev/null"})
        label = run.output[-2000:]
        assert run.exit == 2, label
        assert "Traceback" not in run.output and "internal error" not in run.output, label
        assert "chart cache /dev/null" in run.output and "hint:" in run.output, label


@contextlib.contextmanager
def tmpfs(where: Path, options: str) -> Iterator[None]:
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", str(where)], check=False)


@pytest.mark.parametrize(("options", "reason"), [("size=16k", "space"), ("ro,size=1m", "read")])
def test_a_full_or_read_only_chart_cache_is_exit_2(world: World, options: str, reason: str) -> None:
    cache = world.tmp / "small-cache"
    with tmpfs(cache, options):
        run = world.run("render", "alpha", "staging", env={"HUBFLEET_CHART_CACHE": str(cache)})
    label = run.output[-2000:]
    assert run.exit == 2, label
    assert "Traceback" not in run.output and "internal error" not in run.output, label
    assert f"chart cache {cache}" in run.output and reason in run.output.lower(), label
    assert "hint:" in run.output, label


def test_an_unusable_cache_is_a_chart_error_at_the_os_boundary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a mount: the build's first write fails with ENOSPC."""
    chart = tmp_path / "fleet/helm-charts/c"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: c\nversion: 0.1.0\n")
    real_open = os.open

    def full(path: object, flags: int, *args: object, **kwargs: object) -> int:
        if flags & os.O_CREAT and "cache" in str(path):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(charts_module.os, "open", full)
    resolver = ChartResolver(cache_dir=tmp_path / "cache", root=tmp_path / "fleet")
    with pytest.raises(
        ConfigError, match=r"chart cache .*cache cannot be used: No space left"
    ) as e:
        resolver.resolve(ChartSource("c", local_dir=chart))
    assert e.value.hint and "HUBFLEET_CHART_CACHE" in e.value.hint
    assert not list((tmp_path / "cache").rglob("*.yaml"))


# ------------------------------------------------------------------ jsonnet imports


def test_jsonnet_importstr_of_a_missing_file_is_an_error_at_the_import(world: World) -> None:
    check_case(
        world,
        jsonnet("local x = 1;\n{ a: importstr 'nope.txt' }\n"),
        re.escape(f"{ALPHA}/staging.jsonnet") + ":2",
        "no such file",
    )


def test_jsonnet_importstr_outside_the_repository_is_an_error(world: World) -> None:
    check_case(
        world,
        jsonnet("{\n  a: importstr '../../../../outside/note.txt',\n}\n"),
        re.escape(f"{ALPHA}/staging.jsonnet") + ":2",
        "only files in the repository",
    )


def test_jsonnet_importstr_of_a_link_out_is_an_error(world: World) -> None:
    def plant(world: World) -> None:
        os.symlink(world.outside / "note.txt", world.fleet / ALPHA / "note.txt")

    check_case(
        world,
        jsonnet("{ a: importstr 'note.txt' }\n", plant),
        re.escape(f"{ALPHA}/staging.jsonnet") + ":1",
        "only files in the repository",
    )


def test_jsonnet_importbin_of_a_fifo_is_an_error(world: World) -> None:
    def plant(world: World) -> None:
        os.mkfifo(world.fleet / ALPHA / "pipe.bin")

    check_case(
        world,
        jsonnet("{ a: importbin 'pipe.bin' }\n", plant),
        re.escape(f"{ALPHA}/staging.jsonnet") + ":1",
        "FIFO",
    )


# ------------------------------------------------------------------ export


def test_export_refuses_a_broken_mac_as_render_does(world: World) -> None:
    def build(world: World) -> None:
        path = world.fleet / ALPHA / "enc-staging.secret.values.yaml"
        text = path.read_text()
        path.write_text("extra_unencrypted: added-by-hand\n" + text)

    build(world)
    before = _files(world.tmp)
    export = world.tmp / "export"
    runs = [
        world.run("render", "alpha", "staging"),
        world.run("export", "alpha", "staging", export),
    ]
    for run in runs:
        assert_refused(run, re.escape(f"{ALPHA}/enc-staging.secret.values.yaml") + ":1", "MAC")
    assert not export.exists()
    assert_clean(world, runs, before)


def test_export_refuses_a_destination_inside_the_repository(world: World) -> None:
    before = _files(world.tmp)
    run = world.run("export", "alpha", "staging", world.fleet / "exported")
    assert run.exit == 2 and "inside the fleet repository" in run.output, run.output
    assert "Traceback" not in run.output and "hint:" in run.output
    assert not (world.fleet / "exported").exists()
    assert_clean(world, [run], before)


def test_export_refuses_a_destination_that_is_a_link(world: World) -> None:
    (world.fleet / "inside").mkdir()
    destination = world.tmp / "dest"
    os.symlink(world.fleet / "inside", destination)
    before = _files(world.tmp)
    run = world.run("export", "alpha", "staging", destination)
    assert run.exit == 2 and "is a link" in run.output, run.output
    assert "Traceback" not in run.output and "hint:" in run.output
    assert not any((world.fleet / "inside").iterdir())
    assert_clean(world, [run], before)


def test_export_decrypt_refuses_any_git_working_tree(world: World) -> None:
    work = world.tmp / "work"
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    destination = work / "deep/export"
    before = _files(world.tmp)
    run = world.run(
        "export", "alpha", "staging", destination, "--decrypt", "--i-understand-plaintext"
    )
    assert run.exit == 2 and "git working tree" in run.output, run.output
    assert "Traceback" not in run.output and "hint:" in run.output
    assert not destination.exists()
    assert_clean(world, [run], before)


def test_export_decrypt_outside_a_git_tree_still_works(world: World) -> None:
    destination = world.tmp / "plain/export"
    run = world.run(
        "export", "alpha", "staging", destination, "--decrypt", "--i-understand-plaintext"
    )
    assert run.exit == 0, run.output


# ------------------------------------------------------------------ render --output-dir


def test_render_output_dir_never_follows_a_planted_link(world: World) -> None:
    out = world.tmp / "out"
    first = world.run("render", "alpha", "staging", "--output-dir", out)
    assert first.exit == 0, first.output
    target = next(p for p in out.rglob("*.yaml") if p.is_file())
    victim = world.outside / "victim.txt"
    victim.write_text("untouched\n")
    target.unlink()
    os.symlink(victim, target)
    second = world.run("render", "alpha", "staging", "--output-dir", out)
    assert second.exit == 0, second.output
    assert victim.read_text() == "untouched\n"
    assert target.is_file() and not target.is_symlink()


def test_render_output_dir_refuses_a_linked_folder(world: World) -> None:
    out = world.tmp / "out"
    os.symlink(world.outside, out)
    run = world.run("render", "alpha", "staging", "--output-dir", out)
    assert run.exit == 2 and "is a link" in run.output, run.output
    assert "Traceback" not in run.output and "hint:" in run.output
    inner = world.tmp / "out2"
    first = world.run("render", "alpha", "staging", "--output-dir", inner)
    assert first.exit == 0, first.output
    folder = next(p for p in inner.rglob("*") if p.is_dir())
    shutil.rmtree(folder)
    os.symlink(world.outside, folder)
    again = world.run("render", "alpha", "staging", "--output-dir", inner)
    assert again.exit == 2 and "is a link" in again.output, again.output
    assert sorted(p.name for p in world.outside.iterdir()) == sorted(
        ["configmap.yaml", "values.yaml", "note.txt", "testhub", "templates", "dep"]
    )


# ------------------------------------------------------------------ unit level


READS = 2000


def test_a_link_swapped_in_a_loop_is_never_read_outside(tmp_path: Path) -> None:
    """A thread swaps `values.yaml` between a link to a file inside and a link outside
    while the reader reads it 2000 times, threads switching as often as Python allows:
    every read is the inside content or a refusal. (The reader that resolved a path,
    checked it and resolved it again to open it read the outside file 1 to 6 times in
    2000 reads here.)"""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "inside.yaml").write_text("inside: true\n")
    (tmp_path / "outside.yaml").write_text(f"stolen: {CANARY}\n")
    stop = threading.Event()

    def swap() -> None:
        spare = repo / "swap.tmp"
        while not stop.is_set():
            for target in (tmp_path / "outside.yaml", repo / "inside.yaml"):
                with contextlib.suppress(FileNotFoundError):
                    spare.unlink()
                os.symlink(target, spare)
                os.replace(spare, repo / "values.yaml")

    swapper = threading.Thread(target=swap, daemon=True)
    (repo / "values.yaml").symlink_to(repo / "inside.yaml")
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    swapper.start()
    read = refused = 0
    try:
        for _ in range(READS):
            try:
                content = read_fleet_file(repo, "values.yaml")
            except ConfigError as exc:
                assert "outside the repository" in str(exc)
                refused += 1
                continue
            assert content == b"inside: true\n"
            read += 1
    finally:
        stop.set()
        swapper.join()
        sys.setswitchinterval(interval)
    print(f"\nswap race: {read} reads of the inside file, {refused} refusals, 0 outside")
    assert read + refused == READS
    assert read > 0 and refused > 0  # the swap did race the reads


def test_the_confined_opener_refuses_each_kind(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / ".git/config").write_text("x")
    (repo / "a").mkdir()
    (repo / "a/f.yaml").write_text("ok: 1\n")
    os.symlink(tmp_path, repo / "up")
    os.symlink("a", repo / "alias")
    root = Root(repo)
    assert root.read_file("alias/f.yaml", limit=100) == b"ok: 1\n"
    assert root.read_file("a/../a/f.yaml", limit=100) == b"ok: 1\n"
    for path, kind in (
        (".git/config", "git"),
        ("a/../.git/config", "git"),
        ("../x", "outside"),
        ("up/repo/a/f.yaml", "link"),
        ("/etc/passwd", "absolute"),
        ("a\0b", "nul"),
        ("a/nope", "missing"),
        ("a", "folder"),
    ):
        with pytest.raises(Exception) as caught:
            root.read_file(path, limit=100)
        assert getattr(caught.value, "kind", None) == kind, (path, caught.value)


def test_handoff_files_are_bounded_and_never_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "plan.json"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="FIFO"):
        read_handoff(fifo)
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 2000)
    with pytest.raises(OSError, match="over the limit"):
        read_handoff(big, limit=1000)


def test_write_beneath_refuses_to_leave_its_folder(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="leaves the folder"):
        write_beneath(tmp_path / "out", "../escape.yaml", b"x")
    assert not (tmp_path / "escape.yaml").exists()
