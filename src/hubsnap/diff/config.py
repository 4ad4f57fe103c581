"""The config level: ``config.json`` and ``generation_config.json`` key by key.

Keys are dotted paths (``task_specific_params.summarization.max_length``); a nested object
added or removed is one entry at its own path; lists compare as values. ``true`` and ``1``
differ, ``1`` and ``1.0`` do not. The key-path comparison is shared with the model card.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hubsnap.canonical import loads_object
from hubsnap.diff.files import Side
from hubsnap.errors import IntegrityError

__all__ = [
    "CONFIG_FILES",
    "KeyChange",
    "KeysDiff",
    "diff_config",
    "diff_keys",
    "load_json_file",
    "same_value",
]

CONFIG_FILES = ("config.json", "generation_config.json")


@dataclass(frozen=True)
class KeyChange:
    """One key path: ``base``/``target`` are ``None`` for an added/removed key (then
    ``value`` holds what the present side has)."""

    file: str
    path: str
    base: Any = None
    target: Any = None


@dataclass(frozen=True)
class KeysDiff:
    added: tuple[KeyChange, ...]
    removed: tuple[KeyChange, ...]
    changed: tuple[KeyChange, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "added": [{"file": c.file, "path": c.path, "value": c.target} for c in self.added],
            "removed": [{"file": c.file, "path": c.path, "value": c.base} for c in self.removed],
            "changed": [
                {"file": c.file, "path": c.path, "base": c.base, "target": c.target}
                for c in self.changed
            ],
        }

    @property
    def count(self) -> int:
        return len(self.added) + len(self.removed) + len(self.changed)


def load_json_file(side: Side, path: str) -> dict[str, Any] | None:
    """A JSON object file of ``side``, ``None`` when absent or known only by hash; a
    malformed one is an :class:`IntegrityError` naming it."""
    data = side.read_small(path)
    if data is None:
        return None
    try:
        return loads_object(data, f"{path} of {side.reference}")
    except RecursionError as e:
        raise IntegrityError(f"{path} of {side.reference} nests too deeply") from e
    except ValueError as e:
        raise IntegrityError(str(e)) from e


def same_value(a: Any, b: Any) -> bool:
    """JSON equality that tells ``true`` from ``1`` (Python's ``==`` does not)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _walk(
    file: str, base: Mapping[str, Any], target: Mapping[str, Any], prefix: str,
    out: tuple[list[KeyChange], list[KeyChange], list[KeyChange]],
) -> None:  # fmt: skip
    added, removed, changed = out
    for key in sorted(set(base) | set(target)):
        path = f"{prefix}{key}"
        if key not in base:
            added.append(KeyChange(file, path, None, target[key]))
        elif key not in target:
            removed.append(KeyChange(file, path, base[key], None))
        elif isinstance(base[key], dict) and isinstance(target[key], dict):
            _walk(file, base[key], target[key], f"{path}.", out)
        elif not same_value(base[key], target[key]):
            changed.append(KeyChange(file, path, base[key], target[key]))


def diff_keys(file: str, base: Mapping[str, Any], target: Mapping[str, Any]) -> KeysDiff:
    out: tuple[list[KeyChange], list[KeyChange], list[KeyChange]] = ([], [], [])
    try:
        _walk(file, base, target, "", out)
    except RecursionError as e:
        raise IntegrityError(f"{file} nests too deeply to compare") from e
    return KeysDiff(tuple(out[0]), tuple(out[1]), tuple(out[2]))


def diff_config(base: Side, target: Side) -> KeysDiff | None:
    """Both config files compared; ``None`` when neither side has either."""
    parts = []
    for name in CONFIG_FILES:
        before, after = load_json_file(base, name), load_json_file(target, name)
        if before is None and after is None:
            continue
        parts.append(diff_keys(name, before or {}, after or {}))
    if not parts:
        return None
    return KeysDiff(
        tuple(c for p in parts for c in p.added),
        tuple(c for p in parts for c in p.removed),
        tuple(c for p in parts for c in p.changed),
    )
