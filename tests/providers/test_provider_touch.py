"""What adding a provider touches: its module, its row in the provider table, its
block model, its tests, nothing else (issue 14; docs/architecture.md "Where to add").

Outside the provider's own places (`config/providers.py`, `config/models.py`,
`providers/`) and the Terraform room (per cloud by nature), no code of
`src/hubfleet` names a provider: every list and branch derives from the table.
The few string literals equal to a provider name that are something else (a target
kind, a command) or a rule for one provider that a new one does not need are listed
in `ALLOWED` with their reason; the list is exact (a stale entry fails too).
"""

from __future__ import annotations

import ast
import importlib
import re
import typing
from dataclasses import replace
from pathlib import Path

import pytest
from tests.providers.conftest import context, load

from hubfleet.base.runner import ProgramNotFound
from hubfleet.ci import workflows
from hubfleet.cli.ci import init as ci_init
from hubfleet.cli.new import cluster as new_cluster
from hubfleet.config import providers
from hubfleet.config.models import ClusterFile, provider_block_model
from hubfleet.config.providers import TABLE
from hubfleet.deploy.checks import CHECKS, health_checks
from hubfleet.deploy.kinds import BACKENDS
from hubfleet.new import providers as new_providers
from hubfleet.providers import NAMES, get_provider

SRC = Path(__file__).resolve().parents[2] / "src" / "hubfleet"
TEMPLATES = SRC / "ci" / "templates"
# The provider's own places, and the Terraform room (a module per cloud).
OWN = ("config/providers.py", "config/models.py", "providers/", "terraform/")

# (file under src/hubfleet, literal) -> why it is not a list of providers to extend.
ALLOWED: dict[tuple[str, str], str] = {
    ("cli/local.py", "local"): "the target kind `local` (`target_of(...) == 'local'`)",
    ("cli/commands.py", "local"): "the command `hubfleet local`'s name in the lazy command table",
    ("deploy/checks.py", "local"): "the target kind `local`: its check, `target_of`",
    ("deploy/kinds.py", "local"): "the target kind `local`: its release backend",
    ("live/query.py", "local"): "the target kind `local`: its hubs' revisions, read from disk",
    ("config/load.py", "local"): "the local block's own key `local.state_dir` (its warning)",
    ("local/state.py", "local"): "the local runtime's state folder `.hubfleet/local`",
    ("helm/charts.py", "local"): "a chart source of kind local (a folder), not a provider",
    ("config/terraform.py", "gcp"): "Terraform facts per cloud (terraform/modules/<cloud>)",
    ("config/terraform.py", "aws"): "Terraform facts per cloud (terraform/modules/<cloud>)",
    ("config/terraform.py", "azure"): "Terraform facts per cloud (terraform/modules/<cloud>)",
    ("release/pipeline.py", "aws"): "the other deployer's jsonnet rules (EKS clusterName, "
    "account); any other provider gets the cluster's name and no account",
    ("release/pipeline.py", "gcp"): "the other deployer's jsonnet rules (the GCP project "
    "as the account)",
}


def provider_literals(root: Path, names: typing.Collection[str]) -> set[tuple[str, str, int]]:
    """(file, literal, line) of every string constant equal to one of `names` in the
    Python files under `root`, outside the provider's own places."""
    found = set()
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if relative.startswith(OWN):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
                continue
            if node.value in names:
                found.add((relative, node.value, node.lineno))
    return found


def test_no_code_outside_the_providers_places_names_a_provider() -> None:
    found = provider_literals(SRC, providers.PROVIDERS)
    unlisted = sorted(f"{f}:{line}: {v!r}" for f, v, line in found if (f, v) not in ALLOWED)
    assert not unlisted, "derive these from config/providers.py (or allow them with a reason)"
    stale = sorted(ALLOWED.keys() - {(f, v) for f, v, _ in found})
    assert not stale, f"allowed but no longer there: {stale}"


def test_the_scan_finds_a_provider_branch(tmp_path: Path) -> None:
    (tmp_path / "deploy").mkdir()
    (tmp_path / "providers").mkdir()
    (tmp_path / "deploy" / "x.py").write_text(
        'def f(c):\n    return c.provider == "kubeconfig" or c.provider in ("gcp", "aws")\n'
    )
    (tmp_path / "providers" / "gcp.py").write_text('PROVIDER = "gcp"\n')
    assert provider_literals(tmp_path, providers.PROVIDERS) == {
        ("deploy/x.py", "kubeconfig", 2),
        ("deploy/x.py", "gcp", 2),
        ("deploy/x.py", "aws", 2),
    }


