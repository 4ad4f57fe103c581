"""A behaviour comparison's result, and the run that produces it.

:func:`run_behaviour` checks the test set against the task, checks both sides (reachable,
serving the expected revision), and unless ``dry_run`` sends every input to both and
compares them input by input. :class:`BehaviourReport` holds the rows and the aggregates;
:meth:`BehaviourReport.to_json` is the ``behaviour`` member of the diff report and
:meth:`BehaviourReport.metrics` the numbers ``--fail-on`` can name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from hubsnap.diff.behaviour.metrics import (
    RowMetrics,
    compare,
    mcnemar_exact,
    mean,
    wilcoxon_p,
    wilson_interval,
)
from hubsnap.diff.behaviour.model import Label, Prediction, Predictor, Span, Task
from hubsnap.diff.behaviour.testset import TestSet
from hubsnap.errors import RemoteError

__all__ = ["METRICS", "BehaviourReport", "Row", "run_behaviour"]

#: The names :meth:`BehaviourReport.metrics` gives, for ``--fail-on``.
METRICS = (
    "inputs",
    "label_shifts",
    "label_shift_rate",
    "label_shift_ci_low",
    "label_shift_ci_high",
    "jaccard_mean",
    "confidence_delta_mean",
    "embedding_cosine_mean",
    "base_accuracy",
    "target_accuracy",
    "accuracy_delta",
    "mcnemar_p",
    "wilcoxon_p",
)


def _label_json(label: Label) -> str | list[int | str]:
    return [label.start, label.end, label.entity] if isinstance(label, Span) else label


@dataclass(frozen=True)
class Row:
    """One input: both sides' labels and how they compare (see :class:`RowMetrics`)."""

    input: str
    base_labels: tuple[Label, ...]
    target_labels: tuple[Label, ...]
    consistent: bool | None
    jaccard: float | None
    confidence_delta: float | None
    cosine: float | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "input": self.input,
            "base_labels": [_label_json(label) for label in self.base_labels],
            "target_labels": [_label_json(label) for label in self.target_labels],
            "consistent": self.consistent,
            "jaccard": self.jaccard,
            "confidence_delta": self.confidence_delta,
        }


