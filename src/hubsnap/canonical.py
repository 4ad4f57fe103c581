"""Canonical JSON: the one encoding hubsnap uses for every byte string it hashes or signs.

Keys sorted, no insignificant whitespace, UTF-8, no NaN. Two machines encoding the same value
get the same bytes, which is what makes manifests and statements reproducible.
"""

from __future__ import annotations

import json
from typing import Any

from hubsnap.documents import DEFAULT_MAX_BYTES, load_json_object

__all__ = ["canonical_json", "loads_object"]


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def loads_object(data: bytes, what: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> dict[str, Any]:
    """Parse JSON that must be an object; raise ``ValueError`` naming ``what`` otherwise.

    Bounded and total (see :mod:`hubsnap.documents`): too large, too deep, duplicate keys,
    integers beyond 64 bits, non-finite numbers and lone surrogates are all ``ValueError``
    (:class:`~hubsnap.documents.InvalidDocument`), never a crash, so what parses here can be
    re-encoded with :func:`canonical_json` and hashed.
    """
    return load_json_object(data, what, max_bytes=max_bytes)
