"""The model-card level: the YAML front matter of ``README.md``, key by key, as config."""

from __future__ import annotations

from typing import Any

from hubsnap.diff.config import KeysDiff, diff_keys
from hubsnap.diff.files import Side
from hubsnap.snapshot import parse_card

__all__ = ["CARD_FILE", "diff_card"]

CARD_FILE = "README.md"


def _plain(value: Any) -> Any:
    """YAML values as JSON has them: a date or other scalar JSON lacks becomes its text."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def diff_card(base: Side, target: Side) -> KeysDiff | None:
    """Front-matter keys compared; ``None`` when neither side has a readable card."""
    before, after = base.read_small(CARD_FILE), target.read_small(CARD_FILE)
    if before is None and after is None:
        return None
    return diff_keys(
        CARD_FILE,
        _plain(parse_card(before)) if before is not None else {},
        _plain(parse_card(after)) if after is not None else {},
    )