@dataclass(frozen=True)
class BehaviourReport:
    """The comparison of two sides on a test set.

    Aggregates are ``None`` where they do not apply, never guessed: the label ones for
    feature extraction, ``embedding_cosine_mean`` for classification, accuracies and
    ``mcnemar_p`` without expected labels, ``wilcoxon_p`` under two non-zero confidence
    changes, and all of them after a dry run (``dry_run``: both sides and the test set were
    checked, no input was sent, ``rows`` is empty).
    """

    task: Task
    inputs: int
    rows: tuple[Row, ...]
    label_shift_rate: float | None = None
    label_shift_ci: tuple[float, float] | None = None
    jaccard_mean: float | None = None
    confidence_delta_mean: float | None = None
    embedding_cosine_mean: float | None = None
    base_accuracy: float | None = None
    target_accuracy: float | None = None
    mcnemar_p: float | None = None
    wilcoxon_p: float | None = None
    dry_run: bool = False

    @property
    def label_shifts(self) -> int | None:
        """How many inputs changed labels (``None`` where labels do not apply)."""
        if not self.task.labelled or self.dry_run:
            return None
        return sum(1 for row in self.rows if row.consistent is False)

    def to_json(self) -> dict[str, object]:
        """The ``behaviour`` member of the diff report."""
        return {
            "inputs": self.inputs,
            "rows": [row.to_json() for row in self.rows],
            "label_shift_rate": self.label_shift_rate,
            "label_shift_ci": list(self.label_shift_ci) if self.label_shift_ci else None,
            "jaccard_mean": self.jaccard_mean,
            "confidence_delta_mean": self.confidence_delta_mean,
            "embedding_cosine_mean": self.embedding_cosine_mean,
            "base_accuracy": self.base_accuracy,
            "target_accuracy": self.target_accuracy,
            "mcnemar_p": self.mcnemar_p,
            "wilcoxon_p": self.wilcoxon_p,
        }

    def metrics(self) -> dict[str, float | None]:
        """Every number ``--fail-on`` may test, by the names in :data:`METRICS`."""
        ci = self.label_shift_ci
        shifts = self.label_shifts
        delta = None
        if self.base_accuracy is not None and self.target_accuracy is not None:
            delta = self.target_accuracy - self.base_accuracy
        return {
            "inputs": float(self.inputs),
            "label_shifts": None if shifts is None else float(shifts),
            "label_shift_rate": self.label_shift_rate,
            "label_shift_ci_low": ci[0] if ci else None,
            "label_shift_ci_high": ci[1] if ci else None,
            "jaccard_mean": self.jaccard_mean,
            "confidence_delta_mean": self.confidence_delta_mean,
            "embedding_cosine_mean": self.embedding_cosine_mean,
            "base_accuracy": self.base_accuracy,
            "target_accuracy": self.target_accuracy,
            "accuracy_delta": delta,
            "mcnemar_p": self.mcnemar_p,
            "wilcoxon_p": self.wilcoxon_p,
        }

    @classmethod
    def build(
        cls,
        testset: TestSet,
        task: Task,
        base: Sequence[Prediction],
        target: Sequence[Prediction],
    ) -> BehaviourReport:
        """Compare the two sides' predictions, one per input of ``testset``."""
        pairs = zip(base, target, strict=True)
        measured: list[RowMetrics] = [compare(b, t, task) for b, t in pairs]
        rows = tuple(
            Row(case.text, b.labels, t.labels, m.consistent, m.jaccard, m.confidence_delta,
                m.cosine)
            for case, b, t, m in zip(testset.cases, base, target, measured, strict=True)
        )  # fmt: skip
        n = len(rows)
        if not task.labelled:
            return cls(task, n, rows, embedding_cosine_mean=mean(m.cosine for m in measured))
        shifts = sum(1 for m in measured if not m.consistent)
        deltas = [m.confidence_delta or 0.0 for m in measured]
        report = cls(
            task, n, rows,
            label_shift_rate=shifts / n,
            label_shift_ci=wilson_interval(shifts, n),
            jaccard_mean=mean(m.jaccard for m in measured),
            confidence_delta_mean=mean(deltas),
            wilcoxon_p=wilcoxon_p(deltas),
        )  # fmt: skip
        graded = [
            (set(b.labels) == set(case.labels), set(t.labels) == set(case.labels))
            for case, b, t in zip(testset.cases, base, target, strict=True)
            if case.labels is not None
        ]
        if not graded:
            return report
        only_base = sum(1 for b_ok, t_ok in graded if b_ok and not t_ok)
        only_target = sum(1 for b_ok, t_ok in graded if t_ok and not b_ok)
        return replace(
            report,
            base_accuracy=sum(b_ok for b_ok, _ in graded) / len(graded),
            target_accuracy=sum(t_ok for _, t_ok in graded) / len(graded),
            mcnemar_p=mcnemar_exact(only_base, only_target),
        )


def _predict(side: Predictor, texts: list[str], task: Task, timeout: float) -> list[Prediction]:
    predictions = side.predict(texts, task, timeout=timeout)
    if len(predictions) != len(texts):  # a predictor's own contract; never trust a count
        raise RemoteError(f"{side.name}: {len(predictions)} answers for {len(texts)} inputs")
    return predictions


def run_behaviour(
    testset: TestSet,
    base: Predictor,
    target: Predictor,
    *,
    task: Task,
    timeout: float,
    dry_run: bool = False,
) -> BehaviourReport:
    """Compare ``base`` and ``target`` on ``testset`` for ``task``.

    ``timeout`` bounds each request (with its retries). ``dry_run`` checks the test set and
    both sides and sends no input. Errors: UsageError (2) for a test set or task that does
    not fit, RemoteError (5) for an endpoint that fails or answers malformed JSON,
    IntegrityError (6) for an endpoint serving another revision than the artifact's.
    """
    testset.check_task(task)
    base.check(task, timeout=timeout)
    target.check(task, timeout=timeout)
    if dry_run:
        return BehaviourReport(task, len(testset), (), dry_run=True)
    texts = testset.texts
    before = _predict(base, texts, task, timeout)
    after = _predict(target, texts, task, timeout)
    return BehaviourReport.build(testset, task, before, after)
