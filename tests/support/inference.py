"""Inference endpoints on loopback for behaviour tests, answering from deterministic models.

:class:`InferenceRoutes` is a route for :class:`~support.hostile_registry.HostileServer` that
speaks every protocol ``hubsnap diff`` calls, from one :class:`Model`:

- Hugging Face task JSON: ``POST /hf/text-classification`` (every label of each input),
  ``/hf/text-classification-top`` (one top label per input), ``/hf/token-classification``,
  ``/hf/feature-extraction`` (one vector per input) and ``/hf/feature-extraction-tokens``
  (a vector per token); a GET there answers 405, as a POST-only route does;
- Text Embeddings Inference: ``GET /info``, ``POST /predict`` (reading its inputs as TEI
  does: two bare strings are one sentence pair, a batch is ``[[text], …]``), ``POST /embed``;
- OpenAI-compatible: ``GET /v1/models``, ``POST /v1/embeddings`` (data in reverse order, as
  the protocol allows: ``index`` says which input each is).

``faults`` maps ``"METHOD /path"`` to replies served (and used up) before the honest answer,
so a test makes exactly the answer it wants hostile. Models: :class:`ToyModel` (rules simple
enough to compute expectations by hand) and :class:`MiniLMModel` (the emulator's sentiment
classifier through the NumPy forward pass of :mod:`support.minilm`).
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from support.hostile_registry import HostileServer, Reply, Seen
from support.minilm import MiniLM

__all__ = [
    "InferenceRoutes",
    "MiniLMModel",
    "Model",
    "ToyModel",
    "inference_server",
    "json_reply",
]


def json_reply(value: Any, status: int = 200) -> Reply:
    return Reply(status, [("Content-Type", "application/json")], json.dumps(value).encode())


class Model(Protocol):
    labels: Sequence[str]

    def classify(self, text: str) -> list[dict[str, Any]]: ...
    def entities(self, text: str) -> list[dict[str, Any]]: ...
    def embed(self, text: str) -> list[float]: ...


class ToyModel:
    """Rules, per revision 1 or 2:

    - classification: POSITIVE (score 0.9 / 0.95) when a word is in ``good, great`` (2 also
      ``fine``), else NEGATIVE (0.8 / 0.7); the other label gets the rest;
    - tokens: each capitalised word is an entity ``PER`` (score 0.9 / 0.8); revision 2 calls
      ``Acme`` an ``ORG``;
    - embedding: ``[words, count of "a", count of "e", 1.0]``, revision 2 adds 0.5 to the
      third component.
    """

    labels = ("NEGATIVE", "POSITIVE")

    def __init__(self, revision: int) -> None:
        self.revision = revision

    def classify(self, text: str) -> list[dict[str, Any]]:
        words = set(re.findall(r"[a-z]+", text.lower()))
        good = {"good", "great"} | ({"fine"} if self.revision == 2 else set())
        if words & good:
            top, score = "POSITIVE", 0.9 if self.revision == 1 else 0.95
        else:
            top, score = "NEGATIVE", 0.8 if self.revision == 1 else 0.7
        other = "NEGATIVE" if top == "POSITIVE" else "POSITIVE"
        return [{"label": top, "score": score}, {"label": other, "score": 1 - score}]

    def entities(self, text: str) -> list[dict[str, Any]]:
        found = []
        for match in re.finditer(r"\b[A-Z][a-z]+\b", text):
            word = match.group()
            group = "ORG" if self.revision == 2 and word == "Acme" else "PER"
            found.append(
                {
                    "entity_group": group,
                    "score": 0.9 if self.revision == 1 else 0.8,
                    "word": word,
                    "start": match.start(),
                    "end": match.end(),
                }
            )
        return found

    def embed(self, text: str) -> list[float]:
        bump = 0.5 if self.revision == 2 else 0.0
        return [float(len(text.split())), float(text.count("a")), text.count("e") + bump, 1.0]


class MiniLMModel:
    """The emulator's sentiment classifier at one revision, run by the NumPy reference."""

    def __init__(self, model: MiniLM) -> None:
        self.model = model
        self.labels = model.labels

    def classify(self, text: str) -> list[dict[str, Any]]:
        logits = [float(x) for x in self.model.logits([text])[0]]
        top = max(logits)
        exps = [math.exp(x - top) for x in logits]
        total = sum(exps)
        ranked = sorted(zip(self.labels, exps, strict=True), key=lambda p: -p[1])
        return [{"label": label, "score": e / total} for label, e in ranked]

    def entities(self, text: str) -> list[dict[str, Any]]:
        raise NotImplementedError("the sentiment model has no token classifier")

    def embed(self, text: str) -> list[float]:
        return [float(x) for x in self.model.embed([text])[0]]


