"""`new_cluster` and `new_hub`: create the files, then validate the result.

Files are created only after every check passed and the secrets file was
encrypted (in memory, through sops and the repository's `.sops.yaml`); a failure
while writing removes what this call created.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from hubfleet.base.errors import ConfigError, Problem
from hubfleet.base.redact import Redactor
from hubfleet.base.yamlio import dump_yaml
from hubfleet.config.fleet import CLUSTERS_DIR, Cluster
from hubfleet.config.load import load_fleet
from hubfleet.config.providers import target_of
from hubfleet.config.terraform import module_folder
from hubfleet.health.kubernetes import SERVICE as HEALTH_SERVICE
from hubfleet.health.kubernetes import values_snippet
from hubfleet.helm.nesting import chart_z2jh_values_key
from hubfleet.helm.values import nest
from hubfleet.new import names, providers
from hubfleet.new.clusteryaml import append_hub, write_atomic
from hubfleet.new.terraformblock import commented_block
from hubfleet.secrets.sops import Sops, encrypt, is_encrypted
from hubfleet.terraform import scaffold as terraform_scaffold
from hubfleet.validate.run import Selection, validate


@dataclass(frozen=True)
class Created:
    """What a `new` command made, and what validating the result found."""

    files: tuple[str, ...]  # repository-relative, created
    changed: tuple[str, ...]  # repository-relative, edited
    problems: tuple[Problem, ...]
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)


# ---------------------------------------------------------------- clusters


def new_cluster(
    root: Path,
    name: str,
    provider: str,
    settings: Mapping[str, str],
    *,
    credentials: bytes | None = None,
    credentials_name: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Created:
    """Create config/clusters/NAME/ with cluster.yaml and a support values file.

    `settings`: the provider block's keys (every required key must be given).
    `credentials`: the content of a deploy credentials file (service-account JSON,
    kubeconfig, ...), encrypted in memory with sops into the cluster folder.
    """
    fleet = load_fleet(root).fleet
    names.check_cluster_name(fleet, name)
    providers.check_provider(provider)
    block = _provider_block(provider, settings)
    folder = f"{CLUSTERS_DIR}/{name}"
    to_write: dict[str, bytes] = {}
    notes: list[str] = []
    credential_key = providers.CREDENTIAL_KEY.get(provider)
    if credentials is not None:
        if credential_key is None:
            raise ConfigError(f"provider {provider!r} takes no credentials file")
        filename = credentials_name or _credentials_file_name(credentials)
        to_write[f"{folder}/{filename}"] = encrypt(
            credentials, filename=f"{folder}/{filename}", cwd=fleet.root, env=env
        )
        block[credential_key] = filename
    elif providers.credentials_required(provider):
        raise ConfigError(
            f"a {provider} cluster needs its {provider} credentials file "
            f"({provider}.{credential_key})",
            hint="pass --credentials-from FILE: it is encrypted with sops into the "
            "cluster folder (the file you name is only read)",
        )
    spec: dict[str, Any] = {"name": name, "provider": provider, provider: block}
    support_chart = "support"
    if support_chart in fleet.known_charts():
        spec["support"] = {"helm_chart_values_files": ["support.values.yaml"]}
        to_write[f"{folder}/support.values.yaml"] = (
            f"# Values of the support release (chart `{support_chart}`, namespace `support`)\n"
            f"# of cluster {name}: ingress controller, cert-manager, storage, monitoring.\n"
            "{}\n"
        ).encode()
    else:
        notes.append(
            "no support release: the repository has no `support` chart (helm-charts/support/ "
            "or hubfleet.yaml charts)"
        )
    spec["hubs"] = []
    to_write.update(_terraform_files(fleet.root, provider, notes))
    header = (
        f"# Cluster {name}, created by `hubfleet new cluster`.\n"
        "# Add hubs with `hubfleet new hub " + name + " HUB --domain DOMAIN`.\n"
    )
    body = dump_yaml(spec) + commented_block(name, provider, str(block.get("region") or ""))
    to_write[f"{folder}/cluster.yaml"] = (header + body).encode()
    (fleet.root / folder).mkdir(parents=True)
    made: list[Path] = []  # folders made for the files below, deepest last
    try:
        for path, content in sorted(to_write.items()):
            target = fleet.root / path
            for parent in reversed(target.relative_to(fleet.root).parents[:-1]):
                if not (fleet.root / parent).exists():
                    (fleet.root / parent).mkdir()
                    made.append(fleet.root / parent)
            target.write_bytes(content)
    except BaseException:
        for path in to_write:
            (fleet.root / path).unlink(missing_ok=True)
        for created in reversed(made):
            created.rmdir()
        (fleet.root / folder).rmdir()
        raise
    problems = validate_result(fleet.root, name, env=env)
    return Created(tuple(sorted(to_write)), (), problems, tuple(notes))


def _terraform_files(root: Path, provider: str, notes: list[str]) -> dict[str, bytes]:
    """The shipped Terraform module of a gcp, aws or azure cluster (`terraform/<provider>/`)
    and the support chart's service-account and home-volume templates, as `hubfleet
    terraform scaffold` writes them, when the fleet has none yet; never over an
    existing folder or file."""
    if provider not in terraform_scaffold.PROVIDERS:
        return {}
    files: dict[str, bytes] = {}
    module = module_folder(provider)
    if (root / module).exists():
        notes.append(f"{module}/ exists: kept as it is (the shipped module was not written)")
    else:
        for filename, text in terraform_scaffold.shipped(provider).items():
            files[f"{module}/{filename}"] = text.encode()
        notes.append(
            f"wrote the shipped Terraform module {module}/ (as `hubfleet terraform scaffold "
            f"{provider}`): add a terraform: block to cluster.yaml (docs/terraform.md)"
        )
    chart = terraform_scaffold.SUPPORT_CHART
    made = {
        terraform_scaffold.SUPPORT_TEMPLATE: "the support release creates the hubs' service "
        "accounts",
        terraform_scaffold.HOME_TEMPLATE: "the support release creates the hubs' home volumes "
        "(terraform.home)",
    }
    for name, what in made.items():
        template = f"{chart}/templates/{name}"
        if (root / chart / "Chart.yaml").is_file() and not (root / template).exists():
            files[template] = terraform_scaffold.support_template(name).encode()
            notes.append(f"wrote {template}: {what}")
    return files


