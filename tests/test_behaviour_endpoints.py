"""Behaviour through inference endpoints on loopback: every protocol, batching, dry runs.

The endpoints answer from :class:`support.inference.ToyModel`, whose rules are simple enough
that every expected label, confidence change and cosine below is worked out by hand.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from hubsnap.diff.behaviour import (
    BehaviourReport,
    Span,
    Task,
    endpoint,
    parse_testset,
    run_behaviour,
)
from hubsnap.diff.behaviour.model import Predictor
from hubsnap.errors import ExitCode, IntegrityError, UsageError
from hubsnap.http import JsonExchange
from hubsnap.retry import RetryPolicy
from support.hostile_registry import HostileServer, hostile_server
from support.inference import InferenceRoutes, ToyModel

SHA_V1 = "1" * 40
SHA_V2 = "2" * 40
FAST = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.01)

TEXTS = b"""\
{"text": "a good film", "labels": ["POSITIVE"]}
{"text": "it was fine", "labels": ["POSITIVE"]}
{"text": "dull and long", "labels": ["NEGATIVE"]}
{"text": "great fun", "labels": ["NEGATIVE"]}
{"text": "fine, just fine"}
"""


@pytest.fixture(scope="module")
def running() -> Iterator[tuple[HostileServer, HostileServer]]:
    with hostile_server() as b, hostile_server() as t:
        yield b, t


Servers = tuple[InferenceRoutes, HostileServer, InferenceRoutes, HostileServer]


@pytest.fixture
def servers(running: tuple[HostileServer, HostileServer]) -> Servers:
    """The two servers, answering from fresh routes: toy model revision 1 and 2."""
    base = InferenceRoutes(ToyModel(1), sha=SHA_V1)
    target = InferenceRoutes(ToyModel(2), sha=SHA_V2)
    b, t = running
    b.route, t.route = base, target
    b.seen.clear()
    t.seen.clear()
    return base, b, target, t


def side(spec: str, role: str, *, revision: str | None = None, batch_size: int = 32) -> Predictor:
    exchange = JsonExchange(policy=FAST)
    return endpoint(spec, role=role, revision=revision, exchange=exchange, batch_size=batch_size)


def run(base: Predictor, target: Predictor, task: Task, texts: bytes = TEXTS,
        dry_run: bool = False) -> BehaviourReport:  # fmt: skip
    testset = parse_testset(texts, source="set.jsonl")
    return run_behaviour(testset, base, target, task=task, timeout=30, dry_run=dry_run)


def check_sentiment(report: BehaviourReport) -> None:
    # v2 also calls "fine" positive: inputs 2 and 5 flip NEGATIVE (0.8) → POSITIVE (0.95);
    # positives go 0.9 → 0.95, negatives 0.8 → 0.7.
    assert [r.consistent for r in report.rows] == [True, False, True, True, False]
    assert [r.target_labels for r in report.rows] == [("POSITIVE",)] * 2 + [
        ("NEGATIVE",),
        ("POSITIVE",),
        ("POSITIVE",),
    ]
    deltas = [r.confidence_delta for r in report.rows]
    assert deltas == pytest.approx([0.05, 0.15, -0.1, 0.05, 0.15])
    assert [r.jaccard for r in report.rows] == [1.0, 0.0, 1.0, 1.0, 0.0]
    assert report.label_shift_rate == 0.4
    assert report.label_shift_ci == pytest.approx((0.1176, 0.7693), abs=1e-4)
    assert report.jaccard_mean == pytest.approx(0.6)
    assert report.confidence_delta_mean == pytest.approx(0.06)
    # Labelled inputs 1-4: base right on 1, 3; target right on 1, 2, 3. Discordant: 1 vs 0.
    assert report.base_accuracy == 0.5 and report.target_accuracy == 0.75
    assert report.mcnemar_p == 1.0
    assert report.embedding_cosine_mean is None
    # |deltas| 0.05, 0.05, 0.1, 0.15, 0.15 have ties: the normal approximation.
    assert report.wilcoxon_p is not None and 0.0 < report.wilcoxon_p < 1.0


@pytest.mark.parametrize("route", ["/hf/text-classification", "/hf/text-classification-top"])
def test_hf_text_classification(servers: Servers, route: str) -> None:
    base_routes, b, _, t = servers
    report = run(side(b.url + route, "baseline"), side(t.url + route, "target"),
                 Task.TEXT_CLASSIFICATION)  # fmt: skip
    check_sentiment(report)
    assert report.to_json()["rows"][1] == {
        "input": "it was fine", "base_labels": ["NEGATIVE"], "target_labels": ["POSITIVE"],
        "consistent": False, "jaccard": 0.0,
        "confidence_delta": pytest.approx(0.15),
    }  # fmt: skip
    assert base_routes.batches == [(route, 5)]


def test_batches_are_bounded(servers: Servers) -> None:
    base_routes, b, target_routes, t = servers
    url = "/hf/text-classification"
    report = run(side(b.url + url, "baseline", batch_size=2),
                 side(t.url + url, "target", batch_size=3), Task.TEXT_CLASSIFICATION)  # fmt: skip
    check_sentiment(report)
    assert [n for _, n in base_routes.batches] == [2, 2, 1]
    assert [n for _, n in target_routes.batches] == [3, 2]


def test_tei_classification_and_revision(servers: Servers) -> None:
    base_routes, b, target_routes, t = servers
    target_routes.max_batch = 2  # /info says so; hubsnap keeps under it
    report = run(side(f"tei+{b.url}", "baseline", revision=SHA_V1),
                 side(f"tei+{t.url}", "target", revision=SHA_V2.upper()),
                 Task.TEXT_CLASSIFICATION)  # fmt: skip
    check_sentiment(report)
    assert [n for path, n in target_routes.batches] == [2, 2, 1]
    assert {path for path, _ in base_routes.batches} == {"/predict"}


def test_tei_serving_another_revision_is_an_integrity_error(servers: Servers) -> None:
    base_routes, b, target_routes, t = servers
    with pytest.raises(IntegrityError) as info:
        run(side(f"tei+{b.url}", "baseline", revision=SHA_V1),
            side(f"tei+{t.url}", "target", revision=SHA_V1), Task.TEXT_CLASSIFICATION)  # fmt: skip
    assert info.value.exit_code == ExitCode.INTEGRITY
    assert str(info.value) == (
        f"target endpoint {t.url} serves revision {SHA_V2}, not the artifact's commit {SHA_V1}"
    )
    assert base_routes.batches == target_routes.batches == []  # refused before any input


def test_tei_refuses_tasks_it_does_not_serve(servers: Servers) -> None:
    _, b, _, t = servers
    with pytest.raises(UsageError, match="cannot answer token-classification"):
        run(side(f"tei+{b.url}", "baseline"), side(f"tei+{t.url}", "target"),
            Task.TOKEN_CLASSIFICATION, b'{"text": "Ann"}')  # fmt: skip
    with pytest.raises(UsageError, match="serves a classifier model, not one for feature-extr"):
        run(side(f"tei+{b.url}", "baseline"), side(f"tei+{t.url}", "target"),
            Task.FEATURE_EXTRACTION, b'{"text": "Ann"}')  # fmt: skip


def test_hf_token_classification(servers: Servers) -> None:
    _, b, _, t = servers
    texts = (
        b'{"text": "Ann met Bob", "labels": [[8, 11, "PER"], [0, 3, "PER"]]}\n'
        b'{"text": "Bob works at Acme", "labels": [[0, 3, "PER"], [13, 17, "ORG"]]}\n'
        b'{"text": "no names here"}\n'
    )
    url = "/hf/token-classification"
    report = run(side(b.url + url, "baseline"), side(t.url + url, "target"),
                 Task.TOKEN_CLASSIFICATION, texts)  # fmt: skip
    rows = report.rows
    assert rows[0].base_labels == (Span(0, 3, "PER"), Span(8, 11, "PER"))
    assert rows[1].base_labels == (Span(0, 3, "PER"), Span(13, 17, "PER"))
    assert rows[1].target_labels == (Span(0, 3, "PER"), Span(13, 17, "ORG"))
    assert [r.consistent for r in rows] == [True, False, True]
    assert [r.jaccard for r in rows] == pytest.approx([1.0, 1 / 3, 1.0])
    # Mean entity score 0.9 → 0.8; no entity on either side: 0.
    assert [r.confidence_delta for r in rows] == pytest.approx([-0.1, -0.1, 0.0])
    assert report.base_accuracy == 0.5 and report.target_accuracy == 1.0
    assert report.mcnemar_p == 1.0  # one discordant pair: 2 · 1/2
    assert report.to_json()["rows"][1]["target_labels"] == [[0, 3, "PER"], [13, 17, "ORG"]]


def expected_cosine(text: str) -> float:
    a, b = ToyModel(1).embed(text), ToyModel(2).embed(text)
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


EMBED_TEXTS = b'[{"text": "a cat sat"}, {"text": "see the tree"}, {"text": "zzz"}]'


@pytest.mark.parametrize(
    ("spec", "suffix"),
    [
        ("", "/hf/feature-extraction"),
        ("", "/hf/feature-extraction-tokens"),
        ("tei+", ""),
        ("openai+", "/v1"),
        ("openai+", "?model=toy"),
    ],
)
def test_embeddings(servers: Servers, spec: str, suffix: str) -> None:
    base_routes, b, target_routes, t = servers
    base_routes.model_type = target_routes.model_type = "embedding"
    report = run(side(f"{spec}{b.url}{suffix}", "baseline"),
                 side(f"{spec}{t.url}{suffix}", "target"), Task.FEATURE_EXTRACTION,
                 EMBED_TEXTS)  # fmt: skip
    # "a cat sat": [3, 3, 0, 1] vs [3, 3, 0.5, 1]; "see the tree": [3, 0, 5, 1] vs 5.5.
    cosines = [expected_cosine(x) for x in ("a cat sat", "see the tree", "zzz")]
    assert [r.cosine for r in report.rows] == pytest.approx(cosines)
    assert cosines[0] == pytest.approx(19 / math.sqrt(19 * 19.25))
    assert cosines[2] == pytest.approx(2 / (math.sqrt(2) * 1.5))  # [1, 0, 0, 1] vs 0.5
    assert report.embedding_cosine_mean == pytest.approx(sum(cosines) / 3)
    assert report.label_shift_rate is None and report.jaccard_mean is None
    assert report.to_json()["rows"][0] == {
        "input": "a cat sat", "base_labels": [], "target_labels": [], "consistent": None,
        "jaccard": None, "confidence_delta": None,
    }  # fmt: skip


def test_openai_model_choice(servers: Servers) -> None:
    base_routes, b, _, t = servers
    base_routes.models = ["one", "two"]
    with pytest.raises(UsageError, match="serves 2 models: say which one") as info:
        run(side(f"openai+{b.url}", "baseline"), side(f"openai+{t.url}", "target"),
            Task.FEATURE_EXTRACTION, EMBED_TEXTS)  # fmt: skip
    assert info.value.hint == "add ?model=NAME to the endpoint URL"
    with pytest.raises(UsageError, match="serves no model 'three'"):
        run(side(f"openai+{b.url}?model=three", "baseline"),
            side(f"openai+{t.url}", "target"), Task.FEATURE_EXTRACTION, EMBED_TEXTS)  # fmt: skip
    report = run(side(f"openai+{b.url}/v1/embeddings?model=two", "baseline"),
                 side(f"openai+{t.url}", "target"), Task.FEATURE_EXTRACTION,
                 EMBED_TEXTS)  # fmt: skip
    assert report.inputs == 3
    with pytest.raises(UsageError, match="cannot answer text-classification"):
        run(side(f"openai+{b.url}", "baseline"), side(f"openai+{t.url}", "target"),
            Task.TEXT_CLASSIFICATION)  # fmt: skip


def test_dry_run_sends_no_input(servers: Servers) -> None:
    base_routes, b, target_routes, t = servers
    report = run(side(f"{b.url}/hf/text-classification", "baseline"),
                 side(f"tei+{t.url}", "target", revision=SHA_V2), Task.TEXT_CLASSIFICATION,
                 dry_run=True)  # fmt: skip
    assert report.dry_run and report.inputs == 5 and report.rows == ()
    assert report.to_json()["label_shift_rate"] is None
    assert base_routes.batches == target_routes.batches == []
    assert [(s.method, s.path) for s in b.seen] == [("GET", "/hf/text-classification")]
    assert [(s.method, s.path) for s in t.seen] == [("GET", "/info")]
    # A dry run still checks the revision and the test set.
    with pytest.raises(IntegrityError):
        run(side(f"tei+{b.url}", "baseline", revision=SHA_V2),
            side(f"tei+{t.url}", "target"), Task.TEXT_CLASSIFICATION, dry_run=True)  # fmt: skip
    with pytest.raises(UsageError, match=r"set\.jsonl: line 1"):
        run(side(b.url, "baseline"), side(t.url, "target"), Task.TEXT_CLASSIFICATION,
            b"{", dry_run=True)  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "fault"),
    [
        ("ftp://host/x", "is not an http(s) URL"),
        ("grpc+http://host/x", "unknown protocol 'grpc'"),
        ("http:///nohost", "is not an http(s) URL"),
    ],
)
def test_endpoint_specs(spec: str, fault: str) -> None:
    with pytest.raises(UsageError, match=r"^baseline endpoint") as info:
        endpoint(spec, role="baseline")
    assert fault in str(info.value)
