"""The JSON Schema of `hubfleet plan --output json` (`hubfleet schema plan`)."""

from __future__ import annotations

from typing import Any

from hubfleet.base.errors import Problem
from hubfleet.plan.job import Kind

# The plan's job lists (DESIGN.md section 3) and the kind of job each holds, in
# deploy order: what `hubfleet plan` writes and `hubfleet deploy --plan` and
# `hubfleet ci matrix` read.
# `uninstall_jobs` (decommissioned hubs, docs/decommission.md) is written only when
# it has a job, so a plan without one is the same bytes as before it existed.
JOB_LISTS: tuple[tuple[str, Kind], ...] = (
    ("support_jobs", "support"),
    ("staging_jobs", "staging"),
    ("prod_jobs", "prod"),
    ("uninstall_jobs", "uninstall"),
)

# 2: `version` and `broken` (clusters whose configuration does not load); a plan
# without `version` is version 1. 3: `live` (`plan --live`: jobs from the clusters'
# live state, docs/status.md "Reconciling plans"); a plan without `live` is still
# written as version 2, so every plan an older hubfleet could read it still reads.
PLAN_VERSION = 3
BASE_PLAN_VERSION = 2
SCHEMA_ID = "https://hubfleet.dev/schemas/plan.json"
_COMMIT = "^[0-9a-f]{40}([0-9a-f]{24})?$"


def _job(*, hub: bool, kind: bool = False) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "cluster_name": {"type": "string", "minLength": 1},
        "provider": {"type": "string"},
        "reasons": {"type": "array", "items": {"type": "string"}},
        "choice_reason": {"type": "string"},
        "wave": {"type": "string", "minLength": 1},
    }
    required = ["cluster_name", "provider", "reasons", "choice_reason"]
    if hub:
        properties["hub_name"] = {"type": "string", "minLength": 1}
        required.insert(2, "hub_name")
    if kind:
        properties["hub_name"] = {"type": "string", "minLength": 1}
        properties["kind"] = {"enum": ["support", "staging", "prod", "cluster", "uninstall"]}
        required.append("kind")
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _jobs(description: str, *, hub: bool, kind: bool = False) -> dict[str, Any]:
    return {"description": description, "type": "array", "items": _job(hub=hub, kind=kind)}


