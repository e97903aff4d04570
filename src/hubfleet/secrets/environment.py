"""The sops policy: which variables sops gets (and, therefore, no other program).

The runner's base environment (`hubfleet.base.runner.base_environment`) plus the
key material only sops may see.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from hubfleet.base.runner import base_environment

# What only sops needs to decrypt: its own settings and the age/PGP key material.
# sops gets SOPS_AGE_KEY_FILE / SOPS_AGE_KEY (/ SOPS_AGE_KEY_CMD,
# SOPS_AGE_SSH_PRIVATE_KEY_FILE) because they *are* the private key, or say where
# it is: without them sops cannot decrypt anything. For the same reason no other
# program gets them: helm, kubectl and the cloud CLIs have no use for the fleet's
# master key.
_SOPS_PREFIXES = ("SOPS_",)
_SOPS_EXACT = frozenset({"GNUPGHOME", "GPG_AGENT_INFO", "GPG_TTY"})
# sops' variables that name a file: made absolute (see sops_environment).
_SOPS_PATH_VARIABLES = ("SOPS_AGE_KEY_FILE", "SOPS_AGE_SSH_PRIVATE_KEY_FILE")
# Cloud credentials sops needs only for KMS-encrypted files (not for age).
_CLOUD_PREFIXES = ("AWS_", "GOOGLE_", "CLOUDSDK_", "AZURE_", "ARM_", "VAULT_")


def sops_environment(
    source: Mapping[str, str] | None = None, *, cloud: bool = False
) -> dict[str, str]:
    """The environment for sops: the base one plus sops' key variables (SOPS_*, GnuPG).

    `cloud=True` also passes the parent's cloud credentials (AWS_*, GOOGLE_*,
    CLOUDSDK_*, AZURE_*, ARM_*, VAULT_*), which sops needs for KMS-encrypted files
    only; age-encrypted fleets never need it. SOPS_DISABLE_VERSION_CHECK is always
    set: sops must not reach the network to look for updates.
    """
    source = os.environ if source is None else source
    env = base_environment(source)
    for name, value in source.items():
        if (
            name.startswith(_SOPS_PREFIXES)
            or name in _SOPS_EXACT
            or (cloud and name.startswith(_CLOUD_PREFIXES))
        ):
            env[name] = value
    env["SOPS_DISABLE_VERSION_CHECK"] = "1"
    # sops runs in the fleet's root, not where the user is: a relative key file is the
    # user's, relative to the folder hubfleet was started in.
    for name in _SOPS_PATH_VARIABLES:
        key_file = env.get(name)
        if key_file and not os.path.isabs(key_file):
            env[name] = os.path.abspath(key_file)
    return env
