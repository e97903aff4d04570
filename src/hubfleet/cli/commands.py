"""The command table: every `hubfleet` command, its module and the one-line help
`hubfleet --help` lists, with nothing heavy imported (`--version` and `--help` read
it without importing a command module), and the scan of the global options that
finds the command and a leading `--version` (the entry point answers that before
it imports anything else: the whole start-up of `hubfleet --version`)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Any, NamedTuple

from hubfleet import __version__

HELP = """Deploy and operate a fleet of JupyterHubs from one git repository.

The repository keeps one folder per cluster under config/clusters/, each with a
cluster.yaml listing its hubs and their helm values files. Run commands from
inside it, or point at it with --repo.
"""


class Entry(NamedTuple):
    module: str  # defines `command` (a function) or `app` (a group)
    group: bool  # the module defines `app`
    summary: str  # what `hubfleet --help` lists: the first paragraph of the command's help


# Every command, in the order `hubfleet --help` lists them (groups after commands).
# tests/cli/test_lazy.py checks each entry against its module.
TABLE: dict[str, Entry] = {
    "validate": Entry(
        "hubfleet.cli.validate",
        False,
        "Check every cluster, hub and values file; render each release and check the result.",
    ),
    "list": Entry(
        "hubfleet.cli.list_",
        False,
        "List clusters and their hubs (staging hubs are the canaries).",
    ),
    "render": Entry(
        "hubfleet.cli.render",
        False,
        "Render the manifests a hub (or the support release) would get, offline.",
    ),
    "schema": Entry(
        "hubfleet.cli.schema",
        False,
        "Print a JSON Schema: for editors (cluster.yaml, hubfleet.yaml) and CI (plan JSON).",
    ),
    "plan": Entry(
        "hubfleet.cli.plan",
        False,
        "Which support releases, staging hubs and production hubs to upgrade, and why.",
    ),
    "deploy": Entry(
        "hubfleet.cli.deploy",
        False,
        "Deploy CLUSTER [HUB ...], a --plan FILE, or --retry-failed REPORT.",
    ),
    "status": Entry(
        "hubfleet.cli.status",
        False,
        "What runs in each cluster against git: the commit each release runs, in sync or\n"
        "behind, failed, changed by hand, rolled back, missing; orphans (docs/status.md).",
    ),
    "check": Entry(
        "hubfleet.cli.check",
        False,
        "Check a running hub: start a server for a check user, run a notebook, clean up.",
    ),
    "credentials": Entry(
        "hubfleet.cli.credentials",
        False,
        "Run a command (or a shell) with KUBECONFIG set to the cluster's private kubeconfig.",
    ),
    "export": Entry(
        "hubfleet.cli.export",
        False,
        "Write HUB of CLUSTER to DIRECTORY: its chart, values files in order, secrets\n"
        "(encrypted as they are by default), and a README with the helm command that\n"
        "deploys it and what the hub depended on in the fleet.",
    ),
    "new": Entry(
        "hubfleet.cli.new",
        True,
        "Create a cluster or a hub (files, cluster.yaml entry), then validate.",
    ),
    "local": Entry(
        "hubfleet.cli.local",
        True,
        "Hubs of the local provider (JupyterHub processes on this machine).",
    ),
    "ci": Entry(
        "hubfleet.cli.ci",
        True,
        "GitHub Actions workflows: plan on pull requests, per-cluster deploys on merge.",
    ),
    "community": Entry(
        "hubfleet.cli.community",
        False,
        "Who owns which hub and files, and what each community may change (docs/community.md).",
    ),
    "charts": Entry(
        "hubfleet.cli.charts",
        True,
        "The chart cache: the remote charts and dependencies the fleet's releases use.",
    ),
    "terraform": Entry(
        "hubfleet.cli.terraform",
        True,
        "The clusters' Terraform, with cluster.yaml as its one source (docs/terraform.md).",
    ),
}

# (command name, module)
COMMANDS = tuple((name, entry.module) for name, entry in TABLE.items())


# The root options: those that take a value, and flags.
_VALUE_OPTIONS = ("--repo",)
_FLAGS = ("--debug", "--version", "-h", "--help")


def _global_options(args: Sequence[str]) -> tuple[list[str], str | None]:
    """The global options at the start of `args` (values left out), and the word
    after them: the command's name, or None (an unknown option, nothing)."""
    seen: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":  # the end of options: the next word is the command
            return seen, (args[index + 1] if index + 1 < len(args) else None)
        if arg in _VALUE_OPTIONS:
            index += 2
            continue
        if arg.startswith(tuple(f"{option}=" for option in _VALUE_OPTIONS)):
            index += 1
            continue
        if arg in _FLAGS:
            seen.append(arg)
            index += 1
            continue
        return seen, (None if arg.startswith("-") else arg)
    return seen, None


def invoked_command(args: Sequence[str]) -> str | None:
    """The command `args` run (the first word after the global options), if any."""
    return _global_options(args)[1]


def asks_version(args: Sequence[str]) -> bool:
    """`--version` among the global options, before any help option (the eager options
    act in the order given)."""
    for option in _global_options(args)[0]:
        if option == "--version":
            return True
        if option in ("-h", "--help"):
            return False
    return False


def print_version() -> None:
    sys.stdout.write(f"hubfleet {__version__}\n")
    sys.stdout.flush()


def register(commands: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Every command's function (`command`) or group (`app`, a `spec.Group`) by name; a
    command whose module is missing or fails to import is an error
    (ModuleNotFoundError, ImportError), never a command left out."""
    found: dict[str, Any] = {}
    for name, module_name in commands:
        module = importlib.import_module(module_name)
        found[name] = module.app if hasattr(module, "app") else module.command
    return found
