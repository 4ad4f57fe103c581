"""The scoring of the ``like`` benchmark section: keyword derivation, recall@10, false hits,
thresholds read off a full ranking, and the keyword filter's ranking."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

from bench_like import (  # noqa: E402
    GRID,
    Scores,
    SetScores,
    above,
    content_words,
    fit_threshold,
    halves,
    keyword_ranking,
    recall_at,
    score,
    set_scores,
)
from like_eval import load  # noqa: E402


def test_content_words_drop_function_words_short_words_and_repeats() -> None:
    assert content_words("Is this stock-market headline good or bad news for the company?") == [
        "stock", "market", "headline", "good", "bad", "news", "company",
    ]  # fmt: skip
    assert content_words("ask questions about what an app's privacy policy says") == [
        "ask", "questions", "app", "privacy", "policy", "says",
    ]  # fmt: skip
    assert content_words("Code, code and CODE in C") == ["code"]
    assert content_words("a an of") == []


def test_every_intent_gives_the_keyword_filter_something_to_search() -> None:
    assert all(content_words(i.text) for i in load())


def test_recall_at_ten_is_capped_by_what_ten_can_hold() -> None:
    relevant = {f"r{i}" for i in range(25)}
    assert recall_at([f"r{i}" for i in range(10)], relevant) == 1.0
    assert recall_at(["r0", "x", "r1"], relevant) == pytest.approx(0.2)
    assert recall_at(["r0", "x"], {"r0", "r1"}) == 0.5
    # Only the first ten count.
    assert recall_at(["x"] * 10 + ["r0"], {"r0"}) == 0.0
    with pytest.raises(ValueError, match="without relevant"):
        recall_at(["r0"], set())


def test_score_averages_recall_per_intent_and_pools_false_hits() -> None:
    results = [
        (["a", "b", "x", "y"], {"a", "b"}),  # recall 1, 2 of 4 wrong
        ([], {"c"}),  # nothing shown: recall 0, no false hit
        (["d", "z"], {"d", "e", "f"}),  # recall 1/3, 1 of 2 wrong
    ]
    got = score(results)
    assert got == Scores(
        recall=pytest.approx(100 * (1 + 0 + 1 / 3) / 3),  # type: ignore[arg-type]
        false_hits=pytest.approx(100 * 3 / 6),  # type: ignore[arg-type]
        shown=6,
        empty=1,
    )
    assert score([([], {"a"})]) == Scores(recall=0.0, false_hits=0.0, shown=0, empty=1)


def test_thresholds_are_read_off_a_full_ranking_as_the_command_applies_them() -> None:
    ranked = [(f"m{i}", 0.9 - i / 20) for i in range(14)]  # 0.90, 0.85, ... 0.25
    assert above(ranked, None) == [f"m{i}" for i in range(10)]
    assert above(ranked, 0.62) == ["m0", "m1", "m2", "m3", "m4", "m5"]
    assert above(ranked, 0.62, k=3) == ["m0", "m1", "m2"]
    assert above(ranked, 0.95) == []


def test_keyword_ranking_prefers_ids_matching_more_words_then_downloads() -> None:
    hits = {
        "legal": [("o/legal-bert", 50), ("o/legal-sum", 900)],
        "summary": [("o/legal-sum", 900), ("o/news-summary", 10_000)],
        "court": [],
    }
    assert keyword_ranking(["legal", "summary", "court"], hits) == [
        "o/legal-sum", "o/news-summary", "o/legal-bert",
    ]  # fmt: skip
    assert keyword_ranking(["court"], hits) == []


def test_set_scores_pool_everything_at_or_above_the_threshold_with_no_limit() -> None:
    rankings = [
        [("a", 0.8), ("x", 0.6), ("b", 0.5), ("y", 0.2)],
        [("c", 0.7), ("z", 0.65), ("d", 0.1)],
    ]
    relevant = [{"a", "b"}, {"c", "d"}]
    # At 0.5: a, x, b and c, z are kept; a, b, c of the four relevant are found.
    got = set_scores(rankings, relevant, 0.5)
    assert got.precision == pytest.approx(3 / 5)
    assert got.recall == pytest.approx(3 / 4)
    assert got.f1 == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    assert set_scores(rankings, relevant, 0.9) == SetScores(0.0, 0.0, 0.0)
    assert set_scores(rankings, relevant, 0.0).recall == 1.0


def test_the_fitted_threshold_maximises_f1_and_prefers_the_higher_of_equals() -> None:
    rankings = [[("a", 0.8), ("b", 0.6), ("x", 0.45), ("y", 0.3)]]
    relevant = [{"a", "b"}]
    # Anything in (0.45, 0.6] keeps exactly a and b (F1 1); the highest such grid point wins.
    assert fit_threshold(rankings, relevant) == 0.6
    assert fit_threshold(rankings, relevant, grid=(0.2, 0.5)) == 0.5
    assert GRID[0] == 0.2 and GRID[-1] == 0.7 and len(GRID) == 51
    # A stricter threshold loses recall, a looser one precision.
    assert set_scores(rankings, relevant, 0.7).f1 < 1.0 > set_scores(rankings, relevant, 0.4).f1


def test_the_intents_are_halved_by_position() -> None:
    assert halves(["a", "b", "c", "d", "e"]) == (["a", "c", "e"], ["b", "d"])
    fit, check = halves(load())
    assert len(fit) == 18 and len(check) == 17
    assert {i.id for i in fit}.isdisjoint(i.id for i in check)
