"""The numbers a behaviour comparison reports, per input and over the test set.

Per input (:func:`compare`): whether the two label sets agree, their Jaccard index (1.0 when
both are empty), the signed confidence change (target − base) and, for embeddings, the
cosine of the two vectors. Over the test set: the Wilson score interval of the label shift
rate, an exact McNemar test on the inputs only one side got right (the two-sided binomial
test on the discordant pairs, computed in exact integer arithmetic; p = 1 when there are
none) and a Wilcoxon signed-rank test on the non-zero confidence changes (scipy's
``wilcoxon`` with ``zero_method="wilcox"``: the exact null distribution for up to 50
changes without ties, the normal approximation otherwise; ``None`` under 2 changes).
This module owns scipy.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from scipy import stats

from hubsnap.diff.behaviour.model import Label, Prediction, Task

__all__ = [
    "Z_95",
    "RowMetrics",
    "compare",
    "confidence_delta",
    "cosine",
    "jaccard",
    "mcnemar_exact",
    "mean",
    "wilcoxon_p",
    "wilson_interval",
]

#: The standard normal quantile of 0.975: a two-sided 95 % interval.
Z_95 = 1.959963984540054
#: Up to this many non-zero changes (without ties) the Wilcoxon p-value is exact.
WILCOXON_EXACT_MAX = 50


@dataclass(frozen=True)
class RowMetrics:
    """One input's comparison. Label fields are ``None`` for feature extraction, ``cosine``
    is ``None`` for the classification tasks (and for vectors it is undefined for: sizes
    differ or one is all zeros)."""

    consistent: bool | None
    jaccard: float | None
    confidence_delta: float | None
    cosine: float | None


def jaccard(a: Iterable[Label], b: Iterable[Label]) -> float:
    """|A ∩ B| / |A ∪ B| of two label sets; 1.0 when both are empty."""
    left, right = set(a), set(b)
    union = left | right
    if not union:
        return 1.0
    return len(left & right) / len(union)


def confidence_delta(base: Prediction, target: Prediction) -> float:
    """Target's confidence − base's; a side with no confidence (no entity) counts as 0, so
    two sides without entities give 0 and one side's mean stands alone otherwise."""
    return (target.confidence or 0.0) - (base.confidence or 0.0)


def cosine(a: Sequence[float], b: Sequence[float]) -> float | None:
    """The cosine of two vectors; ``None`` when their sizes differ or one is all zeros."""
    if len(a) != len(b) or not a:
        return None
    dot = math.fsum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(math.fsum(x * x for x in a)) * math.sqrt(math.fsum(y * y for y in b))
    if norm == 0.0 or not math.isfinite(norm):
        return None
    return max(-1.0, min(1.0, dot / norm))


def compare(base: Prediction, target: Prediction, task: Task) -> RowMetrics:
    """One input's :class:`RowMetrics` for ``task``."""
    if task is Task.FEATURE_EXTRACTION:
        a, b = base.embedding, target.embedding
        return RowMetrics(None, None, None, None if a is None or b is None else cosine(a, b))
    return RowMetrics(
        consistent=set(base.labels) == set(target.labels),
        jaccard=jaccard(base.labels, target.labels),
        confidence_delta=confidence_delta(base, target),
        cosine=None,
    )


def mean(values: Iterable[float | None]) -> float | None:
    """The mean of the values that are not ``None``; ``None`` if there are none."""
    present = [v for v in values if v is not None]
    return math.fsum(present) / len(present) if present else None


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``successes / trials`` (``trials`` ≥ 1)."""
    if trials <= 0 or not 0 <= successes <= trials:
        raise ValueError(f"no proportion {successes}/{trials}")
    p = successes / trials
    z2 = z * z
    scale = 1.0 + z2 / trials
    centre = (p + z2 / (2 * trials)) / scale
    half = z / scale * math.sqrt(p * (1.0 - p) / trials + z2 / (4 * trials * trials))
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


def mcnemar_exact(only_base: int, only_target: int) -> float:
    """Exact two-sided McNemar p-value from the discordant counts (inputs only the base got
    right, inputs only the target got right): ``2 · P(X ≤ min)`` for ``X ~ Bin(n, 1/2)``,
    at most 1; 1.0 when there is no discordant pair."""
    if only_base < 0 or only_target < 0:
        raise ValueError("discordant counts cannot be negative")
    n = only_base + only_target
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(only_base, only_target) + 1))
    return float(min(Fraction(1), Fraction(2 * tail, 2**n)))


def wilcoxon_p(deltas: Iterable[float]) -> float | None:
    """Two-sided Wilcoxon signed-rank p-value of the non-zero ``deltas``; ``None`` when
    fewer than 2 are non-zero."""
    nonzero = [d for d in deltas if d != 0.0]
    if len(nonzero) < 2:
        return None
    magnitudes = [abs(d) for d in nonzero]
    ties = len(set(magnitudes)) < len(magnitudes)
    method = "exact" if len(nonzero) <= WILCOXON_EXACT_MAX and not ties else "approx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small-sample notes; the method is chosen above
        result = stats.wilcoxon(nonzero, zero_method="wilcox", method=method)
    return float(result.pvalue)
