"""Each shared rule has one definition (issue 22): Kubernetes' and helm's name rules in
`base/kubenames.py`, Go durations in `base/duration.py`, the private folders in
`base/private.py` (their owner and sweep in `base/sweep.py`), the Terraform module folder
in `config/terraform.py`, a release's `cluster/hub` label in `config/fleet.py`, each
provider key format in its `providers/<cloud>.py`; every former copy uses them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hubfleet.base import duration, kubenames
from hubfleet.config.fleet import release_label
from hubfleet.config.terraform import module_folder

SRC = Path(__file__).resolve().parents[2] / "src" / "hubfleet"

# Spellings a copy of a rule would write again, in code (comments, docstrings and help
# texts may name the limits): a label's character class, a length test or constant
# with a name limit, a Go duration's units.
RULES = {
    "base/kubenames.py": (
        r"\[-a-z0-9\]",
        r"len\([^)]*\)\s*[<>]=?\s*(?:53|63|253)\b",
        r"^[A-Z_]+\s*=\s*(?:53|63|253)\b",
    ),
    "base/duration.py": (r"\|ms\|", r"\(h\|ms"),
    # the registry, its removal at exit, the watchdog registration
    "base/private.py": (
        r"def (private_folder|write_private|remove_all_private_folders|open_private_folders)\b",
        r"atexit\.register\(remove_all",
        r"watchdog\.(watch|release)_folder\(",
        r"_open_folders\b",
    ),
    "base/sweep.py": (r"def (sweep_stale|current_owner|owner_of)\b", r'"hubfleet-creds-"'),
    "config/terraform.py": (r'f"terraform/\{', r"\{MODULES_DIR\}/", r"MODULES_DIR\s*="),
    # `cluster/hub`, or `cluster/support` for the support release
    "config/fleet.py": (
        r"\}/\{[^}]*\bor ['\"]support['\"]\}",
        r"\{(?:self|hub|s|r)\.cluster\}/\{(?:self|hub|s|r)\.(?:hub|name)\}",
    ),
    "providers/aws.py": (r"\[\"AccessKey\"\]|get\(\"AccessKey\"", r"\"SessionToken\"\)"),
    "providers/azure.py": (r'"service_principal_id"', r'"appId"', r'"service_principal_password"'),
    "providers/gcp.py": (r'get\("(?:private_key|client_email)"\)',),
}


def _code_lines(path: Path) -> list[str]:
    return [
        line.strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


@pytest.mark.parametrize("home", sorted(RULES))
def test_each_rule_is_written_in_its_home_only(home: str) -> None:
    assert (SRC / home).is_file()
    copies = sorted(
        f"{path.relative_to(SRC)}: {line}"
        for path in SRC.rglob("*.py")
        if str(path.relative_to(SRC)) != home
        for line in _code_lines(path)
        if any(re.search(spelling, line) for spelling in RULES[home])
    )
    assert copies == [], f"rules of {home} written again"


@pytest.mark.parametrize(
    ("value", "label", "release", "subdomain"),
    [
        ("research", True, True, True),
        ("a" * 53, True, True, True),
        ("a" * 54, True, False, True),
        ("a" * 63, True, False, True),
        ("a" * 64, False, False, True),
        ("hub.example", False, False, True),
        ("-hub", False, False, False),
        ("hub-", False, False, False),
        ("Hub", False, False, False),
        ("hub\n", False, False, False),
        ("", False, False, False),
    ],
)
def test_name_rules(value: str, label: bool, release: bool, subdomain: bool) -> None:
    assert kubenames.is_label(value) is label
    assert kubenames.is_release_name(value) is release
    assert kubenames.is_subdomain(value) is subdomain


def test_domains() -> None:
    assert kubenames.is_domain("hub.example.org")
    assert not kubenames.is_domain(("a" * 64) + ".org")  # a label over 63
    assert not kubenames.is_domain(".".join(["a" * 60] * 5))  # over 253 in all
    assert not kubenames.is_domain("hub.example.org\n")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10m", 600.0), ("300s", 300.0), ("1h30m", 5400.0), ("1.5h", 5400.0), ("0", 0.0),
     ("250ms", 0.25), (".5s", 0.5)],
)  # fmt: skip
def test_go_durations(text: str, seconds: float) -> None:
    assert duration.seconds(text) == seconds


@pytest.mark.parametrize("text", ["90", "10 minutes", "-5m", "10m\n", " 10m", "m", "1d", ""])
def test_what_go_refuses_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        duration.seconds(text)


def test_a_copy_of_a_rule_is_found() -> None:
    """The scan finds what it looks for: each former copy, as it was written."""
    former = {
        "config/terraform.py": "return f\"terraform/{data.get('provider')}\"",
        "config/fleet.py": "return f\"{self.cluster}/{self.hub or 'support'}\"",
        "providers/azure.py": 'secret.get("appId") or secret.get("service_principal_id")',
        "providers/aws.py": 'key = secret.get("AccessKey", secret)',
        "base/private.py": "with private_folder(cluster.name) as folder:  # no: a use",
    }
    for home, line in former.items():
        found = any(re.search(spelling, line) for spelling in RULES[home])
        assert found is (home != "base/private.py"), home


def test_the_label_and_the_module_folder() -> None:
    assert release_label("alpha", "research") == "alpha/research"
    assert release_label("alpha", None) == "alpha/support"
    assert module_folder("gcp") == "terraform/gcp"
    assert module_folder("aws", "/infra/aws/") == "infra/aws"
    assert module_folder("azure", "/") == module_folder("azure", "") == "terraform/azure"
