"""``--runner transformers``: a pulled model folder run by a ``transformers`` pipeline on CPU.

``transformers`` and ``torch`` come with the optional extra ``hubsnap[behaviour]`` and are
imported only when a runner first predicts or checks, so hubsnap starts without them; their
absence is a :class:`~hubsnap.errors.UsageError` with the install hint. The folder is a local
path (nothing is fetched for it), loaded without remote code, on the CPU. This is the one
module that imports ``transformers``.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hubsnap.diff.behaviour.answers import PARSERS
from hubsnap.diff.behaviour.model import Prediction, Task
from hubsnap.errors import UsageError

__all__ = ["INSTALL_HINT", "TransformersRunner"]

INSTALL_HINT = "pip install 'hubsnap[behaviour]'"
#: Inputs per pipeline call.
BATCH_SIZE = 16


def _transformers() -> Any:
    try:
        return importlib.import_module("transformers")
    except ImportError as e:
        raise UsageError(
            "--runner transformers needs the transformers and torch packages",
            hint=INSTALL_HINT,
        ) from e


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 200 else text[:199] + "…"


class TransformersRunner:
    """A model folder (``config.json`` and weights, as ``pull -o`` writes it) as a predictor."""

    def __init__(self, folder: Path | str, *, role: str) -> None:
        self.folder = Path(folder)
        self.role = role
        self._pipelines: dict[Task, Any] = {}

    @property
    def name(self) -> str:
        return f"{self.role} model {self.folder}"

    def check(self, task: Task, *, timeout: float) -> None:
        """The extra is installed and the folder holds a model; nothing is loaded."""
        del timeout  # loading from disk has no network to wait for
        _transformers()
        if not (self.folder / "config.json").is_file():
            raise UsageError(f"{self.name}: no config.json in the folder")

    def _pipeline(self, task: Task) -> Any:
        if task not in self._pipelines:
            transformers = _transformers()
            options: dict[str, Any] = {}
            if task is Task.TOKEN_CLASSIFICATION:
                options["aggregation_strategy"] = "simple"
            try:
                self._pipelines[task] = transformers.pipeline(
                    task.value,
                    model=str(self.folder),
                    device="cpu",
                    trust_remote_code=False,
                    **options,
                )
            except Exception as e:  # transformers raises OSError, ValueError, KeyError, ...
                raise UsageError(
                    f"{self.name}: cannot load it as a {task.value} pipeline: {_one_line(e)}",
                    hint="pass the model's --task, or check the folder",
                ) from e
        return self._pipelines[task]

    def load(self, task: Task) -> None:
        """Load the pipeline for ``task`` now (a server loads before it listens)."""
        self._pipeline(task)

    def answer(self, texts: Sequence[str], task: Task) -> list[Any]:
        """Hugging Face task JSON, one item per text: every label with its score (text
        classification), the entities (token classification) or the mean of the token
        vectors (feature extraction), as plain JSON values."""
        pipe = self._pipeline(task)
        out: list[Any] = []
        for start in range(0, len(texts), BATCH_SIZE):
            batch = list(texts[start : start + BATCH_SIZE])
            try:
                if task is Task.TEXT_CLASSIFICATION:
                    results = pipe(batch, top_k=None)
                else:
                    results = pipe(batch)
                out.extend(_plain(task, result) for result in results)
            except Exception as e:  # a pipeline fails in many ways; say so in one line
                raise UsageError(f"{self.name}: the pipeline failed: {_one_line(e)}") from e
        return out

    def predict(self, texts: Sequence[str], task: Task, *, timeout: float) -> list[Prediction]:
        del timeout
        items = self.answer(texts, task)
        return PARSERS[task](items, len(items), self.name)


def _plain(task: Task, result: Any) -> Any:
    """One input's pipeline output as JSON values (no numpy scalars)."""
    if task is Task.TEXT_CLASSIFICATION:
        records = result if isinstance(result, list) else [result]
        return [{"label": str(r["label"]), "score": float(r["score"])} for r in records]
    if task is Task.TOKEN_CLASSIFICATION:
        return [
            {
                "entity_group": str(r.get("entity_group", r.get("entity"))),
                "score": float(r["score"]),
                "word": str(r.get("word", "")),
                "start": int(r["start"]),
                "end": int(r["end"]),
            }
            for r in result
        ]
    # feature-extraction: [1][tokens][hidden] per input; the mean over the tokens.
    tokens = result[0] if result and isinstance(result[0][0], list) else result
    width = len(tokens[0])
    return [math.fsum(float(row[i]) for row in tokens) / len(tokens) for i in range(width)]
