"""Reading --testset: JSON arrays and JSON Lines, labels, and every malformed file → exit 2."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hubsnap.diff.behaviour.model import Span, Task
from hubsnap.diff.behaviour.testset import TestCase, load_testset, parse_testset
from hubsnap.errors import ExitCode, UsageError


def test_json_array_with_labels(tmp_path: Path) -> None:
    path = tmp_path / "set.json"
    path.write_text(
        '[\n  {"text": "good film", "labels": ["POSITIVE"]},\n'
        '  {"text": "Ann met Bob", "labels": [[0, 3, "PER"], [8, 11, "PER"]], "id": 7},\n'
        '  {"text": "plain"},\n  {"text": "one label", "labels": "NEGATIVE"}\n]\n'
    )
    testset = load_testset(path)
    assert testset.cases == (
        TestCase("good film", ("POSITIVE",)),
        TestCase("Ann met Bob", (Span(0, 3, "PER"), Span(8, 11, "PER"))),
        TestCase("plain"),
        TestCase("one label", ("NEGATIVE",)),
    )
    assert testset.labelled and len(testset) == 4
    assert testset.texts[0] == "good film"


def test_jsonl_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text('{"text": "a"}\n\n{"text": "b", "labels": null}\n')
    assert load_testset(path).texts == ["a", "b"]
    assert not load_testset(path).labelled


@pytest.mark.parametrize(
    ("content", "fault"),
    [
        (b'{"text": "a"}\n{"text": 3}\n', 'line 2: "text" must be a non-empty string'),
        (
            b'{"text": "a"}\n{"text": "b"\n',
            "line 2 is not valid JSON: Expecting ',' delimiter (column 13)",
        ),
        (b'[\n{"text": "a"},\n\n{"txt": "b"}\n]', 'line 4: "text" must be'),
        (
            b'[\n{"text": "a"}\n{"text": "b"}]',
            "is not valid JSON: Expecting ',' delimiter: line 3 column 1",
        ),
        (b'[{"text": "a"}] extra', "is not valid JSON: Extra data: line 1 column 17"),
        (b'{"text": "a"} {"text": "b"}\n', "line 1 is not valid JSON: Extra data (column 15)"),
        (b'{"text": "a", "text": "b"}', "line 1 is not valid JSON: duplicate key"),
        (b'[{"text": "a", "labels": [[0, 1e999, "X"]]}]', "number '1e999' is out of range"),
        (b'["a"]', "line 1: expected an object"),
        (b'{"text": "a", "labels": [[0, 5]]}', "line 1: each label must be"),
        (b'{"text": "a", "labels": [[5, 2, "X"]]}', "line 1: each label must be"),
        (b'{"text": "a", "labels": ["X", [0, 1, "Y"]]}', 'line 1: "labels" mixes'),
        (b'{"text": "a", "labels": {"x": 1}}', 'line 1: "labels" must be a list'),
        (b'{"text": "\\ud800"}', "lone surrogate"),
        (b'{"text": "ok"}\n\xff\n', "line 2: not UTF-8"),
        (b"[]", "no inputs"),
        (b"\n\n", "no inputs"),
        (b"[" * 100_000, "nested deeper than 64 levels"),
        (b'{"text": ' + b"[" * 100_000, "line 1 is nested deeper than 64 levels"),
    ],
)
def test_malformed_test_sets_are_usage_errors(content: bytes, fault: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_testset(content, source="set.json")
    message = str(info.value)
    assert message.startswith("set.json")
    assert fault in message, message
    assert "\n" not in message
    assert info.value.exit_code == ExitCode.USAGE


def test_not_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # an open for reading would wait for a writer forever
    with pytest.raises(UsageError, match="not a regular file"):
        load_testset(fifo)
    with pytest.raises(UsageError, match="a directory"):
        load_testset(tmp_path)
    with pytest.raises(UsageError, match="not found"):
        load_testset(tmp_path / "missing.json")
    with pytest.raises(UsageError, match="not a regular file"):
        load_testset("/dev/zero")


def test_size_cap(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    path.write_bytes(b'{"text": "aaaa"}\n' * 100)
    with pytest.raises(UsageError, match="over the 1000 bytes limit"):
        load_testset(path, limit=1000)
    assert len(load_testset(path, limit=2000)) == 100


def test_labels_must_fit_the_task() -> None:
    spans = parse_testset(b'{"text": "Ann", "labels": [[0, 3, "PER"]]}', source="s")
    spans.check_task(Task.TOKEN_CLASSIFICATION)
    with pytest.raises(UsageError, match="input 1: text-classification labels must be strings"):
        spans.check_task(Task.TEXT_CLASSIFICATION)
    names = parse_testset(b'{"text": "good", "labels": ["POSITIVE"]}', source="s")
    names.check_task(Task.TEXT_CLASSIFICATION)
    with pytest.raises(UsageError, match=r"must be \[start, end, entity\] lists"):
        names.check_task(Task.TOKEN_CLASSIFICATION)
    with pytest.raises(UsageError, match="feature-extraction has none"):
        names.check_task(Task.FEATURE_EXTRACTION)
