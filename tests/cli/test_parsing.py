"""The command line as argparse reads it (`hubfleet.cli.spec`): the contract typer
kept (options, arguments, defaults, help texts, usage errors exit 2 naming the word),
checked for every command from the commands' own parameter tables."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import pytest

from hubfleet.cli import spec
from hubfleet.cli.commands import COMMANDS, TABLE, register
from hubfleet.cli.spec import Argument, Context, Option, Param, UsageError, params

HERE = Path(__file__).parent


def _commands() -> list[tuple[tuple[str, ...], Any]]:
    """Every runnable command: its words after `hubfleet`, and its function."""
    found: list[tuple[tuple[str, ...], Any]] = []
    for name, target in register(COMMANDS).items():
        if isinstance(target, spec.Group):
            found += [((name, sub), c.function) for sub, c in target.commands.items()]
        else:
            found.append(((name,), target))
    return found


COMMAND_LIST = _commands()
IDS = [" ".join(words) for words, _ in COMMAND_LIST]


def _flat(text: str) -> str:
    return " ".join(text.split())


def _names(param: Param) -> list[str]:
    if isinstance(param.spec, Argument):
        return [param.spec.metavar or param.name.upper()]
    on, off = param.option_names
    return [*on, *off]


def test_every_command_is_listed() -> None:
    assert len(COMMAND_LIST) >= len(TABLE)  # groups count their subcommands
    assert {words[0] for words, _ in COMMAND_LIST} == set(TABLE)


@pytest.mark.parametrize(("words", "function"), COMMAND_LIST, ids=IDS)
def test_help_lists_every_parameter_of_the_command(run_cli, words, function) -> None:  # type: ignore[no-untyped-def]
    """Generated from the command's own parameters: a new option cannot be missed."""
    result = run_cli(*words, "--help")
    assert result.exit_code == 0, result.output
    shown = _flat(result.stdout)
    assert shown.startswith(f"usage: hubfleet {' '.join(words)}")
    assert _flat(spec.first_paragraph(function.__doc__)) in shown
    for param in params(function)[1]:
        for name in _names(param):
            assert name in shown, (words, name)
        if param.spec.help:
            assert _flat(param.spec.help) in shown, (words, param.name)


