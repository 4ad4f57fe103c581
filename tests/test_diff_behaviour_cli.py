"""``hubsnap diff --testset``: the behaviour level through two endpoints, in the report
with every other level, judged by ``--fail-on``, and checked without a call by
``--dry-run``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from support.hostile_registry import HostileServer, hostile_server
from support.inference import InferenceRoutes, ToyModel
from support.registry import build_model, run_cli

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[1] / "schemas" / "diff.schema.json").read_text()
)
TEXTS = "\n".join(
    json.dumps({"text": t})
    for t in ("a good film", "it was fine", "dull and long", "fine, just fine")
)
CARD = b"---\npipeline_tag: text-classification\n---\n# toy\n"


@pytest.fixture
def endpoints() -> Iterator[tuple[InferenceRoutes, str, InferenceRoutes, str]]:
    base, target = InferenceRoutes(ToyModel(1)), InferenceRoutes(ToyModel(2))
    with hostile_server(base) as b, hostile_server(target) as t:
        yield base, _url(b), target, _url(t)


def _url(server: HostileServer) -> str:
    return f"{server.url}/hf/text-classification"


@pytest.fixture
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, Path]:
    store = tmp_path / "store"
    monkeypatch.setenv("HUBSNAP_STORE", str(store))
    monkeypatch.setenv("HUBSNAP_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HUBSNAP_DEBUG", raising=False)
    a = build_model(store, {"README.md": CARD, "config.json": b'{"hidden_size": 4}'})
    b = build_model(store, {"README.md": CARD, "config.json": b'{"hidden_size": 5}'})
    testset = tmp_path / "set.jsonl"
    testset.write_text(TEXTS)
    return a, b, testset


def test_behaviour_joins_the_report_and_the_checks(
    endpoints: tuple[InferenceRoutes, str, InferenceRoutes, str],
    models: tuple[str, str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, base_url, _, target_url = endpoints
    a, b, testset = models
    argv = [
        "diff", a, b, "--testset", str(testset), "--baseline-endpoint", base_url,
        "--target-endpoint", target_url, "--json", "--fail-on", "label_shift_rate>0.25",
        "--fail-on", "config_changed>5",
    ]  # fmt: skip
    run = run_cli(argv, capsys)
    assert run.code == 1, run.err
    report = json.loads(run.out)
    jsonschema.validate(report, SCHEMA)
    assert "behaviour" in report["levels"]
    rows = report["behaviour"]["rows"]
    # revision 2 also calls "fine" positive: inputs 1 and 3 flip.
    assert [r["consistent"] for r in rows] == [True, False, True, False]
    assert report["behaviour"]["label_shift_rate"] == 0.5
    assert report["checks"] == [
        {"expr": "label_shift_rate>0.25", "value": 0.5, "failed": True},
        {"expr": "config_changed>5", "value": 1.0, "failed": False},
    ]
    assert report["config"]["changed"][0]["path"] == "hidden_size"
    assert "1 of 2 checks failed: label_shift_rate>0.25 (0.5)" in run.err
    table = run_cli([*argv[:9], "--fail-on", "label_shift_rate>0.9"], capsys)
    assert table.code == 0, table.err
    assert "baseline labels" in table.out and "it was fine" in table.out
    markdown = run_cli([*argv[:9], "--format", "markdown"], capsys)
    assert markdown.code == 0, markdown.err
    assert "### Behaviour" in markdown.out and "| input | baseline labels |" in markdown.out


def test_dry_run_sends_no_input(
    endpoints: tuple[InferenceRoutes, str, InferenceRoutes, str],
    models: tuple[str, str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    base, base_url, target, target_url = endpoints
    a, b, testset = models
    run = run_cli([
        "diff", a, b, "--testset", str(testset), "--baseline-endpoint", base_url,
        "--target-endpoint", target_url, "--dry-run", "--json",
    ], capsys)  # fmt: skip
    assert run.code == 0, run.err
    assert json.loads(run.out)["behaviour"]["rows"] == []
    assert base.batches == [] and target.batches == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--baseline-endpoint", "http://127.0.0.1:9/x"], "need --testset"),
        (["--testset", "SET"], "needs --baseline-endpoint and --target-endpoint"),
        (["--testset", "SET", "--runner", "onnx"], "unknown runner 'onnx'"),
        (["--testset", "missing.jsonl", "--runner", "transformers"], "missing.jsonl"),
    ],
)
def test_behaviour_usage_errors(
    models: tuple[str, str, Path], capsys: pytest.CaptureFixture[str],
    extra: list[str], message: str,
) -> None:  # fmt: skip
    a, b, testset = models
    argv = ["diff", a, b, *[str(testset) if x == "SET" else x for x in extra]]
    run = run_cli(argv, capsys)
    assert run.code == 2, run.err
    assert message in run.err.splitlines()[0]