def test_every_derived_list_is_what_the_table_says() -> None:
    names = tuple(f.name for f in TABLE)
    assert providers.PROVIDERS == names == typing.get_args(providers.Provider)
    assert set(NAMES) == set(names)
    kubernetes = tuple(f.name for f in TABLE if f.target == "kubernetes")
    assert tuple(sorted(kubernetes)) == providers.KUBERNETES
    assert kubernetes == providers.CI_PROVIDERS
    assert tuple(f.name for f in TABLE if f.keyless_login) == providers.CLOUD_PROVIDERS
    keys = {f.name: f.credentials_key for f in TABLE if f.credentials_key}
    assert providers.CREDENTIALS_KEY == keys == new_providers.CREDENTIAL_KEY
    assert set(new_providers.BLOCKS) == set(names)
    assert set(health_checks()) == set(names)
    assert {f.target for f in TABLE} <= set(BACKENDS) & set(CHECKS)
    for facts in TABLE:
        assert get_provider(facts.name).name == facts.name
        assert facts.name in ClusterFile.model_fields
        block = provider_block_model(facts.name)
        if facts.credentials_key is not None:
            assert facts.credentials_key in block.model_fields
        assert set(block.ASKED_ALTERNATIVES) | set(block.ASKED_ALTERNATIVES.values()) <= set(
            block.model_fields
        )


def test_the_commands_help_names_the_tables_providers() -> None:
    def option_help(command: typing.Callable[..., object], name: str) -> str:
        hints = typing.get_type_hints(command, include_extras=True)
        return str(typing.get_args(hints[name])[1].help)

    provider_help = option_help(new_cluster, "provider")
    assert all(name in provider_help for name in providers.PROVIDERS), provider_help
    ci_help = option_help(ci_init, "provider")
    assert all(name in ci_help for name in providers.CLOUD_PROVIDERS), ci_help


def test_the_templates_branch_on_keyless_logins_only_each_with_its_step() -> None:
    """A keyless CI login is the one provider fact the templates hold (inherent: its
    login step); every other provider needs nothing there."""
    directive = re.compile(r"^\s*#%\s*if\s+(.+?)\s*$", re.MULTILINE)
    conditions: dict[str, set[str]] = {}
    for template in sorted(TEMPLATES.rglob("*.yaml")):
        for match in directive.finditer(template.read_text(encoding="utf-8")):
            conditions.setdefault(template.name, set()).update(match.group(1).split())
    assert set().union(*conditions.values()) <= set(providers.CLOUD_PROVIDERS)
    assert conditions["hubfleet-cluster.yaml"] == set(providers.CLOUD_PROVIDERS)
    for name in providers.CLOUD_PROVIDERS:  # the rendering keeps exactly its steps
        alone = workflows.render_workflows([name])[".github/workflows/hubfleet-cluster.yaml"]
        assert f"provider == '{name}'" in alone
        others = set(providers.CLOUD_PROVIDERS) - {name}
        assert not any(f"provider == '{other}'" in alone for other in others)


@pytest.mark.parametrize("name", ["gcp", "aws", "azure"])
def test_a_missing_provider_cli_gets_the_modules_install_hint(
    name: str, fleet_copy: Path, tmp_path: Path, age_key: Path
) -> None:
    """The install hint of a provider's CLI is in its module (`INSTALL_HINT`), not in
    the runner: a new provider's CLI needs no row there."""
    module = importlib.import_module(f"hubfleet.providers.{name}")
    fleet = load(fleet_copy)
    cluster = next(c for c in fleet.clusters if c.provider == name)
    empty = tmp_path / "empty-path"
    empty.mkdir()
    ctx = replace(context(fleet, cluster.name), extra_env={"PATH": str(empty)})
    with pytest.raises(ProgramNotFound) as info, get_provider(name).credentials(ctx):
        pass
    assert info.value.hint == module.INSTALL_HINT
    assert "https://" in module.INSTALL_HINT