class InferenceRoutes:
    """The protocols' routes over one model; see the module doc."""

    def __init__(
        self, model: Model, *, sha: str | None = None, max_batch: int = 32,
        model_type: str = "classifier", models: Sequence[str] = ("toy",),
    ) -> None:  # fmt: skip
        self.model = model
        self.sha = sha
        self.max_batch = max_batch
        self.model_type = model_type
        self.models = list(models)
        self.faults: dict[str, list[Reply]] = {}
        self.batches: list[tuple[str, int]] = []  # (path, inputs) of each inference call

    def __call__(self, seen: Seen) -> Reply:
        queued = self.faults.get(f"{seen.method} {seen.path}")
        if queued:
            return queued.pop(0)
        if seen.method == "GET":
            return self._get(seen.path)
        try:
            request = json.loads(seen.body)
        except ValueError:
            return json_reply({"error": "not JSON"}, 400)
        texts = request.get("inputs", request.get("input"))
        if seen.path == "/predict":
            return self._tei_predict(texts)
        if not isinstance(texts, list):
            texts = [texts]
        self.batches.append((seen.path, len(texts)))
        if len(texts) > self.max_batch:
            return json_reply({"error": f"batch over {self.max_batch}"}, 413)
        return self._post(seen.path, texts, request)

    def _get(self, path: str) -> Reply:
        if path == "/info":
            kind: dict[str, Any] = (
                {"classifier": {"id2label": dict(enumerate(self.model.labels))}}
                if self.model_type == "classifier"
                else {"embedding": {"pooling": "mean"}}
            )
            return json_reply(
                {"model_id": "hubsnap-fixtures/model", "model_sha": self.sha,
                 "model_type": kind, "max_client_batch_size": self.max_batch}
            )  # fmt: skip
        if path == "/v1/models":
            return json_reply({"object": "list", "data": [{"id": m} for m in self.models]})
        if path.startswith("/hf/"):
            return Reply(405, [("Allow", "POST")])
        return Reply(404)

    def _tei_predict(self, inputs: Any) -> Reply:
        # As TEI reads /predict inputs: a string or ["a"] is one text, ["a", "b"] one sentence
        # pair (answered as one input), more bare strings an error; a batch is [["a"], ...].
        if isinstance(inputs, str) or (
            isinstance(inputs, list) and inputs and all(isinstance(x, str) for x in inputs)
        ):
            items = [inputs] if isinstance(inputs, str) else inputs
            if len(items) > 2:
                return json_reply({"error": "invalid length 3", "error_type": "Validation"}, 422)
            self.batches.append(("/predict", 1))
            return json_reply(self.model.classify(" ".join(items)))
        if not isinstance(inputs, list) or not all(
            isinstance(x, list) and len(x) == 1 for x in inputs
        ):
            return json_reply({"error": "not a batch of single texts"}, 422)
        self.batches.append(("/predict", len(inputs)))
        if len(inputs) > self.max_batch:
            return json_reply({"error": f"batch over {self.max_batch}"}, 413)
        return json_reply([self.model.classify(x[0]) for x in inputs])

    def _post(self, path: str, texts: list[str], request: dict[str, Any]) -> Reply:
        m = self.model
        if path == "/hf/text-classification":
            return json_reply([m.classify(t) for t in texts])
        if path == "/hf/text-classification-top":
            return json_reply([m.classify(t)[0] for t in texts])
        if path == "/hf/token-classification":
            return json_reply([m.entities(t) for t in texts])
        if path in ("/hf/feature-extraction", "/embed"):
            return json_reply([m.embed(t) for t in texts])
        if path == "/hf/feature-extraction-tokens":
            # Two "tokens" per input whose mean is the input's vector.
            return json_reply(
                [[[x - 1 for x in m.embed(t)], [x + 1 for x in m.embed(t)]] for t in texts]
            )
        if path == "/v1/embeddings":
            if request.get("model") not in self.models:
                return json_reply({"error": "no such model"}, 404)
            data = [{"object": "embedding", "index": i, "embedding": m.embed(t)}
                    for i, t in enumerate(texts)]  # fmt: skip
            return json_reply({"object": "list", "data": data[::-1], "model": request["model"]})
        return Reply(404)


@contextlib.contextmanager
def inference_server(routes: InferenceRoutes) -> Iterator[HostileServer]:
    """A server answering with ``routes``, stopped on exit."""
    server = HostileServer(routes)
    try:
        yield server
    finally:
        server.stop()
