"""Difference statistics of two equally long streams of float64 values, in one pass.

Sums are accumulated in float64 chunk by chunk, so memory is one chunk whatever the tensor
size. Dot products go through ``einsum``, not ``np.dot``: numpy's dot is BLAS, and a threaded
OpenBLAS spins on every core for each large vector; on a machine whose cores are busy with
other work that made a diff five to ten times slower than the same sums on one thread.

The cosine comes from the explicit difference: 1 - cos = (|d|² - (|y| - |x|)²) / (2|x||y|),
with |y| - |x| = (2 x·d + |d|²) / (|x| + |y|), so two nearly equal tensors get a small, exact
distance instead of the cancellation error of dot / (|x||y|).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Stats", "measure"]

Values = npt.NDArray[np.float64]


def _dot(a: Values, b: Values) -> float:
    """``a · b`` on this thread (numpy's own loop: no BLAS, no thread pool)."""
    return float(np.einsum("i,i->", a, b))


@dataclass(frozen=True)
class Stats:
    """Statistics over the positions finite on both sides; NaN/Inf counts per side.
    ``rel_l2`` is ``None`` when the base is all zero and the target is not; ``cosine``
    when exactly one side is all zero; the others when no position is finite on both."""

    max_abs_diff: float | None
    mean_abs_diff: float | None
    rel_l2: float | None
    cosine: float | None
    cosine_distance: float | None
    nan_count: int
    inf_count: int
    base_nan_count: int
    base_inf_count: int


def _finite_only(x: Values, y: Values, counts: list[int]) -> tuple[Values, Values]:
    """Count NaN/Inf on each side (into ``counts``) and keep the positions finite on both."""
    counts[0] += int(np.count_nonzero(np.isnan(y)))
    counts[1] += int(np.count_nonzero(np.isinf(y)))
    counts[2] += int(np.count_nonzero(np.isnan(x)))
    counts[3] += int(np.count_nonzero(np.isinf(x)))
    both = np.isfinite(x)
    both &= np.isfinite(y)
    return x[both], y[both]


def measure(pairs: Iterable[tuple[Values, Values]]) -> Stats:
    """Statistics of ``target - base`` over ``(base, target)`` chunks."""
    count = 0
    max_abs = sum_abs = sq_diff = sq_base = cross = 0.0
    counts = [0, 0, 0, 0]  # target NaN, target Inf, base NaN, base Inf
    scratch = np.empty(0, dtype=np.float64)
    for base, target in pairs:
        x, y = base, target
        if len(scratch) < len(x):
            scratch = np.empty(len(x), dtype=np.float64)
        d = np.subtract(y, x, out=scratch[: len(x)])
        dd, xx, dx = _dot(d, d), _dot(x, x), _dot(d, x)
        if not math.isfinite(dd + xx + dx):
            # A NaN or Inf anywhere shows in these sums (so does an overflow, which this
            # slower path also handles): only then are the values looked at one by one.
            x, y = _finite_only(x, y, counts)
            d = y - x
            dd, xx, dx = _dot(d, d), _dot(x, x), _dot(d, x)
        if not len(d):
            continue
        count += len(d)
        sq_diff += dd
        sq_base += xx
        cross += dx
        np.abs(d, out=d)
        max_abs = max(max_abs, float(d.max()))
        sum_abs += float(d.sum())
    # |y|² - |x|² = 2 x·d + |d|², from the explicit difference.
    gap = 2.0 * cross + sq_diff
    sq_target = max(sq_base + gap, 0.0)
    norm_b, norm_t = math.sqrt(sq_base), math.sqrt(sq_target)
    rel_l2: float | None = math.sqrt(sq_diff) / norm_b if norm_b else None
    if norm_b == 0.0 and sq_diff == 0.0:
        rel_l2 = 0.0
    distance: float | None
    if norm_b == 0.0 and norm_t == 0.0:
        distance = 0.0
    elif norm_b == 0.0 or norm_t == 0.0:
        distance = None
    else:
        norm_gap = gap / (norm_b + norm_t)
        distance = (sq_diff - norm_gap * norm_gap) / (2.0 * norm_b * norm_t)
        distance = min(max(distance, 0.0), 2.0)
    return Stats(
        max_abs_diff=max_abs if count else None,
        mean_abs_diff=sum_abs / count if count else None,
        rel_l2=rel_l2 if count else None,
        cosine=None if distance is None or not count else 1.0 - distance,
        cosine_distance=distance if count else None,
        nan_count=counts[0],
        inf_count=counts[1],
        base_nan_count=counts[2],
        base_inf_count=counts[3],
    )
