"""The sops policy: which variables sops gets (and, therefore, no other program).

The runner's base environment (`hubfleet.base.runner.base_environment`) plus the
key material only sops may see, and, for a file encrypted with a cloud KMS or Vault,
the login of that one key type (`CREDENTIALS`): never the whole environment, never a
family by prefix. Every variable below is a decision; each says why sops needs it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from hubfleet.base.runner import base_environment
from hubfleet.secrets.metadata import AWS_KMS, AZURE_KV, CLOUD_KEY_TYPES, GCP_KMS, HC_VAULT

# What only sops needs to decrypt: its own settings and the age/PGP key material.
# sops gets SOPS_AGE_KEY_FILE / SOPS_AGE_KEY (/ SOPS_AGE_KEY_CMD,
# SOPS_AGE_SSH_PRIVATE_KEY_FILE) because they *are* the private key, or say where
# it is: without them sops cannot decrypt anything. For the same reason no other
# program gets them: helm, kubectl and the cloud CLIs have no use for the fleet's
# master key. SOPS_* also holds SOPS_PGP_FP and SOPS_GPG_EXEC (which gpg sops runs)
# and SOPS_GCP_KMS_CLIENT_TYPE: sops' own settings, all of them.
_SOPS_PREFIXES = ("SOPS_",)
# PGP: GNUPGHOME is the keyring sops' gpg reads (else ~/.gnupg, through HOME, which
# every program gets); GPG_AGENT_INFO and GPG_TTY reach the agent that holds an
# unlocked key or asks for its passphrase.
_SOPS_EXACT = frozenset({"GNUPGHOME", "GPG_AGENT_INFO", "GPG_TTY"})
# Variables that name a file or folder: made absolute (see sops_environment).
_PATH_VARIABLES = (
    "SOPS_AGE_KEY_FILE",
    "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
    "GNUPGHOME",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "CLOUDSDK_CONFIG",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_CONFIG_DIR",
    "VAULT_CACERT",
    "VAULT_CAPATH",
)

# The login sops uses for each cloud key type, as its Go SDKs read it. Given only for
# a file whose metadata names a key of that type (an age file gets none of them, a
# GCP KMS file no AWS credential). Files the variables name (~/.aws, ~/.config/gcloud,
# ~/.azure, ~/.vault-token) are found through HOME and XDG_CONFIG_HOME, which the base
# environment keeps.
CREDENTIALS: dict[str, frozenset[str]] = {
    GCP_KMS: frozenset(
        {
            # The credential file of Application Default Credentials.
            "GOOGLE_APPLICATION_CREDENTIALS",
            # sops' own: a credential JSON (or a file) for its KMS client.
            "GOOGLE_CREDENTIALS",
            # An access token sops uses instead of a credential file (sops >= 3.10).
            "GOOGLE_OAUTH_ACCESS_TOKEN",
            # gcloud's configuration folder, where `gcloud auth application-default
            # login` writes the ADC file when it is not ~/.config/gcloud.
            "CLOUDSDK_CONFIG",
            # The metadata server of a GCE/GKE workload identity, when moved (also the
            # tests' way to send it to a closed local port).
            "GCE_METADATA_HOST",
            "GCE_METADATA_IP",
            # Project billed for the KMS calls of a user login.
            "GOOGLE_CLOUD_QUOTA_PROJECT",
        }
    ),
    AWS_KMS: frozenset(
        {
            # Static or temporary keys of the session.
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            # A named profile (sso, assumed role) and where its files are.
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_CONFIG_FILE",
            "AWS_SHARED_CREDENTIALS_FILE",
            "AWS_SDK_LOAD_CONFIG",
            # The region of the KMS client when the ARN is not enough (STS calls).
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            # Web identity federation (GitHub OIDC, EKS IRSA).
            "AWS_ROLE_ARN",
            "AWS_ROLE_SESSION_NAME",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            # Container credentials (ECS, EKS pod identity).
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            # The instance metadata service: off, or moved.
            "AWS_EC2_METADATA_DISABLED",
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            # Endpoints of private networks (VPC endpoints) and their CA, FIPS.
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_KMS",
            "AWS_ENDPOINT_URL_STS",
            "AWS_STS_REGIONAL_ENDPOINTS",
            "AWS_USE_FIPS_ENDPOINT",
            "AWS_CA_BUNDLE",
            # Retries: how long an unreachable endpoint keeps sops waiting.
            "AWS_MAX_ATTEMPTS",
            "AWS_RETRY_MODE",
        }
    ),
    AZURE_KV: frozenset(
        {
            # A service principal (secret or certificate) or a user.
            "AZURE_TENANT_ID",
            "AZURE_CLIENT_ID",
            "AZURE_CLIENT_SECRET",
            "AZURE_CLIENT_CERTIFICATE_PATH",
            "AZURE_CLIENT_CERTIFICATE_PASSWORD",
            "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN",
            "AZURE_USERNAME",
            "AZURE_PASSWORD",
            # Workload identity federation (GitHub OIDC, AKS).
            "AZURE_FEDERATED_TOKEN_FILE",
            "AZURE_AUTHORITY_HOST",
            "AZURE_ADDITIONALLY_ALLOWED_TENANTS",
            # The `az login` of this user, read through the az CLI.
            "AZURE_CONFIG_DIR",
            # Managed identity endpoints (App Service, Arc, Cloud Shell).
            "IDENTITY_ENDPOINT",
            "IDENTITY_HEADER",
            "IMDS_ENDPOINT",
            "MSI_ENDPOINT",
            "MSI_SECRET",
        }
    ),
    HC_VAULT: frozenset(
        {
            # The server (the file names one too) and the token (else ~/.vault-token).
            "VAULT_ADDR",
            "VAULT_TOKEN",
            "VAULT_NAMESPACE",
            # TLS to the server.
            "VAULT_CACERT",
            "VAULT_CAPATH",
            "VAULT_CLIENT_CERT",
            "VAULT_CLIENT_KEY",
            "VAULT_TLS_SERVER_NAME",
            "VAULT_SKIP_VERIFY",
        }
    ),
}


def sops_environment(
    source: Mapping[str, str] | None = None,
    *,
    cloud: bool = False,
    key_types: Iterable[str] = (),
) -> dict[str, str]:
    """The environment for sops: the base one plus sops' key variables (SOPS_*, GnuPG).

    `key_types` (sops metadata names: gcp_kms, kms, azure_kv, hc_vault) adds the login
    variables of those key types (`CREDENTIALS`), which a file encrypted for them needs;
    `cloud=True` adds those of every cloud key type. Age and PGP files need none.
    SOPS_DISABLE_VERSION_CHECK is always set: sops must not reach the network to look
    for updates.
    """
    source = os.environ if source is None else source
    wanted = set(CLOUD_KEY_TYPES) if cloud else set(key_types)
    credentials: set[str] = set()
    for kind in wanted:
        credentials |= CREDENTIALS.get(kind, frozenset())
    env = base_environment(source)
    for name, value in source.items():
        if name.startswith(_SOPS_PREFIXES) or name in _SOPS_EXACT or name in credentials:
            env[name] = value
    env["SOPS_DISABLE_VERSION_CHECK"] = "1"
    # sops runs in the fleet's root, not where the user is: a relative key file is the
    # user's, relative to the folder hubfleet was started in.
    for name in _PATH_VARIABLES:
        key_file = env.get(name)
        if key_file and not os.path.isabs(key_file):
            env[name] = os.path.abspath(key_file)
    return env
