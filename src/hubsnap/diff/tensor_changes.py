"""What the safetensors levels report: tensors changed (with their statistics), reshaped,
added and removed, as plain values.

Kept apart from :mod:`hubsnap.diff.tensors`, which computes them over memory maps with
numpy, so that a report, its renderers and a diff that reads no tensor (identical digests)
never load numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Reshaped", "TensorChange", "TensorsDiff"]


@dataclass(frozen=True)
class TensorChange:
    """A same-dtype, same-shape tensor whose bytes differ. The statistics are ``None`` when
    the dtype is not decoded (F4, F6) or undefined (``rel_l2`` of an all-zero base,
    ``cosine`` of a zero tensor against a non-zero one). NaN/Inf counts are the target's;
    the statistics are over positions finite on both sides."""

    file: str
    name: str
    dtype: str
    shape: tuple[int, ...]
    max_abs_diff: float | None
    mean_abs_diff: float | None
    rel_l2: float | None
    cosine: float | None
    cosine_distance: float | None
    nan_count: int | None
    inf_count: int | None
    base_nan_count: int | None
    base_inf_count: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "name": self.name,
            "dtype": self.dtype,
            "shape": list(self.shape),
            "max_abs_diff": self.max_abs_diff,
            "mean_abs_diff": self.mean_abs_diff,
            "rel_l2": self.rel_l2,
            "cosine": self.cosine,
            "cosine_distance": self.cosine_distance,
            "nan_count": self.nan_count,
            "inf_count": self.inf_count,
            "base_nan_count": self.base_nan_count,
            "base_inf_count": self.base_inf_count,
        }


@dataclass(frozen=True)
class Reshaped:
    file: str
    name: str
    base: tuple[str, tuple[int, ...]]
    target: tuple[str, tuple[int, ...]]

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "name": self.name,
            "base": {"dtype": self.base[0], "shape": list(self.base[1])},
            "target": {"dtype": self.target[0], "shape": list(self.target[1])},
        }


@dataclass(frozen=True)
class TensorsDiff:
    """``changed`` and ``unchanged`` are ``None`` when values were not compared (the
    ``headers`` level alone)."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    reshaped: tuple[Reshaped, ...]
    changed: tuple[TensorChange, ...] | None
    unchanged: int | None
    bytes_compared: int = 0
    #: Quantised tensors against their counterparts, both sides dequantised (their
    #: ``dtype`` reads ``BASE->TARGET``); empty when no format said how.
    dequantised: tuple[TensorChange, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "added": list(self.added),
            "removed": list(self.removed),
            "reshaped": [r.to_json() for r in self.reshaped],
            "changed": None if self.changed is None else [c.to_json() for c in self.changed],
            "unchanged": self.unchanged,
            "dequantised": [c.to_json() for c in self.dequantised],
        }
