"""How a command declares its parameters, and the stdlib `argparse` parser made of them.

A command is a plain function; each parameter is annotated
`Annotated[type, Option("--name", help=...)]` or `Annotated[type, Argument(help=...)]`
(the shape typer used, so the declarations, help texts and defaults stayed as they
were), and a parameter typed `Context` gets the run's context. `parser_for(command)`
reads the signature once and builds its `argparse` parser; `run(command, args, ctx)`
parses `args` and calls the function. Types: `str`, `int`, `float`, `Path`, `bool`
(a flag, or `--x/--no-x`), a `StrEnum` (its values are the choices), `X | None` and
`list[X]` (a repeatable option, or an argument taking the remaining words).

A usage error (unknown option, missing or invalid value) raises `UsageError`, which
the entry point prints as one line naming the option (exit 2). argparse is imported
only here, when a command runs or its help is asked for.
"""

from __future__ import annotations

import argparse
import enum
import inspect
import os
import sys
import textwrap
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

# The help of every parser: paragraphs as written in the docstrings, options wrapped.
WIDTH = 100


class Exit(Exception):
    """End the command with `code` (0: success)."""

    def __init__(self, code: int = 0) -> None:
        super().__init__(code)
        self.code = code


class UsageError(Exception):
    """A command line that does not fit the command: exit 2, one line."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(f"{prog}: {message} (see '{prog} --help')")


@dataclass(frozen=True)
class Option:
    """An option: its names (default `--<parameter-name>`; `--x/--no-x` for a pair)."""

    names: tuple[str, ...]
    help: str | None = None
    metavar: str | None = None
    envvar: str | None = None
    min: int | None = None
    max: int | None = None
    show_default: bool = True

    def __init__(
        self,
        *names: str,
        help: str | None = None,
        metavar: str | None = None,
        envvar: str | None = None,
        min: int | None = None,
        max: int | None = None,
        show_default: bool = True,
    ) -> None:
        for key, value in locals().items():
            if key != "self":
                object.__setattr__(self, key, value)


@dataclass(frozen=True)
class Argument:
    """A positional argument (required unless it has a default)."""

    help: str | None = None
    metavar: str | None = None
    show_default: bool = True


@dataclass
class Context:
    """What a command is handed: the global options (`obj`, the root's), its path."""

    obj: Any = None
    parent: Context | None = None
    command_path: str = "hubfleet"

    def find_root(self) -> Context:
        context = self
        while context.parent is not None:
            context = context.parent
        return context


@dataclass(frozen=True)
class Command:
    """A command of a group: its name, function and whether `--help` lists it."""

    name: str
    function: Callable[..., Any]
    hidden: bool = False

    @property
    def summary(self) -> str:
        return first_paragraph(self.function.__doc__)


@dataclass
class Group:
    """A command with subcommands (`hubfleet ci`, `hubfleet terraform`, ...)."""

    help: str = ""
    no_args_is_help: bool = True
    commands: dict[str, Command] = field(default_factory=dict)

    def command(
        self, name: str | None = None, *, hidden: bool = False
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register the decorated function as the subcommand `name` (default: the
        function's name, `_` as `-`)."""

        def add(function: Callable[..., Any]) -> Callable[..., Any]:
            key = name or function.__name__.replace("_", "-")
            self.commands[key] = Command(key, function, hidden)
            return function

        return add


def first_paragraph(doc: str | None) -> str:
    return inspect.cleandoc(doc or "").split("\n\n")[0]


# -- parameters -------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One parameter of a command, read from its signature."""

    name: str
    kind: type  # str, int, float, Path, bool or a StrEnum
    many: bool  # list[...]
    spec: Option | Argument
    default: Any  # inspect.Parameter.empty: required

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty

    @property
    def option_names(self) -> tuple[list[str], list[str]]:
        """The option's names, and its `--no-x` names for a pair."""
        assert isinstance(self.spec, Option)
        names = list(self.spec.names) or [f"--{self.name.replace('_', '-')}"]
        if self.kind is bool and not self.spec.names:
            return names, [f"--no-{self.name.replace('_', '-')}"]
        on: list[str] = []
        off: list[str] = []
        for name in names:
            first, _, second = name.partition("/")
            on.append(first)
            if second:
                off.append(second)
        return on, off


def params(function: Callable[..., Any]) -> tuple[str | None, list[Param]]:
    """The name of the function's `Context` parameter (if any) and its other parameters."""
    hints = typing.get_type_hints(function, include_extras=True)
    context_name = None
    found: list[Param] = []
    for name, parameter in inspect.signature(function).parameters.items():
        hint = hints[name]
        if hint is Context:
            context_name = name
            continue
        # as typer read them: a bare parameter without a default is an argument
        spec: Option | Argument = (
            Argument() if parameter.default is inspect.Parameter.empty else Option()
        )
        if typing.get_origin(hint) is typing.Annotated:
            hint, *extras = typing.get_args(hint)
            spec = next((e for e in extras if isinstance(e, Option | Argument)), spec)
        kind, many = _unwrap(hint)
        found.append(Param(name, kind, many, spec, parameter.default))
    return context_name, found


def _unwrap(hint: Any) -> tuple[type, bool]:
    """`X | None` -> X, `list[X]` -> (X, True)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        (hint,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint)
        return item, True
    if not isinstance(hint, type):
        raise TypeError(f"unsupported parameter type {hint!r}")
    return hint, False


# -- parsing ----------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse with its errors raised (as `UsageError`), not printed and exited."""

    def error(self, message: str) -> NoReturn:
        extra = message.removeprefix("unrecognized arguments: ")
        if extra != message:  # name the first word that fits nowhere, as click did
            word = extra.split()[0]
            kind = "no such option" if word.startswith("-") else "unexpected extra argument"
            message = f"{kind}: {word}"
        raise UsageError(self.prog, message)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Docstrings as written; option help wrapped at spaces only (an option name such
    as `--name-status` or a word such as `comma-separated` stays whole)."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32, width=WIDTH)

    def _split_lines(self, text: str, width: int) -> list[str]:
        words = " ".join(text.split())
        return textwrap.wrap(words, width, break_on_hyphens=False, break_long_words=False)


def new_parser(prog: str, description: str | None, **kwargs: Any) -> argparse.ArgumentParser:
    return _Parser(
        prog=prog,
        description=description,
        formatter_class=_Formatter,
        allow_abbrev=False,
        **kwargs,
    )


def _convert(kind: type, low: int | None, high: int | None) -> Callable[[str], Any]:
    if kind is int:

        def integer(text: str) -> int:
            try:
                value = int(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
            if (low is not None and value < low) or (high is not None and value > high):
                raise argparse.ArgumentTypeError(f"{value} is not in the range {_range(low, high)}")
            return value

        return integer
    if kind is float:

        def number(text: str) -> float:
            try:
                return float(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None

        return number
    return Path if kind is Path else str


def _range(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"{low}<=x<={high}"
    return f"x>={low}" if low is not None else f"x<={high}"


def _notes(param: Param) -> str:
    """What typer added after an option's help: its default, env var, range, required."""
    spec = param.spec
    notes: list[str] = []
    default = param.default
    if isinstance(spec, Option) and spec.envvar:
        notes.append(f"env var: {spec.envvar}")
    empty = default is None or default is False or default is inspect.Parameter.empty
    shown = spec.show_default and not empty and default != []  # a default 0 is shown
    if shown and param.kind is bool and isinstance(spec, Option):
        on, off = param.option_names
        shown = bool(off)
        default = (on if default else off)[0].lstrip("-")
    if shown:
        text = default.value if isinstance(default, enum.Enum) else default
        notes.append(f"default: {text}")
    if isinstance(spec, Option) and (spec.min is not None or spec.max is not None):
        notes.append(_range(spec.min, spec.max))
    if param.required:
        notes.append("required")
    return "".join(f" [{note}]" for note in notes)


def add_param(parser: argparse.ArgumentParser, param: Param) -> None:
    """`param` as an argparse argument (its value stored under the parameter's name)."""
    spec = param.spec
    help_text = ((spec.help or "") + _notes(param)).strip().replace("%", "%%") or None
    choices = [member.value for member in param.kind] if issubclass(param.kind, enum.Enum) else None
    low, high = (spec.min, spec.max) if isinstance(spec, Option) else (None, None)
    convert = _convert(param.kind, low, high)
    if isinstance(spec, Argument):
        metavar = spec.metavar or param.name.upper()
        if param.many:
            nargs: str | None = "+" if param.required else "*"
        else:
            nargs = None if param.required else "?"
        default = param.default if not param.required else None
        parser.add_argument(
            param.name,
            metavar=metavar,
            nargs=nargs,
            default=default,
            type=convert,
            choices=choices,
            help=help_text,
        )
        return
    on, off = param.option_names
    default = None if param.required else param.default
    if spec.envvar and os.environ.get(spec.envvar):
        default = _from_env(param, os.environ[spec.envvar], convert)
    required = param.required and default is None
    if param.kind is bool:
        parser.add_argument(
            *on, dest=param.name, action="store_true", default=bool(default), help=help_text
        )
        if off:
            opposite = f"The opposite of {on[0]}."
            parser.add_argument(*off, dest=param.name, action="store_false", help=opposite)
        return
    metavar = spec.metavar or _metavar(param.kind, choices)
    parser.add_argument(
        *on,
        dest=param.name,
        action="append" if param.many else "store",
        default=default,
        type=convert,
        choices=choices,
        metavar=metavar,
        required=required,
        help=help_text,
    )


def _metavar(kind: type, choices: list[str] | None) -> str:
    if choices:
        return "{" + ",".join(choices) + "}"
    return {int: "INTEGER", float: "FLOAT", Path: "PATH"}.get(kind, "TEXT")


def _from_env(param: Param, text: str, convert: Callable[[str], Any]) -> Any:
    try:
        return [convert(text)] if param.many else convert(text)
    except argparse.ArgumentTypeError as exc:
        assert isinstance(param.spec, Option)
        raise UsageError("hubfleet", f"${param.spec.envvar}: {exc}") from None


def help_parser(prog: str, function: Callable[..., Any]) -> argparse.ArgumentParser:
    """The parser whose help is the command's: its docstring, each parameter."""
    parser = new_parser(prog, inspect.cleandoc(function.__doc__ or "") or None)
    for param in params(function)[1]:
        add_param(parser, param)
    return parser


HELP_OPTIONS = ("-h", "--help")
WORDS = "_words"  # where the parsing parser collects every positional word


def run(function: Callable[..., Any], prog: str, args: Sequence[str], ctx: Context) -> None:
    """Parse `args` for the command `function` and call it.

    As click read a command line: options anywhere before `--`, the positional words
    (those before `--`, then every word after it, as they are) given to the arguments
    in order, a list argument taking the rest."""
    context_name, found = params(function)
    words_at = list(args).index("--") if "--" in args else len(args)
    before, after = list(args[:words_at]), list(args[words_at + 1 :])
    if any(word in HELP_OPTIONS for word in before):  # eager, as click's
        sys.stdout.write(help_parser(prog, function).format_help())
        raise Exit(0)
    parser = new_parser(prog, None, add_help=False)
    for param in found:
        if isinstance(param.spec, Option):
            add_param(parser, param)
    parser.add_argument(WORDS, nargs="*")
    _check_options(parser, before)
    parsed = vars(parser.parse_intermixed_args(before))
    words = [*parsed.pop(WORDS), *after]
    parsed.update(_arguments(parser, [p for p in found if isinstance(p.spec, Argument)], words))
    kwargs: dict[str, Any] = {}
    for param in found:
        value = parsed[param.name]
        if issubclass(param.kind, enum.Enum) and value is not None:
            value = [param.kind(v) for v in value] if param.many else param.kind(value)
        kwargs[param.name] = value
    if context_name is not None:
        kwargs[context_name] = ctx
    function(**kwargs)


def _check_options(parser: argparse.ArgumentParser, words: Sequence[str]) -> None:
    """An unknown option is named first, before a missing argument (as click did)."""
    known = parser._option_string_actions  # argparse's own table of option names
    for word in words:
        name = word.split("=", 1)[0]
        negative = parser._negative_number_matcher.match(word)
        if word.startswith("-") and len(word) > 1 and name not in known and not negative:
            parser.error(f"unrecognized arguments: {word}")


def _arguments(
    parser: argparse.ArgumentParser, arguments: list[Param], words: list[str]
) -> dict[str, Any]:
    """The positional words given to the arguments in order, converted and checked."""
    values: dict[str, Any] = {}
    missing: list[str] = []
    for index, param in enumerate(arguments):
        assert isinstance(param.spec, Argument)
        metavar = param.spec.metavar or param.name.upper()
        later_required = sum(p.required and not p.many for p in arguments[index + 1 :])
        if param.many:
            taken, words = (
                words[: len(words) - later_required],
                words[len(words) - later_required :],
            )
        else:
            taken, words = words[:1], words[1:]
        if not taken:
            if param.required:
                missing.append(metavar)
            values[param.name] = None if param.required else param.default
            continue
        converted = [_converted(parser, param, metavar, word) for word in taken]
        values[param.name] = converted if param.many else converted[0]
    if missing:
        parser.error(f"missing argument: {', '.join(missing)}")
    if words:
        parser.error(f"unrecognized arguments: {' '.join(words)}")
    return values


def _converted(parser: argparse.ArgumentParser, param: Param, metavar: str, word: str) -> Any:
    if issubclass(param.kind, enum.Enum):
        choices = [member.value for member in param.kind]
        if word not in choices:
            quoted = ", ".join(repr(choice) for choice in choices)
            parser.error(f"argument {metavar}: invalid choice: {word!r} (choose from {quoted})")
        return word
    try:
        return _convert(param.kind, None, None)(word)
    except argparse.ArgumentTypeError as exc:
        parser.error(f"argument {metavar}: {exc}")


def prompt(text: str) -> str:
    """Ask for a value on the terminal (an empty answer asks again)."""
    while True:
        sys.stderr.write(f"{text}: ")
        sys.stderr.flush()
        answer = sys.stdin.readline()
        if not answer:
            raise UsageError("hubfleet", f"no answer for {text}")
        if answer.strip():
            return answer.strip()