def plan_json_schema() -> dict[str, Any]:
    """The plan's JSON Schema (draft 2020-12)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "hubfleet plan",
        "description": "Which support releases, staging hubs and production hubs to upgrade, "
        "with the reasons for each; lists are sorted by cluster then hub.",
        "type": "object",
        "properties": {
            "version": {
                "description": "the plan format (absent: 1); readers refuse a newer one",
                "type": "integer",
                "minimum": 1,
                "maximum": PLAN_VERSION,
            },
            "broken": {
                "description": "clusters whose configuration does not load: no jobs, their "
                "errors (docs/isolation.md)",
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "cluster_name": {"type": "string", "minLength": 1},
                        "provider": {"type": "string"},
                        "file": {"type": "string"},
                        "problems": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "path": {"type": "string"},
                                    "line": {"type": "integer", "minimum": 0},
                                    "message": {"type": "string"},
                                    "hint": {"type": ["string", "null"]},
                                },
                                "required": ["path", "line", "message", "hint"],
                                "additionalProperties": False,
                            },
                        },
                    },
                    "required": ["cluster_name", "provider", "file", "problems"],
                    "additionalProperties": False,
                },
            },
            "live": {
                "description": "plan --live (version 3): the clusters whose live state was "
                "read, whether rolled-back hubs are retried, and the clusters that could not "
                "be read (docs/status.md)",
                "type": "object",
                "properties": {
                    "clusters": {"type": "array", "items": {"type": "string", "minLength": 1}},
                    "retry": {"type": "boolean"},
                    "unreachable": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "cluster_name": {"type": "string", "minLength": 1},
                                "provider": {"type": "string"},
                                "message": {"type": "string"},
                            },
                            "required": ["cluster_name", "provider", "message"],
                            "additionalProperties": False,
                        },
                    },
                },
                "required": ["clusters", "retry", "unreachable"],
                "additionalProperties": False,
            },
            "support_jobs": _jobs("support releases to upgrade (one per cluster)", hub=False),
            "staging_jobs": _jobs("staging hubs (canaries), upgraded and checked first", hub=True),
            "prod_jobs": _jobs(
                "production hubs, upgraded after their cluster's canaries", hub=True
            ),
            "uninstall_jobs": _jobs(
                "decommissioned hubs the deploy uninstalls (docs/decommission.md)", hub=True
            ),
            "removed_hubs": _jobs(
                "hubs gone from cluster.yaml: never uninstalled by a plan", hub=True
            ),
            "skipped": _jobs("units considered and not deployed, with why", hub=False, kind=True),
            "terraform_jobs": _jobs("clusters needing a terraform plan", hub=False),
            "held": _jobs(
                "hubs held back (hold: in cluster.yaml): not deployed", hub=True, kind=True
            ),
            "rollout": {
                "description": "the plan is rolled out in waves (rollout: in hubfleet.yaml): "
                "why, and the waves in order; each job names its wave",
                "type": "object",
                "properties": {
                    "trigger": {"type": "string"},
                    "waves": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "name": {"type": "string", "minLength": 1},
                                "soak_s": {"type": "number", "minimum": 0},
                                "max_failures": {"type": ["integer", "string"]},
                            },
                            "required": ["name", "soak_s", "max_failures"],
                            "additionalProperties": False,
                        },
                    },
                },
                "required": ["trigger", "waves"],
                "additionalProperties": False,
            },
            "warnings": {"type": "array", "items": {"type": "string"}},
            "unmatched_files": {
                "description": "changed files nothing depends on",
                "type": "array",
                "items": {"type": "string"},
            },
            "community": {
                "description": "plan --event: whether the change is community-only, and why "
                "(docs/community.md)",
                "type": "object",
                "properties": {
                    "community_only": {"type": "boolean"},
                    "files_only": {"type": "boolean"},
                    "reasons": {"type": "array", "items": {"type": "string"}},
                    "hubs": {"type": "array", "items": {"type": "object"}},
                    "files": {"type": "array", "items": {"type": "object"}},
                },
                "required": ["community_only", "files_only", "reasons"],
            },
            "planned": {
                "description": "what the plan was made from: `deploy --plan` makes it again "
                "from this record and refuses any job the fleet would not give",
                "type": "object",
                "properties": {
                    "base": {"type": ["string", "null"], "pattern": _COMMIT},
                    "head": {"type": ["string", "null"], "pattern": _COMMIT},
                    "changes": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "path": {"type": "string", "minLength": 1},
                                "status": {"enum": list("ACDMRTUX")},
                                "old_path": {"type": "string", "minLength": 1},
                            },
                            "required": ["path", "status"],
                            "additionalProperties": False,
                        },
                    },
                    "labels": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["base", "head", "changes", "labels"],
                "additionalProperties": False,
            },
        },
        "required": ["support_jobs", "staging_jobs", "prod_jobs"],
        "additionalProperties": False,
    }


def check_plan_json(data: Any, path: str) -> list[Problem]:
    """Problems of a saved plan against the schema, one per violation."""
    # lazy: jsonschema takes ~1 s to import; the plan, ci and deploy import this module
    import jsonschema  # type: ignore[import-untyped,unused-ignore]

    validator = jsonschema.Draft202012Validator(plan_json_schema())
    problems = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path))):
        where = "/".join(str(p) for p in error.absolute_path) or "(top)"
        problems.append(
            Problem(
                path, 0, f"{where}: {error.message}", "a plan from `hubfleet plan --output json`"
            )
        )
    return problems