def _provider_block(provider: str, settings: Mapping[str, str]) -> dict[str, Any]:
    known = providers.known_keys(provider)
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown {provider} setting(s): {', '.join(unknown)}",
            hint=f"{provider} takes: {', '.join(known)}",
        )
    given = {key: value for key, value in settings.items() if value}
    missing = [
        key.name
        for key in providers.required_keys(provider)
        if not providers.satisfied(provider, key.name, given)
    ]
    if missing:
        raise ConfigError(
            f"{provider} needs: {', '.join(missing)}",
            hint="give them as --set KEY=VALUE, or answer the prompts",
        )
    return {key: _scalar(value) for key, value in given.items()}


def _scalar(value: str) -> Any:
    return int(value) if value.isdigit() and not value.startswith("0") else value


def _credentials_file_name(content: bytes) -> str:
    """JSON, a YAML mapping (a kubeconfig), or else a plain file (a token: sops binary)."""
    stripped = content.lstrip()
    suffix = "json" if stripped.startswith(b"{") else "yaml" if _is_mapping(content) else "txt"
    return f"enc-deployer-credentials.secret.{suffix}"


def _is_mapping(content: bytes) -> bool:
    """Is `content` a YAML mapping? (The error, which could quote it, is dropped.)"""
    try:
        return isinstance(yaml.safe_load(content), dict)
    except yaml.YAMLError:
        return False


# ---------------------------------------------------------------- hubs


