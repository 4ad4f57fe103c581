"""Hostile and broken inference endpoints: every bad answer is one line and the right exit.

Malformed answers (not JSON, nested too deeply, the wrong shape, the wrong count, scores that
are not finite numbers, oversized or endless bodies) are RemoteError (5); refused credentials
are AuthError (4); a server error is retried, and a later good answer is used.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from hubsnap.diff.behaviour import Task, endpoint, parse_testset, run_behaviour
from hubsnap.errors import AuthError, ExitCode, HubsnapError, RemoteError
from hubsnap.http import JsonExchange
from hubsnap.retry import RetryPolicy
from support.hostile_registry import HostileServer, Reply, endless, hostile_server, trickle
from support.inference import InferenceRoutes, ToyModel, json_reply

FAST = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.01)
TEXTS = parse_testset(b'{"text": "good"}\n{"text": "bad"}\n{"text": "fine"}\n', source="s")
HF = "/hf/text-classification"


@pytest.fixture(scope="module")
def running() -> Iterator[tuple[HostileServer, HostileServer]]:
    with hostile_server() as b, hostile_server() as t:
        yield b, t


Pair = tuple[InferenceRoutes, HostileServer, HostileServer]


@pytest.fixture
def pair(running: tuple[HostileServer, HostileServer]) -> Pair:
    """Base (hostile on demand: its ``faults``) and an honest target."""
    b, t = running
    b.route = routes = InferenceRoutes(ToyModel(1))
    t.route = InferenceRoutes(ToyModel(2))
    b.seen.clear()
    return routes, b, t


def compare(
    b: HostileServer, t: HostileServer, task: Task = Task.TEXT_CLASSIFICATION, *,
    path: str = HF, timeout: float = 30, limit: int = 1 << 20,
) -> None:  # fmt: skip
    base = endpoint(f"{b.url}{path}", role="baseline", exchange=JsonExchange(policy=FAST),
                    limit=limit)  # fmt: skip
    target = endpoint(f"{t.url}{path}", role="target", exchange=JsonExchange(policy=FAST))
    run_behaviour(TEXTS, base, target, task=task, timeout=timeout)


def one_line(error: HubsnapError, code: ExitCode) -> str:
    message = str(error)
    assert "\n" not in message and (error.hint is None or "\n" not in error.hint)
    assert error.exit_code == code
    return message


def test_server_error_then_success(pair: Pair) -> None:
    routes, b, t = pair
    routes.faults["POST " + HF] = [Reply(500), Reply(503, [("Retry-After", "0")])]
    compare(b, t)
    assert [s.method for s in b.seen] == ["GET", "POST", "POST", "POST"]
    assert routes.batches == [(HF, 3)]


def test_persistent_server_error(pair: Pair) -> None:
    routes, b, t = pair
    routes.faults["POST " + HF] = [json_reply({"error": "Model is \x1b[31mloading"}, 503)] * 3
    with pytest.raises(RemoteError) as info:
        compare(b, t)
    message = one_line(info.value, ExitCode.REMOTE)
    assert message == f"baseline endpoint {b.url}{HF} answered 503: 'Model is \\x1b[31mloading'"


def test_refused_credentials(pair: Pair) -> None:
    routes, b, t = pair
    routes.faults["POST " + HF] = [Reply(401)]
    with pytest.raises(AuthError) as info:
        compare(b, t)
    assert one_line(info.value, ExitCode.AUTH).endswith("refused the request (401)")


def label_batch(*records: object) -> bytes:
    return json.dumps([list(records)] * 3).encode()


@pytest.mark.parametrize(
    ("body", "fault"),
    [
        (b"<html>busy</html>", "the answer is not valid JSON: Expecting value"),
        (b"\xff\xfe", "the answer is not valid JSON: not UTF-8"),
        (b"[" * 200_000 + b"]" * 200_000, "the answer is nested deeper than 64 levels"),
        (b'[[{"label": "A", "label": "B", "score": 1}]]', "duplicate key"),
        (b'{"label": "A", "score": 1}', "expected a JSON list, got dict"),
        (b"[1, 2, 3]", 'a label is not an object {"label", "score"}'),
        (json.dumps([[]] * 3).encode(), "an input got no label"),
        (json.dumps([[{"label": "A", "score": 1}]] * 2).encode(), "2 answers for 3 inputs"),
        (label_batch({"label": "A"}), "a score is not a number"),
        (label_batch({"label": "A", "score": "high"}), "a score is not a number"),
        (label_batch({"label": "A", "score": True}), "a score is not a number"),
        (
            b"[" + b", ".join([b'[{"label": "A", "score": NaN}]'] * 3) + b"]",
            "NaN is not a JSON number",
        ),
        (
            b"[" + b", ".join([b'[{"label": "A", "score": 1e999}]'] * 3) + b"]",
            "number '1e999' is out of range",
        ),
        (label_batch({"label": 7, "score": 1}), '"label" is not a string'),
        (label_batch({"label": "x" * 300, "score": 1}), '"label" is not a string'),
    ],
)
def test_malformed_classification(pair: Pair, body: bytes, fault: str) -> None:
    routes, b, t = pair
    routes.faults["POST " + HF] = [Reply(200, [("Content-Type", "application/json")], body)]
    with pytest.raises(RemoteError) as info:
        compare(b, t)
    message = one_line(info.value, ExitCode.REMOTE)
    assert message.startswith(f"baseline endpoint {b.url}{HF}: ")
    assert fault in message, message


@pytest.mark.parametrize(
    ("path", "task", "body", "fault"),
    [
        ("/hf/token-classification", Task.TOKEN_CLASSIFICATION,
         [[{"entity_group": "PER", "score": 0.5, "start": 5, "end": 2}]] * 3, '"start" <= "end"'),
        ("/hf/token-classification", Task.TOKEN_CLASSIFICATION,
         [[{"entity": "PER", "score": 0.5, "start": 0, "end": 2**40}]] * 3, '"end" < 2**31'),
        ("/hf/token-classification", Task.TOKEN_CLASSIFICATION,
         [[{"score": 0.5, "start": 0, "end": 2}]] * 3, '"entity_group" is not a string'),
        ("/hf/token-classification", Task.TOKEN_CLASSIFICATION, [{"a": 1}] * 3,
         "entities are not a list"),
        ("/hf/feature-extraction", Task.FEATURE_EXTRACTION, [[1.0, 2.0], [1.0], [3.0, 4.0]],
         "differ in length"),
        ("/hf/feature-extraction", Task.FEATURE_EXTRACTION, [[1.0, "x"]] * 3,
         "an embedding value is not a number"),
        ("/hf/feature-extraction", Task.FEATURE_EXTRACTION, [[]] * 3,
         "not a non-empty list of numbers"),
        ("/hf/feature-extraction", Task.FEATURE_EXTRACTION, [[[1.0, 2.0], [1.0]]] * 3,
         "token vectors of an input differ"),
    ],
)  # fmt: skip
def test_malformed_other_tasks(pair: Pair, path: str, task: Task, body: object, fault: str) -> None:
    routes, b, t = pair
    routes.faults["POST " + path] = [json_reply(body)]
    with pytest.raises(RemoteError) as info:
        compare(b, t, task, path=path)
    assert fault in one_line(info.value, ExitCode.REMOTE)


@pytest.mark.parametrize(
    ("body", "fault"),
    [
        ({"object": "list"}, 'the answer has no "data" list'),
        ({"data": [{"index": 0, "embedding": [1.0]}] * 3}, "two embeddings have index 0"),
        ({"data": [{"index": i + 1, "embedding": [1.0]} for i in range(3)]}, 'no valid "index"'),
        ({"data": [{"index": 0, "embedding": [1.0]}]}, "1 embeddings for 3 inputs"),
    ],
)
def test_malformed_openai(pair: Pair, body: object, fault: str) -> None:
    routes, b, t = pair
    routes.faults["POST /v1/embeddings"] = [json_reply(body)]
    base = endpoint(f"openai+{b.url}", role="baseline", exchange=JsonExchange(policy=FAST))
    target = endpoint(f"openai+{t.url}", role="target", exchange=JsonExchange(policy=FAST))
    with pytest.raises(RemoteError) as info:
        run_behaviour(TEXTS, base, target, task=Task.FEATURE_EXTRACTION, timeout=30)
    assert fault in one_line(info.value, ExitCode.REMOTE)


@pytest.mark.parametrize(
    ("info_body", "fault"),
    [([1, 2], "/info is not a JSON object"), ({"model_sha": 12}, "model_sha that is not a string")],
)
def test_malformed_tei_info(pair: Pair, info_body: object, fault: str) -> None:
    routes, b, t = pair
    routes.faults["GET /info"] = [json_reply(info_body)]
    base = endpoint(f"tei+{b.url}", role="baseline", revision="1" * 40,
                    exchange=JsonExchange(policy=FAST))  # fmt: skip
    target = endpoint(f"tei+{t.url}", role="target", exchange=JsonExchange(policy=FAST))
    with pytest.raises(RemoteError) as info:
        run_behaviour(TEXTS, base, target, task=Task.TEXT_CLASSIFICATION, timeout=30)
    assert fault in one_line(info.value, ExitCode.REMOTE)


def test_oversized_and_endless_answers_are_capped(pair: Pair) -> None:
    routes, b, t = pair
    routes.faults["POST " + HF] = [json_reply([[{"label": "A" * 100, "score": 1}] * 100] * 3)]
    with pytest.raises(RemoteError) as info:
        compare(b, t, limit=4096)
    assert one_line(info.value, ExitCode.REMOTE) == (
        f"baseline endpoint {b.url}{HF}: the answer is larger than 4 KiB"
    )
    routes.faults["POST " + HF] = [Reply(200, body=endless())]
    sent = b.bytes_sent
    with pytest.raises(RemoteError, match="larger than 1 MiB"):
        compare(b, t)
    assert b.bytes_sent - sent < 64 << 20  # stopped reading near the cap, not at the end


def test_trickling_answer_is_bounded_by_the_timeout(pair: Pair) -> None:
    routes, b, t = pair
    routes.faults["POST " + HF] = [Reply(200, body=trickle(2, 10_000))] * 3
    started = time.monotonic()
    with pytest.raises(RemoteError) as info:
        compare(b, t, timeout=1.0)
    assert "not done within 1s" in one_line(info.value, ExitCode.REMOTE)
    assert time.monotonic() - started < 30  # generous: proves it does not hang


def test_unreachable_endpoint(pair: Pair) -> None:
    _, _, t = pair
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        base = endpoint(f"http://127.0.0.1:{port}/x", role="baseline",
                        exchange=JsonExchange(policy=FAST))  # fmt: skip
        target = endpoint(f"{t.url}{HF}", role="target", exchange=JsonExchange(policy=FAST))
        with pytest.raises(RemoteError) as info:
            run_behaviour(TEXTS, base, target, task=Task.TEXT_CLASSIFICATION, timeout=30,
                          dry_run=True)  # fmt: skip
    assert one_line(info.value, ExitCode.REMOTE).startswith(
        f"cannot reach baseline endpoint http://127.0.0.1:{port}/x"
    )
