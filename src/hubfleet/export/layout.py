"""The export's layout and its deploy command, written and parsed in one place.

An export of hub H is:

    README.md                                  the command below, sops steps, dependencies
    chart/                                     a local chart, copied whole (with charts/)
    values/00-hubfleet-defaults.values.yaml    fleet-level defaults hubfleet adds (first)
    values/01-<file>, values/02-<file>, ...    the hub's values files, in their order
    .sops.yaml                                 only when re-encrypted for new recipients

The README's command is the contract: `helm upgrade --install RELEASE CHART
--namespace NS --create-namespace --values FILE ...`, where an encrypted file is
given as `<(sops --decrypt FILE)` (bash process substitution: the plaintext goes
through a pipe, never a file). `parse_command` reads that command back from the
README, which is what `hubfleet export --verify` renders.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from hubfleet.base.errors import HubfleetError

CHART_DIR = "chart"
VALUES_DIR = "values"
DEFAULTS_FILE = "hubfleet-defaults.values.yaml"
README = "README.md"
SOPS_CONFIG = ".sops.yaml"
COMMAND_MARK = "<!-- hubfleet-export:deploy-command -->"

_DECRYPT = re.compile(r"<\(sops --decrypt ([^()\s]+)\)")
_DECRYPT_TOKEN = "sops-decrypt:"


class ExportError(HubfleetError):
    """The export could not be written, or its README cannot be read back."""


@dataclass(frozen=True)
class ValuesEntry:
    """One `--values` argument: a file of the export, and whether sops decrypts it first."""

    path: str  # relative to the export folder, POSIX
    decrypt: bool


@dataclass(frozen=True)
class DeployCommand:
    release: str
    namespace: str
    chart: str  # "./chart" (local) or the chart's name in `repository`
    values: tuple[ValuesEntry, ...]
    repository: str | None = None
    version: str | None = None

    @property
    def local_chart(self) -> bool:
        return self.repository is None

    def render(self) -> str:
        """The shell command, one option per line."""
        first = ["helm", "upgrade", "--install", self.release, self.chart]
        lines = [" ".join(shlex.quote(p) for p in first)]
        if self.repository is not None:
            lines.append(f"--repo {shlex.quote(self.repository)}")
        if self.version is not None:
            lines.append(f"--version {shlex.quote(self.version)}")
        lines.append(f"--namespace {shlex.quote(self.namespace)} --create-namespace")
        for entry in self.values:
            target = shlex.quote(entry.path)
            lines.append(
                f"--values <(sops --decrypt {target})" if entry.decrypt else f"--values {target}"
            )
        return " \\\n  ".join(lines)


def values_name(index: int, source: str, *, plaintext: bool = False) -> str:
    """`values/NN-<basename>`: the number keeps the order visible and names unique.

    A decrypted copy drops a leading `enc-` (it is no longer encrypted)."""
    name = PurePosixPath(source).name
    if plaintext and name.startswith("enc-"):
        name = name[len("enc-") :]
    return f"{VALUES_DIR}/{index:02d}-{name}"


def parse_command(readme: str) -> DeployCommand:
    """The deploy command of an export's README, as helm would receive it."""
    block = _command_block(readme)
    text = _DECRYPT.sub(lambda m: _DECRYPT_TOKEN + m.group(1), block.replace("\\\n", " "))
    try:
        argv = shlex.split(text)
    except ValueError as exc:
        raise ExportError(f"README deploy command cannot be parsed: {exc}", path=README) from None
    if argv[:3] != ["helm", "upgrade", "--install"] or len(argv) < 5:
        raise ExportError(
            "README deploy command is not `helm upgrade --install RELEASE CHART ...`", path=README
        )
    release, chart = argv[3], argv[4]
    namespace = "default"
    repository = version = None
    values: list[ValuesEntry] = []
    rest = argv[5:]
    while rest:
        option = rest.pop(0)
        if option == "--create-namespace":
            continue
        if option not in ("--namespace", "-n", "--values", "-f", "--repo", "--version") or not rest:
            raise ExportError(
                f"README deploy command: option {option!r} is not understood by the round trip",
                path=README,
            )
        argument = rest.pop(0)
        if option in ("--namespace", "-n"):
            namespace = argument
        elif option == "--repo":
            repository = argument
        elif option == "--version":
            version = argument
        elif argument.startswith(_DECRYPT_TOKEN):
            values.append(ValuesEntry(argument[len(_DECRYPT_TOKEN) :], True))
        else:
            values.append(ValuesEntry(argument, False))
    return DeployCommand(release, namespace, chart, tuple(values), repository, version)


def _command_block(readme: str) -> str:
    _, mark, after = readme.partition(COMMAND_MARK)
    if not mark:
        raise ExportError(f"README has no deploy command (marker {COMMAND_MARK})", path=README)
    match = re.search(r"```(?:bash|sh)?\n(.*?)```", after, re.S)
    if match is None:
        raise ExportError("README deploy command block is not closed", path=README)
    return match.group(1).strip()


SecretsMode = Literal["none", "encrypted", "reencrypted", "decrypted"]
FileKind = Literal["readme", "chart", "defaults", "values", "encrypted", "plaintext", "sops-config"]


@dataclass(frozen=True)
class ExportedFile:
    """One file of an export, and where it came from."""

    path: str  # relative to the export folder
    kind: FileKind
    source: str | None = None  # repository-relative
    recipients: tuple[str, ...] = ()  # who can decrypt it (encrypted files)


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: its folder, its deploy command, its files, how secrets left."""

    directory: Path
    command: DeployCommand
    files: tuple[ExportedFile, ...]
    secrets_mode: SecretsMode
