"""A user's command (or shell) run inside one cluster's credentials block.

The command's standard streams are the user's own (it may be an interactive
shell), so it is started here rather than through `hubfleet.base.runner.run`, which
captures output; it gets the same scrubbed base environment plus the cluster's
variables. SIGINT reaches the command (same terminal); SIGTERM to hubfleet is
passed on to it. The private folder is removed when it ends, whatever happens.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Sequence
from types import FrameType

from hubfleet.base.errors import ProgramError
from hubfleet.base.redact import Redactor
from hubfleet.base.runner import base_environment
from hubfleet.config.fleet import Cluster, Fleet
from hubfleet.providers import ProviderContext, get_provider
from hubfleet.secrets.sops import Sops


def run_with_credentials(
    fleet: Fleet, cluster: Cluster, argv: Sequence[str], *, sops: Sops, redactor: Redactor
) -> int:
    """Run `argv` (or `$SHELL`) with the cluster's credentials; returns its exit code."""
    provider = get_provider(cluster.provider)
    context = ProviderContext(fleet=fleet, cluster=cluster, sops=sops, redactor=redactor)
    with provider.credentials(context) as creds:
        env = base_environment()
        env.update(creds.env)
        env["HUBFLEET_CLUSTER"] = cluster.name
        command = list(argv) or [os.environ.get("SHELL") or "/bin/sh"]
        if shutil.which(command[0], path=env.get("PATH")) is None:
            raise ProgramError(f"{command[0]}: command not found")
        process = subprocess.Popen(command, env=env)

        def forward(signum: int, frame: FrameType | None) -> None:
            process.send_signal(signum)

        previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        previous_term = signal.signal(signal.SIGTERM, forward)
        try:
            return process.wait()
        finally:
            signal.signal(signal.SIGINT, previous_int)
            signal.signal(signal.SIGTERM, previous_term)
