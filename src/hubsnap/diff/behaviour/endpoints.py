"""Inference endpoints as :class:`~hubsnap.diff.behaviour.model.Predictor` s.

An endpoint is named by a URL whose scheme says the protocol:

- ``http(s)://HOST/PATH`` (or ``hf+http(s)://``): Hugging Face task JSON, ``POST URL
  {"inputs": [texts]}``, for all three tasks;
- ``tei+http(s)://HOST``: Text Embeddings Inference, ``/predict`` (text classification, a
  batch sent as ``[[text], …]``: two bare strings are one sentence pair there) and ``/embed``
  (feature extraction); ``/info`` says which model it serves, and a ``model_sha``
  that is not the artifact's commit is an :class:`~hubsnap.errors.IntegrityError` (6);
- ``openai+http(s)://HOST[/v1][?model=NAME]``: OpenAI-compatible ``/v1/embeddings`` (feature
  extraction); without ``model=`` the one model ``/v1/models`` lists is used.

Inputs go in batches (at most ``batch_size``, and at most TEI's ``max_client_batch_size``);
every request goes through :class:`~hubsnap.http.JsonExchange`: retried with backoff, bounded
by ``timeout`` with its retries, its answer capped while read. ``check`` is what ``--dry-run``
does: it reaches the endpoint (TEI: reads ``/info``; OpenAI: ``/v1/models``) and sends no input.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from urllib.parse import parse_qs, urlsplit, urlunsplit

from hubsnap.diff.behaviour import answers
from hubsnap.diff.behaviour.model import Prediction, Task
from hubsnap.errors import AuthError, IntegrityError, RemoteError, UsageError
from hubsnap.http import JsonExchange
from hubsnap.values import printable, shown

__all__ = [
    "ANSWER_LIMIT",
    "BATCH_SIZE",
    "INFO_LIMIT",
    "Endpoint",
    "HfTaskEndpoint",
    "OpenAIEndpoint",
    "TeiEndpoint",
    "endpoint",
]

#: The largest answer to one batch (vectors per token of 32 long inputs fit).
ANSWER_LIMIT = 64 * 1024 * 1024
#: The largest ``/info`` or ``/v1/models`` answer.
INFO_LIMIT = 1024 * 1024
#: Inputs per request unless the endpoint allows fewer.
BATCH_SIZE = 32


class Endpoint(ABC):
    """What every protocol shares: its URL, role, batching, and the checked JSON call."""

    protocol = "endpoint"

    def __init__(
        self,
        url: str,
        *,
        role: str,
        revision: str | None = None,
        exchange: JsonExchange | None = None,
        batch_size: int = BATCH_SIZE,
        limit: int = ANSWER_LIMIT,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"{role} endpoint {shown(url, 160)} is not an http(s) URL")
        self.url = url
        self.role = role
        self.revision = revision
        self._owns_exchange = exchange is None
        self.exchange = exchange or JsonExchange()
        self.batch_size = max(1, batch_size)
        self.limit = limit
        host = parts.hostname + (f":{parts.port}" if parts.port else "")
        # Shown without credentials or query.
        self.shown = urlunsplit((parts.scheme, host, parts.path, "", ""))

    @property
    def name(self) -> str:
        return f"{self.role} endpoint {self.shown}"

    def close(self) -> None:
        """Close the connections this endpoint opened (not those of a shared exchange)."""
        if self._owns_exchange:
            self.exchange.close()

    @abstractmethod
    def check(self, task: Task, *, timeout: float) -> None:
        """See :meth:`Predictor.check`."""

    @abstractmethod
    def predict(self, texts: Sequence[str], task: Task, *, timeout: float) -> list[Prediction]:
        """See :meth:`Predictor.predict`."""

    def _url(self, path: str) -> str:
        parts = urlsplit(self.url)
        return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + path, "", ""))

    def call(
        self, method: str, url: str, payload: object | None, *, limit: int, timeout: float
    ) -> object:
        """The JSON answer of a 2xx; any other status is an error naming this endpoint."""
        what = f"{self.name}: the answer"
        answer = self.exchange.call(
            method, url, payload=payload, where=self.name, what=what, limit=limit,
            timeout=timeout,
        )  # fmt: skip
        if answer.status in (401, 403):
            raise AuthError(
                f"{self.name} refused the request ({answer.status})",
                hint="the endpoint needs credentials hubsnap does not send",
            )
        if not 200 <= answer.status < 300:
            raise RemoteError(
                f"{self.name} answered {answer.status}{self._reason(answer.body)}",
                hint="check the endpoint's URL, protocol and logs",
            )
        return answers.decode_json(answer.body, self.name)

    @staticmethod
    def _reason(body: bytes) -> str:
        try:
            message = answers.decode_json(body, "")
        except RemoteError:
            return ""
        error = message.get("error") if isinstance(message, dict) else None
        return f": {printable(error, 160)}" if isinstance(error, str) and error else ""

    def _batches(
        self, texts: Sequence[str], post: Callable[[list[str]], list[Prediction]]
    ) -> list[Prediction]:
        out: list[Prediction] = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            predictions = post(batch)
            if len(predictions) != len(batch):
                raise RemoteError(f"{self.name}: {len(predictions)} answers for {len(batch)}")
            out.extend(predictions)
        return out

    def _refuse(self, task: Task) -> UsageError:
        return UsageError(
            f"{self.name}: the {self.protocol} protocol cannot answer {task.value}",
            hint="use an endpoint that speaks Hugging Face task JSON, or --runner transformers",
        )


class HfTaskEndpoint(Endpoint):
    """Hugging Face task JSON: ``POST URL {"inputs": [texts]}``."""

    protocol = "Hugging Face task JSON"

    def check(self, task: Task, *, timeout: float) -> None:
        # The protocol has no information call: any HTTP answer under 500 to a GET (often
        # 405, the route taking POST only) shows the endpoint is up.
        answer = self.exchange.call(
            "GET", self.url, where=self.name, what=f"{self.name}: the answer",
            limit=INFO_LIMIT, timeout=timeout,
        )  # fmt: skip
        if answer.status >= 500:
            raise RemoteError(f"{self.name} answered {answer.status}")

    def predict(self, texts: Sequence[str], task: Task, *, timeout: float) -> list[Prediction]:
        parse = answers.PARSERS[task]

        def post(batch: list[str]) -> list[Prediction]:
            answer = self.call(
                "POST", self.url, {"inputs": batch}, limit=self.limit, timeout=timeout
            )
            return parse(answer, len(batch), self.name)

        return self._batches(texts, post)


class TeiEndpoint(Endpoint):
    """Text Embeddings Inference: ``/info``, ``/predict`` and ``/embed``."""

    protocol = "Text Embeddings Inference"

    def check(self, task: Task, *, timeout: float) -> None:
        if task is Task.TOKEN_CLASSIFICATION:
            raise self._refuse(task)
        info = self.call("GET", self._url("/info"), None, limit=INFO_LIMIT, timeout=timeout)
        if not isinstance(info, dict):
            raise RemoteError(f"{self.name}: /info is not a JSON object")
        served = info.get("model_sha")
        if served is not None and not isinstance(served, str):
            raise RemoteError(f"{self.name}: /info has a model_sha that is not a string")
        if self.revision and served and served.strip().lower() != self.revision.lower():
            raise IntegrityError(
                f"{self.name} serves revision {printable(served, 64)}, "
                f"not the artifact's commit {self.revision}",
                hint="start the endpoint from the artifact's revision",
            )
        kind = info.get("model_type")
        wanted = "classifier" if task is Task.TEXT_CLASSIFICATION else "embedding"
        if isinstance(kind, dict) and kind and wanted not in kind:
            served_kind = printable(", ".join(str(k) for k in kind), 40)
            raise UsageError(
                f"{self.name} serves a {served_kind} model, not one for {task.value}",
                hint="pass the --task the endpoint's model has",
            )
        most = info.get("max_client_batch_size")
        if isinstance(most, int) and not isinstance(most, bool) and most >= 1:
            self.batch_size = min(self.batch_size, most)

    def predict(self, texts: Sequence[str], task: Task, *, timeout: float) -> list[Prediction]:
        if task is Task.TOKEN_CLASSIFICATION:
            raise self._refuse(task)
        route, parse = (
            ("/predict", answers.classification)
            if task is Task.TEXT_CLASSIFICATION
            else ("/embed", answers.embeddings)
        )

        def post(batch: list[str]) -> list[Prediction]:
            # /predict reads ["a", "b"] as one sentence pair: a batch is [["a"], ["b"]].
            inputs = [[text] for text in batch] if route == "/predict" else batch
            answer = self.call(
                "POST", self._url(route), {"inputs": inputs}, limit=self.limit, timeout=timeout
            )
            return parse(answer, len(batch), self.name)

        return self._batches(texts, post)


class OpenAIEndpoint(Endpoint):
    """OpenAI-compatible embeddings: ``POST /v1/embeddings {"model", "input"}``."""

    protocol = "OpenAI embeddings"

    def __init__(
        self,
        url: str,
        *,
        role: str,
        revision: str | None = None,
        exchange: JsonExchange | None = None,
        batch_size: int = BATCH_SIZE,
        limit: int = ANSWER_LIMIT,
    ) -> None:
        parts = urlsplit(url)
        models = parse_qs(parts.query).get("model", [])
        self.model: str | None = models[0] if models else None
        path = parts.path.rstrip("/")
        for suffix in ("/embeddings", "/v1"):
            path = path.removesuffix(suffix)
        super().__init__(
            urlunsplit((parts.scheme, parts.netloc, path, "", "")), role=role,
            revision=revision, exchange=exchange, batch_size=batch_size, limit=limit,
        )  # fmt: skip

    def check(self, task: Task, *, timeout: float) -> None:
        if task is not Task.FEATURE_EXTRACTION:
            raise self._refuse(task)
        listing = self.call("GET", self._url("/v1/models"), None, limit=INFO_LIMIT,
                            timeout=timeout)  # fmt: skip
        data = listing.get("data") if isinstance(listing, dict) else None
        if not isinstance(data, list):
            raise RemoteError(f'{self.name}: /v1/models has no "data" list')
        ids = [m.get("id") for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)]
        if self.model is None:
            if len(ids) != 1:
                raise UsageError(
                    f"{self.name} serves {len(ids)} models: say which one",
                    hint="add ?model=NAME to the endpoint URL",
                )
            self.model = str(ids[0])
        elif self.model not in ids:
            raise UsageError(f"{self.name} serves no model {shown(self.model, 80)}")

    def predict(self, texts: Sequence[str], task: Task, *, timeout: float) -> list[Prediction]:
        if task is not Task.FEATURE_EXTRACTION:
            raise self._refuse(task)
        if self.model is None:
            self.check(task, timeout=timeout)

        def post(batch: list[str]) -> list[Prediction]:
            payload = {"model": self.model, "input": batch, "encoding_format": "float"}
            answer = self.call(
                "POST", self._url("/v1/embeddings"), payload, limit=self.limit, timeout=timeout
            )
            return answers.openai_embeddings(answer, len(batch), self.name)

        return self._batches(texts, post)


_PROTOCOLS: dict[str, type[Endpoint]] = {
    "hf": HfTaskEndpoint,
    "tei": TeiEndpoint,
    "openai": OpenAIEndpoint,
}


def endpoint(
    spec: str,
    *,
    role: str,
    revision: str | None = None,
    exchange: JsonExchange | None = None,
    batch_size: int = BATCH_SIZE,
    limit: int = ANSWER_LIMIT,
) -> Endpoint:
    """The endpoint ``spec`` names (see the module doc), as a predictor for ``role``
    (``"baseline"`` or ``"target"``). ``revision`` is the artifact's commit, checked where
    the endpoint says what it serves."""
    protocol, plus, rest = spec.partition("+")
    if not plus or "://" in protocol:
        protocol, rest = "hf", spec
    kind = _PROTOCOLS.get(protocol.lower())
    if kind is None:
        known = ", ".join(f"{p}+http://" for p in _PROTOCOLS)
        raise UsageError(
            f"{role} endpoint: unknown protocol {shown(protocol, 40)}",
            hint=f"start the URL with http(s):// or one of {known}",
        )
    return kind(
        rest, role=role, revision=revision, exchange=exchange, batch_size=batch_size,
        limit=limit,
    )  # fmt: skip
