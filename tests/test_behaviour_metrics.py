"""Behaviour statistics: values computed by hand, and cross-checks against scipy."""

from __future__ import annotations

import math
import random

import pytest
from scipy import stats

from hubsnap.diff.behaviour.metrics import (
    Z_95,
    compare,
    confidence_delta,
    cosine,
    jaccard,
    mcnemar_exact,
    mean,
    wilcoxon_p,
    wilson_interval,
)
from hubsnap.diff.behaviour.model import Prediction, Span, Task


def test_jaccard_by_hand() -> None:
    assert jaccard([], []) == 1.0
    assert jaccard(["A"], []) == 0.0
    assert jaccard(["A"], ["A"]) == 1.0
    assert jaccard(["A", "B"], ["B", "C"]) == pytest.approx(1 / 3)
    a = [Span(0, 4, "PER"), Span(10, 14, "ORG")]
    b = [Span(0, 4, "PER"), Span(10, 14, "PER")]  # same span, other entity: not a match
    assert jaccard(a, b) == pytest.approx(1 / 3)
    # Spans match by span, not by position in the list.
    assert jaccard(a, list(reversed(a))) == 1.0


def test_confidence_delta_by_definition() -> None:
    assert confidence_delta(Prediction(("A",), 0.6), Prediction(("B",), 0.9)) == pytest.approx(0.3)
    assert confidence_delta(Prediction((), None), Prediction((), None)) == 0.0
    # One side without entities: the other side's mean stands alone, signed target - base.
    assert confidence_delta(Prediction((), None), Prediction((Span(0, 1, "X"),), 0.7)) == 0.7
    assert confidence_delta(Prediction((Span(0, 1, "X"),), 0.7), Prediction((), None)) == -0.7


def test_compare_per_task() -> None:
    row = compare(Prediction(("POS",), 0.9), Prediction(("NEG",), 0.6), Task.TEXT_CLASSIFICATION)
    assert (row.consistent, row.jaccard, row.cosine) == (False, 0.0, None)
    assert row.confidence_delta == pytest.approx(-0.3)
    spans = (Span(0, 4, "PER"), Span(5, 9, "ORG"))
    row = compare(Prediction(spans, 0.8), Prediction(spans[::-1], 0.9), Task.TOKEN_CLASSIFICATION)
    assert row.consistent is True and row.jaccard == 1.0
    row = compare(
        Prediction(embedding=(1.0, 0.0)), Prediction(embedding=(1.0, 1.0)), Task.FEATURE_EXTRACTION
    )
    assert (row.consistent, row.jaccard, row.confidence_delta) == (None, None, None)
    assert row.cosine == pytest.approx(1 / math.sqrt(2))


def test_cosine_edges() -> None:
    assert cosine([1.0, 2.0], [2.0, 4.0]) == pytest.approx(1.0)
    assert cosine([1.0, 0.0], [-1.0, 0.0]) == pytest.approx(-1.0)
    assert cosine([1.0], [1.0, 0.0]) is None  # sizes differ
    assert cosine([0.0, 0.0], [1.0, 0.0]) is None  # no direction


def test_mean_skips_none() -> None:
    assert mean([1.0, None, 2.0]) == 1.5
    assert mean([None]) is None


def test_wilson_by_hand() -> None:
    # 2 of 8: centre (0.25 + z²/16)/(1 + z²/8), half z/(1+z²/8)·sqrt(0.25·0.75/8 + z²/256).
    z2 = Z_95**2
    scale = 1 + z2 / 8
    centre = (0.25 + z2 / 16) / scale
    half = Z_95 / scale * math.sqrt(0.25 * 0.75 / 8 + z2 / 256)
    low, high = wilson_interval(2, 8)
    assert low == pytest.approx(centre - half, abs=1e-12)
    assert high == pytest.approx(centre + half, abs=1e-12)
    assert (round(low, 4), round(high, 4)) == (0.0715, 0.5907)
    assert wilson_interval(0, 8)[0] == 0.0
    assert wilson_interval(8, 8)[1] == 1.0
    assert abs(Z_95 - stats.norm.ppf(0.975)) < 1e-15
    with pytest.raises(ValueError):
        wilson_interval(0, 0)


@pytest.mark.parametrize("trials", [1, 2, 5, 8, 13, 100])
def test_wilson_matches_scipy(trials: int) -> None:
    for successes in range(trials + 1):
        ci = stats.binomtest(successes, trials).proportion_ci(method="wilson")
        low, high = wilson_interval(successes, trials)
        assert low == pytest.approx(ci.low, abs=1e-12)
        assert high == pytest.approx(ci.high, abs=1e-12)


def test_mcnemar_by_hand() -> None:
    # No discordant pair: p = 1 (HF evaluate divides by zero here).
    assert mcnemar_exact(0, 0) == 1.0
    # 1 vs 5: 2·(C(6,0)+C(6,1))/2⁶ = 14/64.
    assert mcnemar_exact(1, 5) == 14 / 64
    assert mcnemar_exact(5, 1) == 14 / 64
    # 0 vs 3: 2·1/8 = 0.25; balanced counts cap at 1.
    assert mcnemar_exact(0, 3) == 0.25
    assert mcnemar_exact(3, 3) == 1.0
    # Large counts stay exact (no float overflow in 2**n).
    assert mcnemar_exact(0, 1000) == 2.0**-999


@pytest.mark.parametrize(("b", "c"), [(0, 1), (1, 5), (7, 2), (10, 10), (3, 40), (60, 45)])
def test_mcnemar_matches_scipy_binomtest(b: int, c: int) -> None:
    expected = stats.binomtest(min(b, c), b + c, 0.5, alternative="two-sided").pvalue
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-12)


def test_wilcoxon_by_hand() -> None:
    # Ranks 1..5 with one negative (rank 4): W = min(11, 4) = 4. Subsets of {1..5} summing
    # to at most 4: {}, {1}, {2}, {3}, {4}, {1,2}, {1,3} — 7 of 32, two-sided 14/32.
    assert wilcoxon_p([1.0, 2.0, 3.0, -4.0, 5.0]) == pytest.approx(0.4375)
    assert wilcoxon_p([0.1, 0.2]) == pytest.approx(0.5)
    # Zeros are dropped before ranking ("wilcox"): the same answer as without them.
    assert wilcoxon_p([0.0, 1.0, 0.0, 2.0, 3.0, -4.0, 5.0]) == pytest.approx(0.4375)
    assert wilcoxon_p([0.0, 0.3, 0.0]) is None
    assert wilcoxon_p([]) is None


def test_wilcoxon_matches_scipy() -> None:
    rng = random.Random(7)
    for size in (3, 10, 49, 80):
        deltas = [rng.uniform(-1, 1) + 0.2 for _ in range(size)]
        expected = stats.wilcoxon(deltas, zero_method="wilcox").pvalue
        assert wilcoxon_p(deltas) == pytest.approx(expected, rel=1e-9)
    tied = [0.5, 0.5, -0.5, 0.25, 0.25, 0.75, 1.0, 0.0]
    expected = stats.wilcoxon([d for d in tied if d], zero_method="wilcox", method="approx").pvalue
    assert wilcoxon_p(tied) == pytest.approx(expected, rel=1e-12)
