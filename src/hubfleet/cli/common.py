"""What every command shares: global options, loading the fleet, printing.

Command modules import only `hubfleet.cli.spec` and this module at import time, so that
`hubfleet --help` stays fast; the core is imported inside the command bodies.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubfleet.base.redact import MaskKey, Redactor
from hubfleet.cli import spec

if TYPE_CHECKING:
    from hubfleet.config.fleet import Fleet
    from hubfleet.secrets.sops import Sops


class Output(StrEnum):
    text = "text"
    json = "json"


def command_redactor() -> Redactor:
    """The command's redactor, with its key of masked digests: `HUBFLEET_MASK_KEY`
    or a random one (raises SecretsError, exit 2, for a key too short). The key
    material hubfleet is given (SOPS_AGE_KEY, the age key file, cloud secrets in the
    environment: `hubfleet.secrets.keys`) is registered before anything is read."""
    from hubfleet.secrets.keys import register_key_material

    redactor = Redactor(MaskKey.from_environment())
    register_key_material(redactor)
    return redactor


@dataclass
class Options:
    """Global options, kept on the root context (`ctx.obj`)."""

    repo: Path | None = None
    debug: bool = False
    redactor: Redactor = field(default_factory=command_redactor)


def options(ctx: spec.Context) -> Options:
    obj = ctx.find_root().obj
    if not isinstance(obj, Options):
        obj = Options()
        ctx.find_root().obj = obj
    return obj


def repo_root(ctx: spec.Context) -> Path:
    from hubfleet.config.repo import find_repo_root

    return find_repo_root(options(ctx).repo)


def load_fleet(ctx: spec.Context) -> Fleet:
    """The fleet, loaded once; any configuration problem stops the command (exit 2)."""
    from hubfleet.config.load import load_fleet as load

    return load(repo_root(ctx)).fleet_or_raise()


def load_fleet_for(ctx: spec.Context, cluster: str) -> Fleet:
    """The fleet for a command about one cluster (render, export): another cluster whose
    configuration does not load is left out with a warning on stderr
    (docs/isolation.md); a problem in `cluster`'s folder, or one every cluster depends
    on, stops the command (exit 2)."""
    from hubfleet.base.errors import ConfigError
    from hubfleet.config.load import isolate
    from hubfleet.config.load import load_fleet as load

    loaded = isolate(load(repo_root(ctx)), parse_values=False).or_raise()
    for broken in loaded.broken:
        if broken.name == cluster:
            raise ConfigError(list(broken.problems))
    for broken in loaded.broken:
        count = len(broken.problems)
        echo(
            ctx,
            f"warning: cluster {broken.name} left out: its configuration does not load "
            f"({count} error{'s' if count != 1 else ''}; `hubfleet validate` shows them)",
            err=True,
        )
    return loaded.fleet


def sops(ctx: spec.Context, root: Path) -> Sops:
    """The run's sops: what it decrypts is registered with the run's redactor, which
    scrubs everything the command prints."""
    from hubfleet.secrets.sops import Sops

    return Sops(options(ctx).redactor, cwd=root)


def echo(ctx: spec.Context, text: str, *, err: bool = False) -> None:
    """Print one block of text, scrubbed of every registered secret."""
    stream = sys.stderr if err else sys.stdout
    stream.write(options(ctx).redactor.scrub(text))
    if not text.endswith("\n"):
        stream.write("\n")
    stream.flush()


def echo_json(ctx: spec.Context, data: Any) -> None:
    """Print data as JSON: its strings scrubbed before encoding (no escaping hides a
    value), the text once more after."""
    clean = options(ctx).redactor.scrub_data(data)
    echo(ctx, json.dumps(clean, indent=2, sort_keys=False) + "\n")
