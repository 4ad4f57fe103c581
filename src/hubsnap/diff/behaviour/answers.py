"""Turning an endpoint's JSON answer into one :class:`Prediction` per input, or refusing it.

An endpoint is another program: whatever it answers is checked for shape before use, and
any answer that is not what the protocol says (not JSON, nested deeper than
:mod:`hubsnap.documents` allows, duplicate keys, the wrong shape,
the wrong number of answers, scores that are not finite numbers) is a
:class:`~hubsnap.errors.RemoteError` (5) with one line naming the endpoint and the fault.

Shapes taken, for a batch of ``n`` texts:

- text classification: ``[[{"label", "score"}, …] × n]`` (every label of each input, the
  top one taken by score); ``[{"label", "score"} × n]`` (the top label of each input); for
  ``n == 1`` also ``[{"label", "score"}, …]`` (the one input's labels).
- token classification: ``[[entity, …] × n]``, for ``n == 1`` also ``[entity, …]``; an
  entity is ``{"entity_group" | "entity", "score", "start", "end", "word"?}``.
- feature extraction: ``[vector × n]``; a vector per token (``[[number, …], …]``) is
  mean-pooled; for ``n == 1`` also the bare vector (or token matrix).
- OpenAI embeddings: ``{"data": [{"index", "embedding"} × n]}``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from hubsnap.diff.behaviour.model import Prediction, Span, Task
from hubsnap.documents import InvalidDocument, load_json
from hubsnap.errors import RemoteError

__all__ = [
    "PARSERS",
    "classification",
    "decode_json",
    "embeddings",
    "openai_embeddings",
    "token_classification",
]

#: No label or entity name an endpoint sends is longer than this.
MAX_LABEL = 256
#: Character offsets of entities stay under this (no input is 2 GiB long).
MAX_OFFSET = 2**31


def _fail(who: str, fault: str) -> RemoteError:
    return RemoteError(f"{who}: {fault}", hint="check that the endpoint serves this task")


def decode_json(body: bytes, who: str) -> object:
    """``body`` parsed as JSON within :mod:`hubsnap.documents`' bounds (nesting checked
    before parsing, no duplicate keys, finite numbers); RemoteError otherwise."""
    try:
        return load_json(body, "the answer", max_bytes=max(len(body), 1))
    except InvalidDocument as e:
        raise _fail(who, str(e)) from e


def _score(value: object, who: str, what: str = "a score") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(who, f"{what} is not a number")
    score = float(value)
    if not math.isfinite(score):
        raise _fail(who, f"{what} is not a finite number")
    return score


def _name(value: object, who: str, field: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_LABEL:
        raise _fail(who, f'"{field}" is not a string of 1 to {MAX_LABEL} characters')
    return value


def _is_record(value: object) -> bool:
    return isinstance(value, dict)


def _per_input(answer: object, count: int, who: str, *, single: bool) -> list[object]:
    """The answer split into one item per input: a list of ``count`` items, or for one
    input (``single``: the answer is that input's own list) the answer itself."""
    if not isinstance(answer, list):
        raise _fail(who, f"expected a JSON list, got {type(answer).__name__}")
    if count == 1 and single:
        return [answer]
    if len(answer) != count:
        raise _fail(who, f"{len(answer)} answers for {count} inputs")
    return list(answer)


def _top_label(item: object, who: str) -> Prediction:
    records = item if isinstance(item, list) else [item]
    if not records:
        raise _fail(who, "an input got no label")
    best: tuple[str, float] | None = None
    for record in records:
        if not isinstance(record, dict):
            raise _fail(who, 'a label is not an object {"label", "score"}')
        label = _name(record.get("label"), who, "label")
        score = _score(record.get("score"), who)
        if best is None or score > best[1]:
            best = (label, score)
    assert best is not None
    return Prediction(labels=(best[0],), confidence=best[1])


def classification(answer: object, count: int, who: str) -> list[Prediction]:
    """Text-classification answers (HF task JSON, TEI ``/predict``) for ``count`` inputs."""
    # One input's label list is a list of records, and so is one top record per input of a
    # batch: for one input the records are its labels, for more each is an input's top one.
    flat = isinstance(answer, list) and bool(answer) and _is_record(answer[0])
    return [_top_label(item, who) for item in _per_input(answer, count, who, single=flat)]


def _entity(record: object, who: str) -> tuple[Span, float]:
    if not isinstance(record, dict):
        raise _fail(who, "an entity is not an object")
    name = record.get("entity_group", record.get("entity"))
    entity = _name(name, who, "entity_group")
    start, end = record.get("start"), record.get("end")
    if (
        not isinstance(start, int) or not isinstance(end, int)
        or isinstance(start, bool) or isinstance(end, bool) or not 0 <= start <= end < MAX_OFFSET
    ):  # fmt: skip
        raise _fail(who, 'an entity has no integer offsets 0 <= "start" <= "end" < 2**31')
    return Span(start, end, entity), _score(record.get("score"), who)


def token_classification(answer: object, count: int, who: str) -> list[Prediction]:
    """Token-classification answers for ``count`` inputs: spans sorted, mean entity score."""
    single = isinstance(answer, list) and (not answer or _is_record(answer[0]))
    predictions = []
    for item in _per_input(answer, count, who, single=single):
        if not isinstance(item, list):
            raise _fail(who, "an input's entities are not a list")
        found = [_entity(record, who) for record in item]
        spans = tuple(sorted({span for span, _ in found}))
        scores = [score for _, score in found]
        mean = math.fsum(scores) / len(scores) if scores else None
        predictions.append(Prediction(labels=spans, confidence=mean))
    return predictions


def _numbers(row: object, who: str) -> list[float]:
    if not isinstance(row, list) or not row:
        raise _fail(who, "an embedding is not a non-empty list of numbers")
    return [_score(x, who, "an embedding value") for x in row]


def _vector(item: object, who: str) -> tuple[float, ...]:
    """A sentence vector, or the mean of a per-token matrix."""
    if isinstance(item, list) and item and isinstance(item[0], list):
        rows = [_numbers(row, who) for row in item]
        width = len(rows[0])
        if any(len(row) != width for row in rows):
            raise _fail(who, "the token vectors of an input differ in length")
        return tuple(math.fsum(column) / len(rows) for column in zip(*rows, strict=True))
    return tuple(_numbers(item, who))


def _vectors(items: Sequence[object], who: str) -> list[Prediction]:
    vectors = [_vector(item, who) for item in items]
    if len({len(v) for v in vectors}) > 1:
        raise _fail(who, "the embeddings of one answer differ in length")
    return [Prediction(embedding=v) for v in vectors]


def embeddings(answer: object, count: int, who: str) -> list[Prediction]:
    """Feature-extraction answers (HF task JSON, TEI ``/embed``) for ``count`` inputs."""
    # For one input: a bare vector, a batch of one vector or the input's per-token matrix
    # (mean-pooled; a batch of one vector is a matrix of one row, with the same mean). Only
    # a list of matrices is a batch then.
    single = False
    if count == 1 and isinstance(answer, list) and answer:
        first = answer[0]
        single = not (isinstance(first, list) and bool(first) and isinstance(first[0], list))
    return _vectors(_per_input(answer, count, who, single=single), who)


def openai_embeddings(answer: object, count: int, who: str) -> list[Prediction]:
    """An OpenAI ``/v1/embeddings`` answer for ``count`` inputs, ordered by ``index``."""
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, list):
        raise _fail(who, 'the answer has no "data" list')
    if len(data) != count:
        raise _fail(who, f"{len(data)} embeddings for {count} inputs")
    by_index: dict[int, object] = {}
    for record in data:
        index = record.get("index") if isinstance(record, dict) else None
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < count:
            raise _fail(who, 'an embedding has no valid "index"')
        if index in by_index:
            raise _fail(who, f"two embeddings have index {index}")
        assert isinstance(record, dict)
        by_index[index] = record.get("embedding")
    return _vectors([by_index[i] for i in range(count)], who)


#: The parser of each task's Hugging Face task JSON answer.
PARSERS: dict[Task, Callable[[object, int, str], list[Prediction]]] = {
    Task.TEXT_CLASSIFICATION: classification,
    Task.TOKEN_CLASSIFICATION: token_classification,
    Task.FEATURE_EXTRACTION: embeddings,
}
