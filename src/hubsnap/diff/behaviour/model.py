"""The values behaviour comparison works with: tasks, labels, predictions, and predictors.

A :class:`Predictor` is anything that answers a batch of texts for a :class:`Task`: an
inference endpoint (:mod:`.endpoints`) or a local ``transformers`` pipeline (:mod:`.runner`).
What it answers is a :class:`Prediction` per text: its labels (the top label for
classification, ``(start, end, entity)`` spans for token classification), the confidence the
metrics compare, and for feature extraction the embedding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple, Protocol

from hubsnap.errors import UsageError

__all__ = ["Label", "Prediction", "Predictor", "Span", "Task", "task_for"]


class Task(Enum):
    """The pipeline tasks whose behaviour can be compared."""

    TEXT_CLASSIFICATION = "text-classification"
    TOKEN_CLASSIFICATION = "token-classification"  # noqa: S105 (a task, not a secret)
    FEATURE_EXTRACTION = "feature-extraction"

    @classmethod
    def parse(cls, tag: str) -> Task:
        """The task a ``pipeline_tag`` or ``--task`` names; :class:`UsageError` if none fits."""
        name = _ALIASES.get(tag.strip().lower(), tag.strip().lower())
        for task in cls:
            if task.value == name:
                return task
        known = ", ".join(t.value for t in cls)
        raise UsageError(
            f"cannot compare behaviour for the task {tag!r}",
            hint=f"pass --task with one of: {known}",
        )

    @property
    def labelled(self) -> bool:
        """Whether predictions carry labels (classification) rather than only vectors."""
        return self is not Task.FEATURE_EXTRACTION


# pipeline_tag values and pipeline aliases that mean one of the tasks above.
_ALIASES = {
    "sentiment-analysis": "text-classification",
    "ner": "token-classification",
    "sentence-similarity": "feature-extraction",
}


def task_for(pipeline_tag: str | None, override: str | None = None) -> Task:
    """The task to compare: ``--task`` if given, else the artifact's ``pipeline_tag``."""
    if override:
        return Task.parse(override)
    if not pipeline_tag:
        raise UsageError(
            "the model card names no pipeline_tag: the task cannot be inferred",
            hint="pass --task text-classification, token-classification or feature-extraction",
        )
    return Task.parse(pipeline_tag)


class Span(NamedTuple):
    """A token-classification entity: character offsets and entity name."""

    start: int
    end: int
    entity: str


Label = str | Span


@dataclass(frozen=True)
class Prediction:
    """What one side answered for one input.

    ``labels``: the top label (one string) for text classification, the entity spans for
    token classification, empty for feature extraction. ``confidence``: the top label's score
    for text classification, the mean entity score for token classification (``None`` when
    there is no entity), ``None`` for feature extraction. ``embedding``: the sentence vector
    for feature extraction, else ``None``.
    """

    labels: tuple[Label, ...] = ()
    confidence: float | None = None
    embedding: tuple[float, ...] | None = None


class Predictor(Protocol):
    """One side of a behaviour comparison."""

    @property
    def name(self) -> str:
        """How messages name this side, e.g. ``baseline endpoint http://127.0.0.1:8080``."""
        ...

    def check(self, task: Task, *, timeout: float) -> None:
        """Make sure this side can answer ``task`` (reachable, serving the expected model),
        without running any input: what ``--dry-run`` does."""
        ...

    def predict(self, texts: Sequence[str], task: Task, *, timeout: float) -> list[Prediction]:
        """One :class:`Prediction` per text, in order; batching is the predictor's own."""
        ...