def new_hub(
    root: Path,
    cluster: str,
    name: str,
    domain: str,
    *,
    staging: bool = False,
    from_hub: str | None = None,
    helm_chart: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Created:
    """Add hub NAME to CLUSTER: its values file(s), an encrypted secrets file and
    its entry at the end of cluster.yaml's `hubs:` (comments and order kept).

    `from_hub`: copy that hub's values files (never its secrets): files it shares
    with every other hub of the cluster are referenced, its own are copied with
    its domain replaced by `domain`.
    """
    fleet = load_fleet(root).fleet_or_raise()
    target = fleet.cluster(cluster)
    names.check_hub_name(fleet, cluster, name)
    names.check_domain(fleet, domain)
    folder = target.folder
    to_write: dict[str, bytes] = {}
    values: list[str] = []  # relative to the cluster folder, in order
    source = target.hub(from_hub) if from_hub else None
    shared = _shared_files(target)
    # A canary on Kubernetes carries its health check in its own values.
    checked = target_of(target.provider) == "kubernetes" and (staging or "staging" in name)
    notes: list[str] = []
    if source is not None:
        plain: list[str] = []  # what the new hub's plain values files hold
        for path in source.values_files:
            text = fleet.abspath(path).read_text(encoding="utf-8")
            if is_encrypted(text, path) or "secret" in PurePosixPath(path).name:
                continue  # never copy secrets
            plain.append(text)
            if path in shared or not path.startswith(folder + "/"):
                values.append(_relative(folder, path))
                continue
            new_name = _renamed(PurePosixPath(path).name, source.name, name)
            new_path = f"{folder}/{new_name}"
            values.append(new_name)
            to_write[new_path] = text.replace(source.domain, domain).encode()
        if checked and not any(HEALTH_SERVICE in text for text in plain):
            notes.append(
                f"{name} is a canary: add the health check's service, role and blocked user "
                "to its values (docs/health-check.md), or `health_check: {enabled: false}`"
            )
    else:
        values.extend(_relative(folder, path) for path in shared)
        own = f"{name}.values.yaml"
        values.append(own)
        chart_name = helm_chart or fleet.settings.default_chart
        nesting = (
            chart_z2jh_values_key(fleet, chart_name, lambda: fleet.chart_source(chart_name))
            if chart_name
            else ()
        )
        key = ".".join(str(level) for level in nesting) or None
        to_write[f"{folder}/{own}"] = _hub_values(
            name, domain, health_check=checked, values_key=key
        ).encode()
    secret_name = f"enc-{name}.secret.values.yaml"
    secret_path = f"{folder}/{secret_name}"
    for path in [*to_write, secret_path]:
        if fleet.abspath(path).exists():
            raise names.InvalidNameError(
                f"{path} already exists",
                path=path,
                hint="remove it or choose another hub name",
            )
    plaintext = (
        f"# Secret values of hub {name}: edit with `sops edit {secret_name}`.\n{{}}\n"
    ).encode()
    to_write[secret_path] = encrypt(plaintext, filename=secret_path, cwd=fleet.root, env=env)
    values.append(secret_name)

    entry: dict[str, Any] = {"name": name, "domain": domain}
    chart = helm_chart or (_explicit_chart(target, source.name) if source else None)
    if chart:
        entry["helm_chart"] = chart
    entry["helm_chart_values_files"] = values
    if staging:
        entry["staging"] = True
    cluster_file = fleet.abspath(target.file)
    before = cluster_file.read_text(encoding="utf-8")
    written: list[str] = []
    try:
        for path, content in sorted(to_write.items()):
            fleet.abspath(path).write_bytes(content)
            written.append(path)
        append_hub(cluster_file, entry)
    except BaseException:
        for path in written:
            fleet.abspath(path).unlink(missing_ok=True)
        write_atomic(cluster_file, before)
        raise
    problems = validate_result(fleet.root, cluster, hubs=(name,), env=env)
    return Created(tuple(sorted(to_write)), (target.file,), problems, tuple(notes))


def _hub_values(
    name: str, domain: str, *, health_check: bool = False, values_key: str | None = None
) -> str:
    """A new hub's own values; under `values_key` when its chart wraps z2jh."""
    where = f" (under {values_key}: its chart wraps the JupyterHub chart)" if values_key else ""
    text = f"# Values of hub {name}{where} (helm values of its chart; later files win).\n"
    values: dict[str, Any] = {"ingress": {"hosts": [domain]}}
    if health_check:
        text += (
            "# The health check of this canary (docs/health-check.md): a JupyterHub service\n"
            "# whose token z2jh keeps in the hub's Secret, a role limited to the check user,\n"
            "# and that user blocked from logging in.\n"
        )
        values.update(values_snippet())
    return text + dump_yaml(nest(values, values_key))


def _shared_files(cluster: Cluster) -> list[str]:
    """Plain values files every hub of the cluster uses (e.g. common.values.yaml)."""
    hubs = cluster.hubs
    if not hubs:
        return []
    common = set(hubs[0].values_files)
    for hub in hubs[1:]:
        common &= set(hub.values_files)
    return [p for p in hubs[0].values_files if p in common and "secret" not in p]


def _renamed(filename: str, old: str, new: str) -> str:
    """`<old>.values.yaml` / `<old>-x.yaml` -> `<new>...`; any other name gets `<new>-` in
    front (`--from hub` must not turn `github-hub.values.yaml` into `github-new...`)."""
    if filename.startswith(old) and filename[len(old) : len(old) + 1] in (".", "-", "_"):
        return new + filename[len(old) :]
    return f"{new}-{filename}"


def _relative(folder: str, path: str) -> str:
    prefix = folder + "/"
    if path.startswith(prefix):
        return path[len(prefix) :]
    depth = len(PurePosixPath(folder).parts)
    return "/".join([".."] * depth + [path])


def _explicit_chart(cluster: Cluster, hub: str) -> str | None:
    """The chart `hub`'s entry in cluster.yaml names (None: the fleet's default)."""
    for entry in cluster.data.get("hubs") or []:
        if isinstance(entry, Mapping) and entry.get("name") == hub:
            chart = entry.get("helm_chart")
            return str(chart) if chart else None
    return None


# ---------------------------------------------------------------- validation


def validate_result(
    root: Path,
    cluster: str,
    *,
    hubs: tuple[str, ...] = (),
    env: Mapping[str, str] | None = None,
) -> tuple[Problem, ...]:
    """`hubfleet validate CLUSTER [HUB]` on the result (structure, files, render)."""
    sops = Sops(Redactor(), cwd=root, env=env)
    result = validate(
        root,
        selection=Selection(cluster=cluster, hubs=hubs),
        sops=sops if sops.key_available() else None,
    )
    return result.problems
