"""JSON Schemas of the fleet's files, from the models (so editors can complete them)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from hubfleet.config.models import ClusterFile, FleetFile

SCHEMA_URI = "https://json-schema.org/draft/2020-12/schema"


def json_schema(kind: str) -> dict[str, Any]:
    model: type[BaseModel] = ClusterFile if kind == "cluster" else FleetFile
    schema: dict[str, Any] = model.model_json_schema()
    schema["$schema"] = SCHEMA_URI
    schema["title"] = {"cluster": "cluster.yaml", "fleet": "hubfleet.yaml"}[kind]
    return schema
