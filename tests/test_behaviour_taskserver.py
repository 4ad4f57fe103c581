"""The task JSON server serve-model runs: what it answers, and what it refuses."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from hubsnap.diff.behaviour import Task, endpoint, parse_testset, run_behaviour
from hubsnap.diff.behaviour.taskserver import MAX_BODY, MAX_INPUTS, TaskServer
from hubsnap.errors import UsageError
from support.inference import ToyModel


class ToySource:
    """Task JSON from :class:`ToyModel`; ``fail`` makes it raise as a broken pipeline does."""

    def __init__(self, revision: int) -> None:
        self.model = ToyModel(revision)
        self.fail = False

    @property
    def name(self) -> str:
        return f"toy v{self.model.revision}"

    def answer(self, texts: Sequence[str], task: Task) -> list[Any]:
        if self.fail:
            raise UsageError("toy: the pipeline failed: out of memory")
        if task is Task.TEXT_CLASSIFICATION:
            return [self.model.classify(t) for t in texts]
        if task is Task.TOKEN_CLASSIFICATION:
            return [self.model.entities(t) for t in texts]
        return [self.model.embed(t) for t in texts]


@pytest.fixture
def served() -> Iterator[tuple[ToySource, TaskServer]]:
    source = ToySource(1)
    with TaskServer(source, Task.TEXT_CLASSIFICATION).start() as server:
        yield source, server


def request(
    server: TaskServer, method: str, path: str = "/", body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:  # fmt: skip
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.parametrize(
    "task", [Task.TEXT_CLASSIFICATION, Task.TOKEN_CLASSIFICATION, Task.FEATURE_EXTRACTION]
)
def test_two_servers_compared_through_the_endpoint_client(task: Task) -> None:
    testset = parse_testset(
        b'[{"text": "good"}, {"text": "it was fine"}, {"text": "Bob works at Acme"}]'
    )
    with (
        TaskServer(ToySource(1), task).start() as base,
        TaskServer(ToySource(2), task).start() as target,
    ):
        report = run_behaviour(
            testset, endpoint(base.url, role="baseline"), endpoint(target.url, role="target"),
            task=task, timeout=30,
        )  # fmt: skip
    if task is Task.TEXT_CLASSIFICATION:
        assert [r.consistent for r in report.rows] == [True, False, True]
    elif task is Task.TOKEN_CLASSIFICATION:
        assert [r.consistent for r in report.rows] == [True, True, False]
    else:
        assert report.embedding_cosine_mean is not None and report.embedding_cosine_mean < 1.0


def test_get_says_what_is_served(served: tuple[ToySource, TaskServer]) -> None:
    _, server = served
    assert request(server, "GET") == (200, {"task": "text-classification", "model": "toy v1"})
    assert request(server, "GET", "/health")[0] == 200
    assert request(server, "GET", "/other")[0] == 404


def test_one_text_is_answered_as_the_hub_does(served: tuple[ToySource, TaskServer]) -> None:
    _, server = served
    status, answer = request(server, "POST", body=b'{"inputs": "good"}')
    assert status == 200
    top, other = answer[0]
    assert top == {"label": "POSITIVE", "score": 0.9}
    assert other == {"label": "NEGATIVE", "score": pytest.approx(0.1)}


@pytest.mark.parametrize(
    ("body", "headers", "status", "fault"),
    [
        (b"{", None, 400, "the request is not valid JSON"),
        (b"[" * 100_000, None, 400, "nested deeper than 64 levels"),
        (b'{"inputs": 3}', None, 400, '"inputs" must be a string or a list'),
        (b'{"inputs": []}', None, 400, '"inputs" must be'),
        (b'{"inputs": ["a", 1]}', None, 400, '"inputs" must be'),
        (json.dumps({"inputs": ["a"] * (MAX_INPUTS + 1)}).encode(), None, 400, '"inputs"'),
        (b"", {"Content-Length": str(MAX_BODY + 1)}, 413, "larger than"),
        (b'{"inputs": "x"}', {"Transfer-Encoding": "chunked"}, 411, "Content-Length"),
    ],
)
def test_bad_requests_are_refused(
    served: tuple[ToySource, TaskServer], body: bytes, headers: dict[str, str] | None,
    status: int, fault: str,
) -> None:  # fmt: skip
    _, server = served
    got, answer = request(server, "POST", body=body, headers=headers)
    assert got == status
    assert fault in answer["error"]
    assert request(server, "GET")[0] == 200  # still serving


def test_methods_and_paths(served: tuple[ToySource, TaskServer]) -> None:
    _, server = served
    assert request(server, "PUT", body=b"{}")[0] == 405
    assert request(server, "POST", "/predict", body=b"{}")[0] == 404


def test_a_failing_model_is_a_500_with_its_message(served: tuple[ToySource, TaskServer]) -> None:
    source, server = served
    source.fail = True
    assert request(server, "POST", body=b'{"inputs": ["a"]}') == (
        500, {"error": "toy: the pipeline failed: out of memory"},
    )  # fmt: skip
