"""Commit message trailers (``Key: value`` lines of the last paragraph), read as git reads
them for the ``Hubsnap-Artifact`` and ``Hubsnap-Source`` trailers; no git needed."""

from __future__ import annotations

__all__ = ["message_trailers"]


def message_trailers(message: str) -> dict[str, str]:
    """The trailers of ``message`` (last value of each key); ``{}`` when it has none."""
    paragraphs = [p for p in message.strip().split("\n\n") if p.strip()]
    if len(paragraphs) < 2:
        return {}
    found: dict[str, str] = {}
    for line in paragraphs[-1].splitlines():
        key, sep, value = line.partition(": ")
        if not sep or not key or " " in key:
            return {}
        found[key] = value.strip()
    return found