@pytest.mark.parametrize(("words", "function"), COMMAND_LIST, ids=IDS)
def test_a_wrong_option_exits_2_naming_it(run_cli, words, function) -> None:  # type: ignore[no-untyped-def]
    """Before any missing argument or any work: one line naming the option."""
    result = run_cli(*words, "--no-such-option-here")
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert "no such option: --no-such-option-here" in lines[0]
    assert f"hubfleet {' '.join(words)} --help" in lines[0]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--bogus"], "no such option: --bogus"),
        (["--repo"], "--repo requires an argument"),
        (["nosuch"], "no such command 'nosuch'"),
        (["ci", "nosuch"], "hubfleet ci: no such command 'nosuch'"),
        (["ci", "--bogus"], "hubfleet ci: no such option: --bogus"),
        (["plan", "--output", "yaml"], "argument --output/-o: invalid choice: 'yaml'"),
        (["deploy", "--concurrency", "0"], "--concurrency: 0 is not in the range x>=1"),
        (["deploy", "--concurrency", "x"], "--concurrency: 'x' is not an integer"),
        (["render", "c1"], "missing argument: HUB"),
        (["render", "c1", "h1", "extra"], "unexpected extra argument: extra"),
        (["schema", "nosuch"], "argument KIND: invalid choice: 'nosuch'"),
        (["ci", "matrix"], "required: --plan"),
        (["plan", "--base"], "argument --base: expected one argument"),
    ],
)
def test_usage_errors_exit_2_with_one_line(run_cli, args: list[str], words: str) -> None:  # type: ignore[no-untyped-def]
    result = run_cli(*args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and words in lines[0], lines
    assert lines[0].startswith("error: hubfleet") and "Traceback" not in result.output


def test_no_command_shows_the_help_as_a_usage_error(run_cli) -> None:  # type: ignore[no-untyped-def]
    bare = run_cli()
    assert bare.exit_code == 2 and "commands:" in bare.stdout
    group = run_cli("terraform")
    assert group.exit_code == 2 and "commands:" in group.stdout and "vars" in group.stdout
    assert run_cli("terraform", "--help").exit_code == 0


def test_hidden_commands_run_but_are_not_listed(run_cli) -> None:  # type: ignore[no-untyped-def]
    listed = run_cli("ci", "--help").stdout
    assert "\n  init " in listed and "\n  matrix " not in listed
    assert run_cli("ci", "matrix", "--help").exit_code == 0


def test_plan_help_says_what_typer_said() -> None:
    """The option names and help strings `hubfleet plan --help` had under typer."""
    golden = json.loads((HERE / "plan_help_typer.json").read_text())
    from hubfleet.cli.plan import command

    shown = _flat(spec.help_parser("hubfleet plan", command).format_help())
    assert golden["help"] in shown
    found = params(command)[1]
    assert len(found) == len(golden["options"])
    for option in golden["options"]:
        for name in option["names"]:
            assert name in shown, name
        assert _flat(option["help"]) in shown, option["names"]
    by_names = {tuple(sorted(p.option_names[0])): p for p in found}
    for option in golden["options"]:
        param = by_names[tuple(sorted(option["names"]))]
        assert param.default in (option["default"], False), option["names"]


# -- the reading itself, on small commands ------------------------------------------


class Colour(StrEnum):
    red = "red"
    blue = "blue"


def _probe(
    ctx: Context,
    cluster: Annotated[str, Argument(help="The cluster.")],
    hubs: Annotated[list[str] | None, Argument(help="Hubs.")] = None,
    dry_run: Annotated[bool, Option("--dry-run", help="Do nothing.")] = False,
    render: Annotated[bool, Option("--render/--no-render", help="Render.")] = True,
    count: Annotated[int, Option("--count", "-c", min=1, max=5, help="How many.")] = 2,
    tags: Annotated[list[str] | None, Option("--tag", help="Repeatable.")] = None,
    colour: Annotated[Colour, Option("--colour", help="A colour.")] = Colour.red,
    where: Annotated[Path | None, Option("--where", envvar="PROBE_WHERE", help="A path.")] = None,
    level: Annotated[int, Option(min=0, help="Derived name.")] = 0,
) -> None:
    """Probe."""
    ctx.obj.update(locals())


def _read(*args: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    spec.run(_probe, "probe", list(args), Context(obj=seen))
    seen.pop("ctx")
    return seen


def test_defaults_and_types() -> None:
    assert _read("c1") == {
        "cluster": "c1",
        "hubs": None,
        "dry_run": False,
        "render": True,
        "count": 2,
        "tags": None,
        "colour": Colour.red,
        "where": None,
        "level": 0,
    }
    seen = _read("c1", "--no-render", "-c", "5", "--tag", "a", "--tag=b", "--colour", "blue")
    assert (seen["render"], seen["count"], seen["tags"]) == (False, 5, ["a", "b"])
    assert seen["colour"] is Colour.blue


def test_options_and_arguments_in_any_order_and_words_after_the_double_dash() -> None:
    assert _read("c1", "h1", "--dry-run", "h2")["hubs"] == ["h1", "h2"]
    assert _read("--dry-run", "c1", "h1")["dry_run"] is True
    seen = _read("c1", "--", "-h", "--dry-run", "--")
    assert (seen["hubs"], seen["dry_run"]) == (["-h", "--dry-run", "--"], False)
    assert _read("--", "-c1")["cluster"] == "-c1"


def test_help_is_eager_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(spec.Exit) as done:
        _read("--count", "9", "--help")  # a bad value before it: still the help
    assert done.value.code == 0
    out = _flat(capsys.readouterr().out)
    assert "--count COUNT" not in out  # metavar from the type, as typer
    assert "--count INTEGER, -c INTEGER How many. [default: 2] [1<=x<=5]" in out
    assert "--render Render. [default: render] --no-render The opposite of --render." in out
    assert "CLUSTER The cluster. [required]" in out
    assert "--level INTEGER Derived name. [default: 0] [x>=0]" in out  # 0 is a default too


def test_environment_variable_gives_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROBE_WHERE", "/x")
    assert _read("c1")["where"] == Path("/x")
    assert _read("c1", "--where", "/y")["where"] == Path("/y")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["c1", "-c", "6"], "argument --count/-c: 6 is not in the range 1<=x<=5"),
        (["c1", "--colour", "green"], "invalid choice: 'green'"),
        (["c1", "--cou", "2"], "no such option: --cou"),  # no prefixes (click had none)
        (["--dry-run"], "missing argument: CLUSTER"),
        (["c1", "--tag"], "argument --tag: expected one argument"),
    ],
)
def test_usage_errors_name_the_word(args: list[str], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        _read(*args)
    assert message in str(caught.value)
    assert str(caught.value).startswith("probe: ") and "'probe --help'" in str(caught.value)
