"""`hubfleet new cluster` and `hubfleet new hub`: scaffold, then validate."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from hubfleet.cli import spec
from hubfleet.cli.common import Output, echo, echo_json, repo_root
from hubfleet.config.providers import PROVIDERS

if TYPE_CHECKING:
    from hubfleet.new.scaffold import Created

# The provider table's names: "gcp, aws, azure, kubeconfig or local."
_PROVIDER_HELP = f"{', '.join(PROVIDERS[:-1])} or {PROVIDERS[-1]}."
app = spec.Group(help="Create a cluster or a hub (files, cluster.yaml entry), then validate.")


@app.command("cluster")
def cluster(
    ctx: spec.Context,
    name: Annotated[str, spec.Argument(help="The new cluster's name (a DNS label).")],
    provider: Annotated[str, spec.Option("--provider", "-p", help=_PROVIDER_HELP)],
    setting: Annotated[
        list[str] | None,
        spec.Option(
            "--set",
            help="A provider setting KEY=VALUE (repeatable); missing required ones are asked.",
        ),
    ] = None,
    credentials_from: Annotated[
        Path | None,
        spec.Option(
            "--credentials-from",
            help="A deploy credentials file (kubeconfig, service-account key) to encrypt "
            "with sops into the cluster folder; the file itself is only read.",
        ),
    ] = None,
    no_input: Annotated[
        bool, spec.Option("--no-input", help="Never prompt: fail on a missing setting.")
    ] = False,
    output: Annotated[Output, spec.Option("--output", "-o", help="text or json.")] = Output.text,
) -> None:
    """Create config/clusters/NAME/ with cluster.yaml (the provider block) and a
    support values file."""
    from hubfleet.base.errors import ConfigError
    from hubfleet.new import providers
    from hubfleet.new.scaffold import new_cluster

    providers.check_provider(provider)
    settings: dict[str, str] = {}
    for item in setting or []:
        given, sep, value = item.partition("=")
        if not sep or not given:
            raise ConfigError(f"--set {item!r} is not KEY=VALUE")
        settings[given.strip()] = value.strip()
    for key in providers.required_keys(provider):
        if providers.satisfied(provider, key.name, settings):
            continue
        if no_input:
            raise ConfigError(
                f"{provider} needs {key.name!r} ({key.description})",
                hint=f"pass --set {key.name}=VALUE",
            )
        settings[key.name] = spec.prompt(f"{provider}.{key.name} ({key.description})")
    credentials = credentials_from.read_bytes() if credentials_from else None
    created = new_cluster(repo_root(ctx), name, provider, settings, credentials=credentials)
    _report(ctx, created, output, f"cluster {name}")


@app.command("hub")
def hub(
    ctx: spec.Context,
    cluster_name: Annotated[str, spec.Argument(metavar="CLUSTER", help="The cluster.")],
    name: Annotated[str, spec.Argument(help="The new hub's name (a DNS label, ≤ 53 chars).")],
    domain: Annotated[str, spec.Option("--domain", "-d", help="The hub's domain name.")],
    staging: Annotated[
        bool, spec.Option("--staging", help="A canary: upgraded (and checked) first.")
    ] = False,
    from_hub: Annotated[
        str | None,
        spec.Option("--from", help="Copy this hub's values files (never its secrets)."),
    ] = None,
    helm_chart: Annotated[
        str | None, spec.Option("--helm-chart", help="The chart (default: the fleet's).")
    ] = None,
    output: Annotated[Output, spec.Option("--output", "-o", help="text or json.")] = Output.text,
) -> None:
    """Add hub NAME to CLUSTER: values file, encrypted secrets file (sops, the
    repository's .sops.yaml rules) and its entry in cluster.yaml, comments kept."""
    from hubfleet.new.scaffold import new_hub

    created = new_hub(
        repo_root(ctx),
        cluster_name,
        name,
        domain,
        staging=staging,
        from_hub=from_hub,
        helm_chart=helm_chart,
    )
    _report(ctx, created, output, f"hub {cluster_name}/{name}")


def _report(ctx: spec.Context, created: Created, output: Output, what: str) -> None:
    if output == Output.json:
        echo_json(
            ctx,
            {
                "created": list(created.files),
                "changed": list(created.changed),
                "problems": [p.render() for p in created.problems],
                "notes": list(created.notes),
                "ok": created.ok,
            },
        )
    else:
        lines = [f"created {what}:"]
        lines += [f"  + {path}" for path in created.files]
        lines += [f"  ~ {path}" for path in created.changed]
        lines += [f"note: {note}" for note in created.notes]
        echo(ctx, "\n".join(lines))
        for problem in created.problems:
            echo(ctx, problem.render(), err=True)
        if created.ok:
            warnings = sum(1 for p in created.problems if p.severity == "warning")
            echo(
                ctx,
                f"validation: no errors ({warnings} warning(s))"
                if warnings
                else "validation: no problems",
            )
    if not created.ok:
        raise spec.Exit(2)
