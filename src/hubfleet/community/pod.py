"""The built-in checks of what a community file can make of a user pod.

KubeSpawner turns z2jh's `singleuser.*`, every `profileList` entry's
`kubespawner_override` (and those of its `profile_options` choices and unlisted
choice) and `hub.config.<Spawner class>.*` into the user's pod. A community file
can reach all of them, each spelled in z2jh's camelCase or KubeSpawner's
snake_case, and Kubernetes objects inside them (`extra_pod_config`,
`container_security_context`, extra containers) in either too. So keys are read
folded: case, `_` and `-` ignored (`runAsUser`, `run_as_user`, `RunAsUser` are one
key); values written as strings (`"0"`, `"true"`) count as what they say.

Each check refuses what would make the pod more than a user's server: user or
group 0, privilege, added capabilities, the host's paths, network or processes,
labels that open network policies, placement, resources and images outside the
policy's stated bounds, secrets in plain text or read from the namespace.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from hubfleet.base.yamlio import PathKey
from hubfleet.community.findings import (
    Finding,
    as_int,
    dotted,
    falsy,
    image_registry_ok,
    quantity,
    truthy,
)


@dataclass(frozen=True)
class Limits:
    """The bounds the pod checks hold user pods to (from `community.policy.pod` and the
    policy's constraints)."""

    registries: tuple[str, ...] = ()
    node_selectors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    tolerations: tuple[Mapping[str, str | None], ...] = ()
    max_memory: int | float | str | None = None
    max_cpu: int | float | str | None = None
    # Whether a constraint with a maximum bounds the value at this key.
    bounded: Callable[[PathKey], bool] = lambda _key: False


def fold(key: Any) -> str:
    """A key as KubeSpawner, z2jh and Kubernetes spellings share it: no case, `_`, `-`."""
    return re.sub(r"[_\-\s]", "", str(key)).lower()


SECRET_NAME = re.compile(
    r"secret|token|passw|credential|private|api_?key|access_?key|(^|_)key$|_pat$", re.IGNORECASE
)
# Label keys z2jh's network policies and services select pods by.
_SELECTOR_LABELS = {"component", "app", "release", "heritage", "chart"}
_SELECTOR_PREFIXES = ("app.kubernetes.io/", "hub.jupyter.org/", "helm.sh/")
_NETWORK_ACCESS = "hub.jupyter.org/network-access"
_VOLUME_TYPES = {"emptydir", "persistentvolumeclaim", "configmap", "downwardapi", "ephemeral"}
_AFFINITY_WRAPPERS = {
    "nodeaffinity",
    "requiredduringschedulingignoredduringexecution",
    "preferredduringschedulingignoredduringexecution",
    "nodeselectorterms",
    "preference",
    "required",
    "preferred",
}

# How deep the checks follow a community file's keys (z2jh's deepest pod setting is a
# dozen keys down); deeper is refused, not skipped.
MAX_DEPTH = 64

HINTS = {
    "pod.too-deep": "write the setting less deeply nested",
    "pod.user-root": "user pods run as a non-root user and group (z2jh's singleuser.uid)",
    "pod.privileged": "a user pod is never privileged",
    "pod.privilege-escalation": "a user pod never gains privileges (allowPrivilegeEscalation)",
    "pod.capabilities": "a user pod adds no Linux capability",
    "pod.unconfined": "a user pod keeps the runtime's seccomp, AppArmor and SELinux confinement",
    "pod.host-path": "a user pod mounts no path of the node",
    "pod.host-namespace": "a user pod shares no network, process or IPC namespace or port "
    "with its node",
    "pod.volume-type": "a user pod mounts emptyDir, persistentVolumeClaim, configMap, "
    "downwardAPI or ephemeral volumes only",
    "pod.secret-ref": "a user pod reads no Secret of the hub's namespace: ask the platform team",
    "pod.plaintext-secret": "a community file holds no secret: ask the platform team to put "
    "it in an encrypted values file",
    "pod.network-access": "network access labels (hub.jupyter.org/network-access-*) are the "
    "platform team's: they open the hub's and proxy's network policies",
    "pod.selector-label": "labels that z2jh's services and network policies select pods by "
    "are set by KubeSpawner, not by a community",
    "pod.network-policy": "the user pods' network policy is the platform team's",
    "pod.cloud-metadata": "the cloud metadata block stays as the platform team set it",
    "pod.service-account": "user pods get no service account token",
    "pod.namespace": "user pods run in their hub's namespace",
    "pod.hub-connection": "how user servers and the hub reach each other is the platform team's",
    "pod.node-placement": "node placement within community.policy.pod.node_selectors only "
    "(hubfleet.yaml)",
    "pod.toleration": "tolerations within community.policy.pod.tolerations only (hubfleet.yaml)",
    "pod.resources": "memory and CPU within community.policy.pod.max_memory/max_cpu "
    "(hubfleet.yaml) or a constraint's maximum; no other resource",
    "pod.image-registry": "images from community.policy.pod.registries (hubfleet.yaml) or a "
    "registries constraint only",
}


class _Walk:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.found: list[Finding] = []

    def refuse(self, rule: str, key: PathKey, what: str) -> None:
        self.found.append(Finding(key, f"{rule}: {dotted(key)}: {what}", HINTS[rule], rule))

    # ------------------------------------------------------------- objects

    def spawner(self, value: Any, key: PathKey) -> None:
        """A mapping KubeSpawner, z2jh or Kubernetes reads into the pod: its keys dispatched."""
        if not isinstance(value, Mapping):
            return
        if len(key) > MAX_DEPTH:
            self.refuse("pod.too-deep", key, f"nested more than {MAX_DEPTH} keys deep")
            return
        for name, child in value.items():
            here = (*key, name)
            handler = _HANDLERS.get(fold(name))
            if handler is not None:
                handler(self, child, here)

    def items(self, value: Any, key: PathKey) -> Iterator[tuple[PathKey, Any]]:
        """A list's items, or a mapping's values (z2jh takes several lists as either)."""
        if isinstance(value, list):
            for index, item in enumerate(value):
                yield (*key, index), item
        elif isinstance(value, Mapping):
            for name, item in value.items():
                yield (*key, name), item

    def containers(self, value: Any, key: PathKey) -> None:
        for here, item in self.items(value, key):
            if not isinstance(item, Mapping):
                continue
            self.spawner(item, here)
            context = next((v for k, v in item.items() if fold(k) == "securitycontext"), None)
            if not isinstance(context, Mapping) or not any(
                (fold(k) == "runasnonroot" and truthy(v))
                or (fold(k) == "runasuser" and (as_int(v) or 0) > 0)
                for k, v in context.items()
            ):
                self.refuse(
                    "pod.user-root",
                    here,
                    "a container beside the user's server runs as its image's user, which may "
                    "be root: set securityContext.runAsNonRoot: true or a runAsUser other than 0",
                )

    def profiles(self, value: Any, key: PathKey) -> None:
        for here, item in self.items(value, key):
            self.spawner(item, here)

    def profile_options(self, value: Any, key: PathKey) -> None:
        for option_key, option in self.items(value, key):
            if not isinstance(option, Mapping):
                continue
            for name, child in option.items():
                if fold(name) == "choices":
                    for choice_key, choice in self.items(child, (*option_key, name)):
                        self.spawner(choice, choice_key)
                elif fold(name) == "unlistedchoice":
                    self.spawner(child, (*option_key, name))

    def hub(self, value: Any, key: PathKey) -> None:
        """z2jh's `hub`: only `hub.config.<a Spawner class>` makes pods."""
        if not isinstance(value, Mapping):
            return
        for name, config in value.items():
            if fold(name) != "config" or not isinstance(config, Mapping):
                continue
            for cls, traits in config.items():
                if "spawner" in fold(cls):
                    self.spawner(traits, (*key, name, cls))

    # ----------------------------------------------------------- identities

    def user(self, value: Any, key: PathKey) -> None:
        if value is None:
            self.refuse(
                "pod.user-root", key, "null leaves the user to the image, which may be root"
            )
        else:
            self.group(value, key, what="user")

    def group(self, value: Any, key: PathKey, what: str = "group") -> None:
        """A user or group id must be a number other than 0: a string that is not one
        (`"{value}"` of an unlisted choice, `root`) is refused too."""
        number = as_int(value)
        if number == 0:
            self.refuse("pod.user-root", key, f"{value!r} is {what} 0 (root)")
        elif number is None and value is not None:
            self.refuse("pod.user-root", key, f"{value!r} is not a {what} id (a number)")

    def groups(self, value: Any, key: PathKey) -> None:
        for here, item in self.items(value, key):
            self.group(item, here)
        if not isinstance(value, list | Mapping):
            self.group(value, key)

    def non_root(self, value: Any, key: PathKey) -> None:
        if value is not None and not truthy(value):
            self.refuse("pod.user-root", key, f"{value!r} lets the container run as root")

    def capabilities(self, value: Any, key: PathKey) -> None:
        if not isinstance(value, Mapping):
            return
        for name, added in value.items():
            if fold(name) == "add" and added:
                names = ", ".join(str(c) for c in added) if isinstance(added, list) else added
                self.refuse("pod.capabilities", (*key, name), f"adds capabilities {names}")

    def unconfined_profile(self, value: Any, key: PathKey) -> None:
        kind = value.get("type") if isinstance(value, Mapping) else value
        if isinstance(kind, str) and kind.strip().lower() in ("unconfined", "localhost"):
            self.refuse("pod.unconfined", key, f"profile {kind!r}")

    def proc_mount(self, value: Any, key: PathKey) -> None:
        if isinstance(value, str) and value.strip().lower() == "unmasked":
            self.refuse("pod.unconfined", key, "an unmasked /proc")

    def windows(self, value: Any, key: PathKey) -> None:
        if isinstance(value, Mapping) and any(
            fold(k) == "hostprocess" and truthy(v) for k, v in value.items()
        ):
            self.refuse("pod.host-namespace", key, "a Windows host process")

    def ports(self, value: Any, key: PathKey) -> None:
        for here, item in self.items(value, key):
            if isinstance(item, Mapping) and any(fold(k) == "hostport" for k in item):
                self.refuse("pod.host-namespace", here, "a port of the node (hostPort)")

    # --------------------------------------------------------------- volumes

    def volumes(self, value: Any, key: PathKey) -> None:
        for here, volume in self.items(value, key):
            if not isinstance(volume, Mapping):
                continue
            for name in volume:
                kind = fold(name)
                if kind == "name":
                    continue
                if kind == "hostpath":
                    self.refuse("pod.host-path", (*here, name), "a path of the node (hostPath)")
                elif kind in ("secret", "projected"):
                    self.refuse("pod.secret-ref", (*here, name), f"a {name} volume")
                elif kind not in _VOLUME_TYPES:
                    self.refuse("pod.volume-type", (*here, name), f"a {name} volume")

    # ------------------------------------------------------------ environment

    def env(self, value: Any, key: PathKey) -> None:
        if isinstance(value, Mapping):
            entries = [((*key, name), name, item) for name, item in value.items()]
        elif isinstance(value, list):
            entries = [
                ((*key, i), item.get("name"), item)
                for i, item in enumerate(value)
                if isinstance(item, Mapping)
            ]
        else:
            return
        for here, name, item in entries:
            self.variable(here, str(name), item)

    def variable(self, key: PathKey, name: str, item: Any) -> None:
        if name.strip().upper().startswith("JUPYTERHUB_"):
            self.refuse("pod.hub-connection", key, f"{name} is set by the hub")
            return
        plain = item
        if isinstance(item, Mapping):
            plain = next((v for k, v in item.items() if fold(k) == "value"), None)
            source = next((v for k, v in item.items() if fold(k) == "valuefrom"), None)
            if isinstance(source, Mapping) and any(fold(k) == "secretkeyref" for k in source):
                self.refuse("pod.secret-ref", key, f"{name} reads a Secret of the namespace")
        if (
            SECRET_NAME.search(name)
            and plain is not None
            and not isinstance(plain, Mapping | list)
            and str(plain) != ""
        ):
            self.refuse(
                "pod.plaintext-secret",
                key,
                f"{name} looks like a secret, in plain text",
            )

    def env_from(self, value: Any, key: PathKey) -> None:
        for here, item in self.items(value, key):
            if isinstance(item, Mapping) and any(fold(k) == "secretref" for k in item):
                self.refuse("pod.secret-ref", here, "environment from a Secret of the namespace")

    # ------------------------------------------------------- labels, network

    def labels(self, value: Any, key: PathKey) -> None:
        if not isinstance(value, Mapping):
            return
        for name in value:
            label = str(name).strip().lower()
            if label.startswith(_NETWORK_ACCESS):
                self.refuse("pod.network-access", (*key, name), f"label {name} opens access")
            elif label in _SELECTOR_LABELS or label.startswith(_SELECTOR_PREFIXES):
                self.refuse(
                    "pod.selector-label",
                    (*key, name),
                    f"label {name} is one network policies and services select pods by",
                )

    def annotations(self, value: Any, key: PathKey) -> None:
        if not isinstance(value, Mapping):
            return
        for name, text in value.items():
            annotation = str(name).strip().lower()
            if annotation.startswith(_NETWORK_ACCESS):
                self.refuse("pod.network-access", (*key, name), f"annotation {name}")
            elif ("apparmor" in annotation or "seccomp" in annotation) and str(
                text
            ).strip().lower() != "runtime/default":
                self.refuse("pod.unconfined", (*key, name), f"annotation {name}: {text!r}")

    def cloud_metadata(self, value: Any, key: PathKey) -> None:
        if not isinstance(value, Mapping):
            self.refuse("pod.cloud-metadata", key, "the cloud metadata block replaced")
            return
        for name, child in value.items():
            if fold(name) != "blockwithiptables" or not truthy(child):
                self.refuse("pod.cloud-metadata", (*key, name), f"{child!r} opens the metadata")

    # -------------------------------------------------------------- placement

    def node_selector(self, value: Any, key: PathKey) -> None:
        if not isinstance(value, Mapping):
            if value:
                self.refuse("pod.node-placement", key, "a node selector")
            return
        for label, wanted in value.items():
            if not self._node_label_ok(str(label), wanted):
                self.refuse("pod.node-placement", (*key, label), f"nodes with {label}={wanted!r}")

    def _node_label_ok(self, label: str, wanted: Any) -> bool:
        allowed = self.limits.node_selectors.get(label)
        return allowed is not None and ("*" in allowed or str(wanted) in allowed)

    def affinity(self, value: Any, key: PathKey) -> None:
        if len(key) > MAX_DEPTH:
            self.refuse("pod.too-deep", key, f"nested more than {MAX_DEPTH} keys deep")
            return
        if isinstance(value, list):
            for here, item in self.items(value, key):
                self.affinity(item, here)
            return
        if not isinstance(value, Mapping):
            if value is not None:
                self.refuse("pod.node-placement", key, f"{value!r} is not a node affinity")
            return
        for name, child in value.items():
            here = (*key, name)
            kind = fold(name)
            if kind in _AFFINITY_WRAPPERS:
                self.affinity(child, here)
            elif kind == "matchexpressions":
                for expr_key, expr in self.items(child, here):
                    self._expression(expr, expr_key)
            elif kind != "weight":
                self.refuse("pod.node-placement", here, f"{name} places the pod")

    def _expression(self, expr: Any, key: PathKey) -> None:
        ok = (
            isinstance(expr, Mapping)
            and expr.get("operator") == "In"
            and isinstance(expr.get("values"), list)
            and bool(expr["values"])
            and all(self._node_label_ok(str(expr.get("key")), v) for v in expr["values"])
        )
        if not ok:
            self.refuse("pod.node-placement", key, "a node affinity outside the policy's nodes")

    def tolerations(self, value: Any, key: PathKey) -> None:
        for here, item in self.items(value, key):
            if not self._toleration_ok(item):
                self.refuse("pod.toleration", here, f"toleration {item!r}")

    def _toleration_ok(self, item: Any) -> bool:
        if not isinstance(item, Mapping):
            return False
        given = {fold(k): v for k, v in item.items()}
        mine = (
            given.get("key"),
            given.get("operator") or "Equal",
            given.get("value"),
            given.get("effect"),
        )
        for allowed in self.limits.tolerations:
            theirs = (
                allowed.get("key"),
                allowed.get("operator") or "Equal",
                allowed.get("value"),
                allowed.get("effect"),
            )
            if mine[:3] == theirs[:3] and (theirs[3] is None or mine[3] == theirs[3]):
                return True
        return False

    # -------------------------------------------------------------- resources

    def memory(self, value: Any, key: PathKey) -> None:
        self._bound("memory", self.limits.max_memory, value, key)

    def cpu(self, value: Any, key: PathKey) -> None:
        self._bound("cpu", self.limits.max_cpu, value, key)

    def _bound(self, what: str, maximum: Any, value: Any, key: PathKey) -> None:
        if isinstance(value, Mapping):  # z2jh's singleuser.memory: {limit, guarantee}
            for name, child in value.items():
                self._bound(what, maximum, child, (*key, name))
            return
        if value is None:
            return
        number = quantity(value)
        if number is None:
            self.refuse("pod.resources", key, f"{value!r} is not a {what} quantity")
        elif maximum is not None:
            high = quantity(maximum)
            if high is None or number > high:
                self.refuse("pod.resources", key, f"{value!r} is above the bound {maximum!r}")
        elif not self.limits.bounded(key):
            self.refuse(
                "pod.resources",
                key,
                f"the policy states no {what} bound (community.policy.pod.max_{what})",
            )

    def resources(self, value: Any, key: PathKey) -> None:
        """A container's `resources: {limits, requests}`."""
        if not isinstance(value, Mapping):
            return
        for group, amounts in value.items():
            here = (*key, group)
            if not isinstance(amounts, Mapping):
                self.refuse("pod.resources", here, f"{group} is not a mapping")
                continue
            for name, amount in amounts.items():
                if fold(name) == "memory":
                    self.memory(amount, (*here, name))
                elif fold(name) == "cpu":
                    self.cpu(amount, (*here, name))
                else:
                    self.refuse("pod.resources", (*here, name), f"resource {name}")

    # ----------------------------------------------------------------- images

    def image(self, value: Any, key: PathKey) -> None:
        if isinstance(value, Mapping):
            for name, child in value.items():
                if fold(name) == "name":
                    self.image(child, (*key, name))
            return
        if not isinstance(value, str):
            return
        registries = self.limits.registries
        if not image_registry_ok(value, registries):
            allowed = ", ".join(registries) if registries else "none: the policy lists no registry"
            self.refuse(
                "pod.image-registry",
                key,
                f"image {value!r} is from no allowed registry ({allowed})",
            )


Handler = Callable[[_Walk, Any, PathKey], None]


def _flag(rule: str, what: str) -> Handler:
    """Refuse every value but an explicit false or null (`true`, `"True"`, `1`, and a
    `"{value}"` an unlisted choice fills in)."""

    def check(walk: _Walk, value: Any, key: PathKey) -> None:
        if value is not None and not falsy(value):
            walk.refuse(rule, key, f"{value!r}: {what}")

    return check


def _always(rule: str, what: str) -> Handler:
    """Refuse any value but an empty one."""

    def check(walk: _Walk, value: Any, key: PathKey) -> None:
        if value is not None and value != {} and value != [] and value != "":
            walk.refuse(rule, key, what)

    return check


_privileged = _flag("pod.privileged", "a privileged container")
_escalation = _flag("pod.privilege-escalation", "the container may gain privileges")
_host = _flag("pod.host-namespace", "shares a namespace of the node")
_automount = _flag("pod.service-account", "mounts the service account's token")
_placement = _always("pod.node-placement", "places the pod outside the policy's nodes")
_unconfined = _always("pod.unconfined", "loosens the pod's confinement")
_network = _always("pod.network-policy", "changes the user pods' network policy")
_account = _always("pod.service-account", "gives the pod a service account")
_namespace = _always("pod.namespace", "runs pods outside the hub's namespace")
_connection = _always("pod.hub-connection", "changes how the hub and servers connect")
_resource = _always("pod.resources", "asks for a resource the policy does not bound")


_HANDLERS: dict[str, Handler] = {
    # users and groups
    "uid": _Walk.user,
    "runasuser": _Walk.user,
    "gid": _Walk.group,
    "fsgid": _Walk.group,
    "runasgroup": _Walk.group,
    "fsgroup": _Walk.group,
    "supplementalgids": _Walk.groups,
    "supplementalgroups": _Walk.groups,
    "runasnonroot": _Walk.non_root,
    # privilege and confinement
    "privileged": _privileged,
    "allowprivilegeescalation": _escalation,
    "capabilities": _Walk.capabilities,
    "securitycontext": _Walk.spawner,
    "containersecuritycontext": _Walk.spawner,
    "podsecuritycontext": _Walk.spawner,
    "seccompprofile": _Walk.unconfined_profile,
    "apparmorprofile": _Walk.unconfined_profile,
    "procmount": _Walk.proc_mount,
    "selinuxoptions": _unconfined,
    "sysctls": _unconfined,
    "runtimeclassname": _unconfined,
    "windowsoptions": _Walk.windows,
    # the node's namespaces and paths
    "hostnetwork": _host,
    "hostpid": _host,
    "hostipc": _host,
    "ports": _Walk.ports,
    "volumes": _Walk.volumes,
    "extravolumes": _Walk.volumes,
    "storage": _Walk.spawner,
    # the pod as a whole, and containers beside the user's server
    "extrapodconfig": _Walk.spawner,
    "extracontainerconfig": _Walk.spawner,
    "extracontainers": _Walk.containers,
    "initcontainers": _Walk.containers,
    "ephemeralcontainers": _Walk.containers,
    "containers": _Walk.containers,
    "networktools": _Walk.spawner,
    # profiles
    "profilelist": _Walk.profiles,
    "kubespawneroverride": _Walk.spawner,
    "profileoptions": _Walk.profile_options,
    # environment
    "extraenv": _Walk.env,
    "environment": _Walk.env,
    "env": _Walk.env,
    "envfrom": _Walk.env_from,
    # labels and network
    "extralabels": _Walk.labels,
    "labels": _Walk.labels,
    "extraannotations": _Walk.annotations,
    "annotations": _Walk.annotations,
    "networkpolicy": _network,
    "cloudmetadata": _Walk.cloud_metadata,
    "serviceaccountname": _account,
    "serviceaccount": _account,
    "automountserviceaccounttoken": _automount,
    "namespace": _namespace,
    "enableusernamespaces": _namespace,
    "usernamespacetemplate": _namespace,
    "hubconnecturl": _connection,
    "hubconnectip": _connection,
    "hubconnectport": _connection,
    "podconnectip": _connection,
    # placement
    "nodeselector": _Walk.node_selector,
    "extranodeaffinity": _Walk.affinity,
    "nodeaffinityrequired": _Walk.affinity,
    "nodeaffinitypreferred": _Walk.affinity,
    "affinity": _Walk.affinity,
    "podaffinityrequired": _placement,
    "podaffinitypreferred": _placement,
    "podantiaffinityrequired": _placement,
    "podantiaffinitypreferred": _placement,
    "nodename": _placement,
    "priorityclassname": _placement,
    "schedulername": _placement,
    "schedulerstrategy": _placement,
    "topologyspreadconstraints": _placement,
    "tolerations": _Walk.tolerations,
    "extratolerations": _Walk.tolerations,
    # resources
    "memory": _Walk.memory,
    "memlimit": _Walk.memory,
    "memguarantee": _Walk.memory,
    "cpu": _Walk.cpu,
    "cpulimit": _Walk.cpu,
    "cpuguarantee": _Walk.cpu,
    "resources": _Walk.resources,
    "extraresource": _resource,
    "extraresourcelimits": _resource,
    "extraresourceguarantees": _resource,
    # images
    "image": _Walk.image,
    "imagespec": _Walk.image,
}


def check_pods(limits: Limits, data: Any, nesting: PathKey) -> list[Finding]:
    """Every refusal of the pod checks in a community file's `data`, whose z2jh values
    sit at `nesting`: `singleuser` and `hub.config.<Spawner class>` there."""
    z2jh: Any = data
    for part in nesting:
        z2jh = z2jh.get(part) if isinstance(z2jh, Mapping) else None
    if not isinstance(z2jh, Mapping):
        return []
    walk = _Walk(limits)
    for name, value in z2jh.items():
        if fold(name) == "singleuser":
            walk.spawner(value, (*nesting, name))
        elif fold(name) == "hub":
            walk.hub(value, (*nesting, name))
    unique: dict[tuple[PathKey, str], Finding] = {}
    for finding in walk.found:
        unique.setdefault((finding.key, finding.rule), finding)
    return list(unique.values())
