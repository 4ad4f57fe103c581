"""One JSON request and its capped answer, for services hubsnap calls with a JSON body.

Inference endpoints (Hugging Face task JSON, Text Embeddings Inference, OpenAI-compatible
embeddings) are plain JSON-over-HTTP services: :class:`JsonExchange` sends a request through
:func:`~hubsnap.http.send.send_with_retry` (so 408/429/5xx and dropped connections are retried
with backoff, within a :class:`~hubsnap.http.deadline.Deadline` per call) and returns the
status and the body, read with a cap while it arrives. The caller judges both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import TracebackType

import httpx

from hubsnap.http.deadline import Deadline
from hubsnap.http.send import send_with_retry
from hubsnap.retry import RetryPolicy

__all__ = ["Answer", "JsonExchange"]


@dataclass(frozen=True)
class Answer:
    """A service's final answer: its status and its body (at most the caller's cap)."""

    status: int
    body: bytes


class JsonExchange:
    """Sends JSON requests to any URL, each with its own deadline, and reads capped answers."""

    def __init__(
        self, *, policy: RetryPolicy | None = None, client: httpx.Client | None = None
    ) -> None:
        self.policy = policy or RetryPolicy()
        self._client = client
        self._owned = client is None

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client()
        return self._client

    def call(
        self,
        method: str,
        url: str,
        *,
        payload: object | None = None,
        where: str,
        what: str,
        limit: int,
        timeout: float | None,
    ) -> Answer:
        """``method url`` with ``payload`` as JSON; the answer once it is final.

        Transport failures and a body over ``limit`` bytes raise
        :class:`~hubsnap.errors.RemoteError` naming ``where`` or ``what``; any status is
        returned for the caller to judge. ``timeout`` bounds the call with its retries.
        """
        client = self._http()
        content = None if payload is None else json.dumps(payload).encode()
        headers = {"Accept": "application/json"}
        if content is not None:
            headers["Content-Type"] = "application/json"
        response = send_with_retry(
            client,
            lambda: client.build_request(method, url, content=content, headers=headers),
            policy=self.policy,
            where=where,
            deadline=Deadline(timeout),
            preload=limit,
            what=what,
        )
        return Answer(response.status_code, response.content)

    def close(self) -> None:
        if self._owned and self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> JsonExchange:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
