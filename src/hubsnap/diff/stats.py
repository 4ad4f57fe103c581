"""Difference statistics of two equally long streams of float64 values, in one pass.

Sums are accumulated in float64 chunk by chunk, so memory is one chunk whatever the tensor
size. The cosine comes from the explicit difference: 1 - cos = (|d|² - (|y| - |x|)²) /
(2|x||y|), with |y| - |x| = d·(x + y) / (|x| + |y|), so two nearly equal tensors get a
small, exact distance instead of the cancellation error of dot / (|x||y|).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Stats", "measure"]

Values = npt.NDArray[np.float64]


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


def measure(pairs: Iterable[tuple[Values, Values]]) -> Stats:
    """Statistics of ``target - base`` over ``(base, target)`` chunks."""
    count = 0
    max_abs = sum_abs = sq_diff = sq_base = sq_target = gap = 0.0
    nan_t = inf_t = nan_b = inf_b = 0
    for base, target in pairs:
        x, y = base, target
        nan_b += int(np.count_nonzero(np.isnan(x)))
        nan_t += int(np.count_nonzero(np.isnan(y)))
        inf_b += int(np.count_nonzero(np.isinf(x)))
        inf_t += int(np.count_nonzero(np.isinf(y)))
        both = np.isfinite(x) & np.isfinite(y)
        if not both.all():
            x, y = x[both], y[both]
        if not len(x):
            continue
        d = y - x
        count += len(d)
        absd = np.abs(d)
        max_abs = max(max_abs, float(absd.max()))
        sum_abs += float(absd.sum())
        sq_diff += float(np.dot(d, d))
        sq_base += float(np.dot(x, x))
        sq_target += float(np.dot(y, y))
        gap += float(np.dot(d, x + y))  # |y|² - |x|², from the explicit difference
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
        nan_count=nan_t,
        inf_count=inf_t,
        base_nan_count=nan_b,
        base_inf_count=inf_b,
    )
