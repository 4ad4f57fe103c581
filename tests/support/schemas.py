"""Check a command's ``--json`` output against the JSON Schema its ``schema`` field names."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

SCHEMAS = Path(__file__).parents[2] / "schemas"


@cache
def schemas_by_id() -> dict[str, dict[str, Any]]:
    """Every schema in ``schemas/`` by the ``schema`` constant its documents carry."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(SCHEMAS.glob("*.schema.json")):
        schema = json.loads(path.read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        const = schema.get("properties", {}).get("schema", {}).get("const")
        if const is not None:
            assert const not in found, f"two schemas for {const}"
            found[const] = schema
    return found


def validated(out: str, command: str) -> dict[str, Any]:
    """Parse ``out``, check it names ``hubsnap.dev/COMMAND/v1`` and matches that schema."""
    document = json.loads(out)
    assert isinstance(document, dict), "a --json document is an object"
    assert document.get("schema") == f"hubsnap.dev/{command}/v1", document.get("schema")
    validator = jsonschema.Draft202012Validator(schemas_by_id()[document["schema"]])
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
    assert not errors, errors
    return document
