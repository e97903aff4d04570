"""`hubfleet schema`."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from typing import Annotated

from hubfleet.cli import spec


class Kind(StrEnum):
    cluster = "cluster"
    fleet = "fleet"
    plan = "plan"


def command(
    kind: Annotated[
        Kind, spec.Argument(help="cluster (cluster.yaml), fleet (hubfleet.yaml) or plan")
    ] = Kind.cluster,
) -> None:
    """Print a JSON Schema: for editors (cluster.yaml, hubfleet.yaml) and CI (plan JSON)."""
    if kind is Kind.plan:
        from hubfleet.plan.schema import plan_json_schema

        schema = plan_json_schema()
    else:
        from hubfleet.config.schema import json_schema

        schema = json_schema(kind.value)
    sys.stdout.write(json.dumps(schema, indent=2, sort_keys=True) + "\n")
