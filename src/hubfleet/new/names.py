"""Name rules for new clusters and hubs, and clash checks."""

from __future__ import annotations

from hubfleet.base import kubenames
from hubfleet.base.errors import ConfigError
from hubfleet.config.fleet import CLUSTERS_DIR, Fleet
from hubfleet.config.load import hub_name_problem

# Cluster names are folder names and appear in labels: DNS labels too
# (`hubfleet.base.kubenames` holds the rules).
HUB_NAME_MAX = kubenames.MAX_RELEASE_NAME


class InvalidNameError(ConfigError):
    """A new cluster or hub name is invalid or already taken."""


def check_cluster_name(fleet: Fleet, name: str) -> None:
    if not kubenames.is_label(name):
        raise InvalidNameError(
            f"invalid cluster name {name!r}",
            hint="a DNS label: lowercase letters, digits and '-', starting and ending "
            f"with a letter or digit, at most {kubenames.MAX_LABEL} characters",
        )
    existing = [cluster.name for cluster in fleet.clusters]
    folder = f"{CLUSTERS_DIR}/{name}"
    if name in existing or fleet.abspath(folder).exists():
        raise InvalidNameError(
            f"cluster {name!r} already exists",
            path=folder,
            hint="choose another name, or add hubs to it with `hubfleet new hub`",
        )


def check_hub_name(fleet: Fleet, cluster: str, name: str) -> None:
    if len(name) > HUB_NAME_MAX:
        raise InvalidNameError(
            f"invalid hub name {name!r}: {len(name)} characters, at most {HUB_NAME_MAX}",
            hint=f"the hub name is its helm release name, limited to {HUB_NAME_MAX} characters",
        )
    if not kubenames.is_label(name, HUB_NAME_MAX):
        raise InvalidNameError(
            f"invalid hub name {name!r}",
            hint="a DNS label (it is the hub's namespace and helm release): lowercase "
            "letters, digits and '-', starting and ending with a letter or digit",
        )
    reserved = hub_name_problem(name)  # the loader's rule, refused before anything is written
    if reserved is not None:
        message, hint = reserved
        raise InvalidNameError(message, hint=hint)
    target = fleet.cluster(cluster)
    for hub in target.hubs:
        if hub.name == name:
            raise InvalidNameError(
                f"cluster {cluster!r} already has a hub {name!r}",
                path=target.file,
                line=hub.line,
                hint="hub names are unique in a cluster; choose another name",
            )


def check_domain(fleet: Fleet, domain: str) -> None:
    if not kubenames.is_domain(domain):
        raise InvalidNameError(
            f"invalid domain {domain!r}",
            hint="a lowercase DNS name such as hub.example.org",
        )
    for hub in fleet.hubs():
        if hub.domain == domain:
            raise InvalidNameError(
                f"domain {domain!r} is already the domain of hub {hub.label}",
                path=fleet.cluster(hub.cluster).file,
                line=hub.line,
                hint="each hub needs its own domain",
            )
