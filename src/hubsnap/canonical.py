"""Canonical JSON: the one encoding hubsnap uses for every byte string it hashes or signs.

Keys sorted, no insignificant whitespace, UTF-8, no NaN. Two machines encoding the same value
get the same bytes, which is what makes manifests and statements reproducible.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["canonical_json", "loads_object"]


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def loads_object(data: bytes, what: str) -> dict[str, Any]:
    """Parse JSON that must be an object; raise ``ValueError`` naming ``what`` otherwise."""
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{what} is not valid JSON: {e}") from e
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not a JSON object")
    return value
