"""The behaviour report: its JSON member, its --fail-on numbers, the table and Markdown."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from hubsnap.diff.behaviour import (
    METRICS,
    BehaviourReport,
    Prediction,
    Span,
    Task,
    parse_testset,
    render_markdown,
    render_table,
    run_behaviour,
)


class Fixed:
    """A predictor answering fixed predictions, recording what it was asked."""

    def __init__(self, role: str, answers: Sequence[Prediction]) -> None:
        self.role = role
        self.answers = list(answers)
        self.calls: list[str] = []

    @property
    def name(self) -> str:
        return f"{self.role} fixed"

    def check(self, task: Task, *, timeout: float) -> None:
        self.calls.append("check")

    def predict(self, texts: Sequence[str], task: Task, *, timeout: float) -> list[Prediction]:
        self.calls.append("predict")
        return self.answers[: len(texts)]


TESTSET = parse_testset(
    b'{"text": "first", "labels": ["A"]}\n{"text": "second | `x` [b]", "labels": ["B"]}\n'
    b'{"text": "third\\u001b[31m red"}\n'
)


def sentiment() -> BehaviourReport:
    base = Fixed("baseline", [Prediction(("A",), 0.9), Prediction(("A",), 0.6),
                              Prediction(("[bold]B",), 0.5)])  # fmt: skip
    target = Fixed("target", [Prediction(("A",), 0.8), Prediction(("B",), 0.7),
                              Prediction(("[bold]B",), 0.5)])  # fmt: skip
    return run_behaviour(TESTSET, base, target, task=Task.TEXT_CLASSIFICATION, timeout=1)


def test_json_member_has_the_issue_shape() -> None:
    data = sentiment().to_json()
    assert list(data) == [
        "inputs", "rows", "label_shift_rate", "label_shift_ci", "jaccard_mean",
        "confidence_delta_mean", "embedding_cosine_mean", "base_accuracy", "target_accuracy",
        "mcnemar_p", "wilcoxon_p",
    ]  # fmt: skip
    assert data["inputs"] == 3
    assert data["rows"][1] == {
        "input": "second | `x` [b]", "base_labels": ["A"], "target_labels": ["B"],
        "consistent": False, "jaccard": 0.0, "confidence_delta": pytest.approx(0.1),
    }  # fmt: skip
    assert data["label_shift_rate"] == pytest.approx(1 / 3)
    assert isinstance(data["label_shift_ci"], list) and len(data["label_shift_ci"]) == 2
    # Labelled inputs 1 and 2: base right on 1, target on both: one discordant pair.
    assert (data["base_accuracy"], data["target_accuracy"], data["mcnemar_p"]) == (0.5, 1.0, 1.0)
    # Changes -0.1, +0.1, 0: two non-zero, tied magnitudes.
    assert data["wilcoxon_p"] == pytest.approx(1.0)
    assert data["embedding_cosine_mean"] is None


def test_metrics_for_fail_on() -> None:
    metrics = sentiment().metrics()
    assert tuple(metrics) == METRICS
    assert metrics["inputs"] == 3.0 and metrics["label_shifts"] == 1.0
    assert metrics["accuracy_delta"] == 0.5
    assert metrics["label_shift_ci_low"] is not None
    assert metrics["embedding_cosine_mean"] is None
    assert all(v is None or isinstance(v, float) for v in metrics.values())


def test_without_expected_labels_accuracy_is_null() -> None:
    testset = parse_testset(b'{"text": "a"}\n{"text": "b"}')
    same = [Prediction(("A",), 0.5), Prediction(("B",), 0.5)]
    report = run_behaviour(testset, Fixed("baseline", same), Fixed("target", same),
                           task=Task.TEXT_CLASSIFICATION, timeout=1)  # fmt: skip
    data = report.to_json()
    assert (data["base_accuracy"], data["target_accuracy"], data["mcnemar_p"]) == (None,) * 3
    assert data["label_shift_rate"] == 0.0 and data["label_shift_ci"][0] == 0.0
    assert data["wilcoxon_p"] is None  # no non-zero change
    assert data["confidence_delta_mean"] == 0.0


def test_dry_run_predicts_nothing() -> None:
    base, target = Fixed("baseline", []), Fixed("target", [])
    report = run_behaviour(TESTSET, base, target, task=Task.TEXT_CLASSIFICATION, timeout=1,
                           dry_run=True)  # fmt: skip
    assert base.calls == target.calls == ["check"]
    assert report.metrics()["label_shift_rate"] is None
    assert "dry run: 3 inputs" in render_table(report)


def test_a_predictor_answering_the_wrong_count_is_refused() -> None:
    from hubsnap.errors import RemoteError

    short = Fixed("target", [Prediction(("A",), 0.5)])
    with pytest.raises(RemoteError, match="target fixed: 1 answers for 3 inputs"):
        run_behaviour(TESTSET, Fixed("baseline", [Prediction(("A",), 1.0)] * 3), short,
                      task=Task.TEXT_CLASSIFICATION, timeout=1)  # fmt: skip


def test_table_is_the_seeds() -> None:
    text = render_table(sentiment(), width=160)
    header = next(line for line in text.splitlines() if "input" in line)
    for column in ("input", "baseline labels", "target labels", "consistent",
                   "confidence change"):  # fmt: skip
        assert column in header
    second = next(line for line in text.splitlines() if "second" in line)
    assert " no " in second and "+0.1000" in second
    first = next(line for line in text.splitlines() if "first" in line)
    assert " yes " in first and "-0.1000" in first
    # Remote text is shown as text: no markup interpreted, no escape sequence passed on.
    assert "[bold]B" in text and "\x1b" not in text and "\\x1b[31m red" in text
    assert "label shift rate: 0.3333 (95% CI" in text and "McNemar exact p: 1" in text


def test_markdown_escapes_cells() -> None:
    text = render_markdown(sentiment())
    assert text.startswith("### Behaviour\n")
    rows = [line for line in text.splitlines() if line.startswith("| second")]
    assert rows == ["| second \\| \\`x\\` \\[b\\] | A | B | no | +0.1000 |"]
    assert all(line.count(" | ") == 4 for line in text.splitlines() if line.startswith("| "))
    assert "\x1b" not in text


def test_token_and_embedding_rendering() -> None:
    testset = parse_testset(b'{"text": "Ann"}')
    spans = Fixed("baseline", [Prediction((Span(0, 3, "PER"),), 0.9)])
    none = Fixed("target", [Prediction((), None)])
    report = run_behaviour(testset, spans, none, task=Task.TOKEN_CLASSIFICATION, timeout=1)
    assert report.rows[0].confidence_delta == pytest.approx(-0.9)
    assert "PER[0:3]" in render_table(report)
    vectors = run_behaviour(
        testset, Fixed("baseline", [Prediction(embedding=(1.0, 0.0))]),
        Fixed("target", [Prediction(embedding=(0.0, 1.0))]), task=Task.FEATURE_EXTRACTION,
        timeout=1,
    )  # fmt: skip
    assert vectors.embedding_cosine_mean == 0.0
    assert "cosine" in render_table(vectors) and "| Ann | 0.000000 |" in render_markdown(vectors)
