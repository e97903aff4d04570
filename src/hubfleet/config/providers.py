"""The one table of provider facts: every other list of providers derives from it.

A provider is credentials for a cluster (`hubfleet.providers.<name>`); `target`
says how its releases get there: `kubernetes` (helm upgrade, the Kubernetes health
check) or `local` (a JupyterHub process on this machine, `hubfleet.local`).
Adding a provider: a row here, its name in `Provider`, its module in
`hubfleet/providers/`, its block model in `config/models.py` and its tests, nothing
else in the code (docs/architecture.md, `tests/providers/test_provider_touch.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Target = Literal["kubernetes", "local"]
# The names of TABLE, as the type of cluster.yaml's `provider` (a test keeps them equal).
Provider = Literal["gcp", "aws", "azure", "kubeconfig", "local"]


@dataclass(frozen=True)
class ProviderFacts:
    name: str
    target: Target
    # The provider block's key naming the cluster's sops-encrypted credentials file.
    credentials_key: str | None = None
    # The deploy workflow logs in keylessly (OIDC) before it deploys.
    keyless_login: bool = False


TABLE: tuple[ProviderFacts, ...] = (
    ProviderFacts("gcp", "kubernetes", credentials_key="key", keyless_login=True),
    ProviderFacts("aws", "kubernetes", credentials_key="key", keyless_login=True),
    ProviderFacts("azure", "kubernetes", credentials_key="key", keyless_login=True),
    ProviderFacts("kubeconfig", "kubernetes", credentials_key="file"),
    ProviderFacts("local", "local"),
)
FACTS: dict[str, ProviderFacts] = {facts.name: facts for facts in TABLE}

PROVIDERS: tuple[str, ...] = tuple(facts.name for facts in TABLE)
KUBERNETES: tuple[str, ...] = tuple(sorted(f.name for f in TABLE if f.target == "kubernetes"))
CREDENTIALS_KEY: dict[str, str] = {
    f.name: f.credentials_key for f in TABLE if f.credentials_key is not None
}
CLOUD_PROVIDERS: tuple[str, ...] = tuple(f.name for f in TABLE if f.keyless_login)
CI_PROVIDERS: tuple[str, ...] = tuple(f.name for f in TABLE if f.target == "kubernetes")


def target_of(provider: str) -> Target:
    """How a release of a cluster with this provider is deployed (see `TABLE`)."""
    return FACTS[provider].target
