"""`export_hub`: write a hub as a standalone folder that plain `helm` deploys."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import helm_python

from hubfleet import __version__
from hubfleet.base.yamlio import decode_text, load_data, read_fleet_file
from hubfleet.config.charts import ChartSource
from hubfleet.config.fleet import Fleet, Hub
from hubfleet.export.layout import (
    CHART_DIR,
    DEFAULTS_FILE,
    README,
    SOPS_CONFIG,
    VALUES_DIR,
    DeployCommand,
    ExportedFile,
    ExportError,
    ExportResult,
    SecretsMode,
    ValuesEntry,
    values_name,
)
from hubfleet.export.readme import readme_text
from hubfleet.helm.charts import resolve_chart
from hubfleet.helm.jsonnet import is_jsonnet
from hubfleet.release.pipeline import (
    Release,
    hub_release,
    override_domain,
    read_values,
    release_jsonnet,
    require_encrypted,
)
from hubfleet.secrets.metadata import master_keys
from hubfleet.secrets.metadata import recipient as recipient_line
from hubfleet.secrets.sops import KeyUnavailable, Sops, encrypt, file_format, is_encrypted

PLAINTEXT_MODE = 0o600


@dataclass(frozen=True)
class ExportOptions:
    """How secrets leave: as they are (default), re-encrypted for `recipients`
    (age public keys), or decrypted (only with `i_understand_plaintext`)."""

    recipients: tuple[str, ...] = ()
    decrypt: bool = False
    i_understand_plaintext: bool = False


def export_hub(
    fleet: Fleet,
    hub: Hub,
    destination: Path,
    *,
    options: ExportOptions = ExportOptions(),
    sops: Sops | None = None,
) -> ExportResult:
    """Write `hub` as a standalone folder at `destination` (absent or empty).

    The folder is assembled in a private sibling folder and moved into place at
    the end, so a failure leaves nothing half-written.
    """
    _check_options(options, sops)
    destination = _checked_destination(fleet, destination, options)
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise ExportError(
            f"{destination} exists and is not an empty folder",
            hint="choose a new folder; an export never overwrites files",
        )
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    try:
        result = _write(fleet, hub, staging, options, sops)
        if destination.exists():
            destination.rmdir()
        staging.chmod(0o755)
        os.replace(staging, destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ExportResult(destination, result.command, result.files, result.secrets_mode)


def _checked_destination(fleet: Fleet, destination: Path, options: ExportOptions) -> Path:
    """The destination, resolved: never a link, never inside the fleet repository, and
    with `--decrypt` never inside any git working tree (plaintext must not be committed)."""
    shown = str(destination)
    if "\0" in shown:
        raise ExportError(f"{shown!r} contains a NUL byte", hint="name a folder")
    if os.path.islink(destination):
        raise ExportError(
            f"{shown} is a link",
            hint="name the folder itself: an export never writes through a link",
        )
    resolved = Path(os.path.realpath(destination))
    root = Path(os.path.realpath(fleet.root))
    if resolved == root or root in resolved.parents:
        raise ExportError(
            f"{shown} is inside the fleet repository ({root})",
            hint="export to a folder outside the repository: an export is for another place",
        )
    if options.decrypt:
        tree = _git_working_tree(resolved)
        if tree is not None:
            raise ExportError(
                f"{shown} is inside the git working tree {tree}: --decrypt would leave "
                "plaintext secrets where they can be committed",
                hint="export with --decrypt to a folder outside any git repository",
            )
    return resolved


def _git_working_tree(path: Path) -> Path | None:
    """The nearest folder at or above `path` holding `.git` (a folder or a file), or None."""
    for folder in (path, *path.parents):
        if os.path.lexists(folder / ".git"):
            return folder
    return None


def _check_options(options: ExportOptions, sops: Sops | None) -> None:
    if options.decrypt and not options.i_understand_plaintext:
        raise ExportError(
            "--decrypt writes the hub's secrets to disk in plaintext; refused",
            hint="add --i-understand-plaintext to accept that, or use --recipient AGE_PUBLIC_KEY "
            "to re-encrypt the secrets for your own key instead",
        )
    if options.decrypt and options.recipients:
        raise ExportError("--decrypt and --recipient exclude each other")
    for recipient in options.recipients:
        if not recipient.startswith("age1") or len(recipient) < 20:
            raise ExportError(
                f"{recipient!r} is not an age public key",
                hint="an age public key starts with age1 (see `age-keygen -y KEYFILE`)",
            )
    if (options.decrypt or options.recipients) and sops is None:
        raise ExportError(
            "decrypting the hub's secrets needs sops and the fleet's key",
            hint="make one of the keys the hub's secret files name usable here: the fleet's "
            "age key file (SOPS_AGE_KEY_FILE), its PGP secret key, or a cloud login with "
            "decrypt access to its KMS key",
        )


def _write(
    fleet: Fleet, hub: Hub, folder: Path, options: ExportOptions, sops: Sops | None
) -> ExportResult:
    release = hub_release(fleet, hub)
    files: list[ExportedFile] = []
    chart = release.chart
    if chart.local_dir is not None:
        _copy_chart(resolve_chart(chart, root=fleet.root), folder / CHART_DIR)
        files.append(ExportedFile(CHART_DIR, "chart", _chart_origin(fleet, chart)))
        chart_ref, repository, version = f"./{CHART_DIR}", None, None
    else:
        chart_ref, repository, version = chart.name, chart.repository, chart.version

    (folder / VALUES_DIR).mkdir()
    defaults_path = f"{VALUES_DIR}/00-{DEFAULTS_FILE}"
    _write_text(folder / defaults_path, _defaults_text(hub))
    files.append(ExportedFile(defaults_path, "defaults"))
    entries = [ValuesEntry(defaults_path, False)]

    if options.recipients:
        _write_text(folder / SOPS_CONFIG, sops_config_text(options.recipients))
        files.append(ExportedFile(SOPS_CONFIG, "sops-config"))

    secrets_mode: SecretsMode = "none"
    domain, secret_domain = _override_domain(fleet, release, sops)
    for index, source in enumerate(release.values_files, start=1):
        if is_jsonnet(source):  # its result, as plain values: no jsonnet needed to deploy
            target = values_name(index, source.removesuffix(".jsonnet") + ".json")
            evaluated = release_jsonnet(fleet, release, source, domain=domain)
            if not (secret_domain and domain and domain.encode() in evaluated):
                _write_bytes(folder / target, evaluated)
                files.append(ExportedFile(target, "values", source))
                entries.append(ValuesEntry(target, False))
                continue
            # It holds the domain of an encrypted domain_override_file: a secret.
            if options.decrypt:
                secrets_mode = "decrypted"
                _write_private(folder / target, evaluated)
                files.append(ExportedFile(target, "plaintext", source))
                entries.append(ValuesEntry(target, False))
                continue
            # Re-encrypted whole, its booleans and numbers would become strings (sops
            # encrypts every leaf): a community could not check or render it.
            raise ExportError(
                f"{source} gives the hub's domain from the encrypted "
                f"{release.domain_file}: exported, its values hold a secret",
                hint="export with --decrypt (the values as plaintext, outside any git "
                "tree), or give the hub a plaintext domain_override_file",
            )
        content = read_fleet_file(fleet.root, source)
        text = decode_text(content, source)
        # What render checks, export checks: a plaintext file named secret is refused,
        # the file parses (bounded), an encrypted one decrypts in memory when a key is
        # here (its MAC checked by sops; the plaintext is dropped at once).
        _check_values(fleet, source, text, sops)
        if not is_encrypted(text, source):
            target = values_name(index, source)
            _write_bytes(folder / target, content)
            files.append(ExportedFile(target, "values", source))
            entries.append(ValuesEntry(target, False))
            continue
        if options.decrypt:
            assert sops is not None
            secrets_mode = "decrypted"
            target = values_name(index, source, plaintext=True)
            _write_private(folder / target, sops.decrypt(fleet.abspath(source)))
            files.append(ExportedFile(target, "plaintext", source))
            entries.append(ValuesEntry(target, False))
            continue
        target = values_name(index, source)
        if options.recipients:
            assert sops is not None
            secrets_mode = "reencrypted"
            ciphertext = encrypt(
                sops.decrypt(fleet.abspath(source)),
                filename=target,
                cwd=folder,
                age_recipients=options.recipients,
                config=folder / SOPS_CONFIG,
                redactor=sops.redactor,
            )
            _write_bytes(folder / target, ciphertext)
            recipients = tuple(f"age {r}" for r in options.recipients)
        else:
            secrets_mode = "encrypted"
            _write_bytes(folder / target, content)
            recipients = tuple(sops_recipients(content, source))
        files.append(ExportedFile(target, "encrypted", source, recipients))
        entries.append(ValuesEntry(target, True))

    command = DeployCommand(
        release=release.name,
        namespace=release.namespace,
        chart=chart_ref,
        values=tuple(entries),
        repository=repository,
        version=version,
    )
    result = ExportResult(folder, command, tuple(files), secrets_mode)
    _write_text(folder / README, readme_text(fleet, hub, result))
    return ExportResult(folder, command, (ExportedFile(README, "readme"), *files), secrets_mode)


def _override_domain(fleet: Fleet, release: Release, sops: Sops | None) -> tuple[str | None, bool]:
    """The hub's domain from its domain_override_file (as render and deploy apply it),
    and whether it is a secret (the file is encrypted); (None, False) without one."""
    if release.domain_file is None:
        return None, False
    document = read_values(fleet, release.domain_file)
    if document.encrypted and sops is None:
        raise ExportError(
            f"the hub's domain is in the encrypted {release.domain_file}: exporting its "
            "values needs the fleet's key",
            hint="set SOPS_AGE_KEY_FILE (or the key sops uses) and export again",
        )
    return override_domain(document.document(sops)), document.encrypted


def _check_values(fleet: Fleet, source: str, text: str, sops: Sops | None) -> None:
    require_encrypted(source, text)
    if source.endswith((".yaml", ".yml", ".json")):
        load_data(text, source)  # bounded: a hostile file is refused, not exported
    if sops is not None and is_encrypted(text, source) and sops.may_decrypt(text, source):
        try:
            sops.decrypt(fleet.abspath(source))  # raises on a broken MAC; result dropped
        except KeyUnavailable as exc:
            if not exc.cloud_only:
                raise
            # No cloud login here: exported encrypted as it is, as without a key.


def _copy_chart(chart: Path, target: Path) -> None:
    """The chart as the fleet deploys it (a local folder, or its build in the chart
    cache: chart_override laid over, dependencies in charts/, values.schema.json made
    from values.schema.yaml) as a plain folder; an archive is expanded."""
    if chart.is_dir():
        shutil.copytree(chart, target, symlinks=False)
        return
    with tempfile.TemporaryDirectory(prefix="hubfleet-export-chart-") as scratch:
        helm_python.expand(scratch, chart)
        (expanded,) = [p for p in Path(scratch).iterdir() if p.is_dir()]
        shutil.copytree(expanded, target, symlinks=False)


def _chart_origin(fleet: Fleet, chart: ChartSource) -> str:
    assert chart.local_dir is not None
    origin = _relative(fleet, chart.local_dir)
    if chart.chart_yaml is not None:
        origin += f" with Chart.yaml from {_relative(fleet, chart.chart_yaml)}"
    return origin


def _defaults_text(hub: Hub) -> str:
    """`values/00-hubfleet-defaults.values.yaml`: first in the order, it is where
    values hubfleet added beyond the hub's files would go; hubfleet adds none."""
    return (
        "# Fleet-level defaults that hubfleet adds to this hub's values. This file comes\n"
        "# first in the README's helm command, so every later file can override it.\n"
        "#\n"
        f"# hubfleet {__version__} adds no values of its own: the hub's values are exactly\n"
        "# the files that follow, merged by helm in the command's order (later files win).\n"
        f"# The release name ({hub.release}) and namespace ({hub.namespace}) are given on\n"
        "# the command line.\n"
        "{}\n"
    )


def sops_config_text(recipients: Sequence[str]) -> str:
    return (
        "# sops creation rules for this exported hub: its secret files are encrypted\n"
        "# for these age public keys only.\n"
        "creation_rules:\n"
        "- path_regex: .*secret.*\n"
        f"  age: {','.join(recipients)}\n"
    )


def sops_recipients(content: bytes, path: str) -> list[str]:
    """Who can decrypt a sops file, from its metadata: `age age1...`, `aws kms ARN`, ...
    (hostile metadata: bounded, each identifier escaped; `hubfleet.secrets.metadata`)."""
    text = content.decode("utf-8", errors="replace")
    return sorted({recipient_line(key) for key in master_keys(text, file_format(path))})


def _relative(fleet: Fleet, path: Path) -> str:
    try:
        return path.resolve().relative_to(fleet.root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _write_text(path: Path, text: str) -> None:
    _write_bytes(path, text.encode("utf-8"))


def _write_bytes(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def _write_private(path: Path, content: bytes) -> None:
    """Plaintext by the user's explicit choice: created 0600, never readable by others."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PLAINTEXT_MODE)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)
