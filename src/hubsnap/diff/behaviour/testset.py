"""Reading ``--testset FILE``: a JSON array or JSON Lines of ``{"text": …, "labels"?: …}``.

The file is the user's, so every fault in it is a :class:`~hubsnap.errors.UsageError` (2)
naming the line. It is read with the project's bounds: a regular file only
(:func:`~hubsnap.localfile.read_regular_file`: a FIFO or ``/dev/zero`` is refused before a
byte is read), at most :data:`MAX_BYTES`, at most :data:`MAX_INPUTS` inputs, and JSON through
:func:`~hubsnap.documents.load_json` (nesting checked before parsing, no duplicate keys,
finite numbers). A fault in an entry names the line where that entry starts.

``labels`` is the expected answer: a list of strings for classification (a single string is
one label), a list of ``[start, end, entity]`` for token classification.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hubsnap.diff.behaviour.model import Label, Span, Task
from hubsnap.documents import InvalidDocument, load_json
from hubsnap.errors import UsageError
from hubsnap.localfile import read_regular_file

__all__ = ["MAX_BYTES", "MAX_INPUTS", "TestCase", "TestSet", "load_testset", "parse_testset"]

#: The largest test set file read; a test set of texts is far smaller.
MAX_BYTES = 32 * 1024 * 1024
#: The most inputs one comparison runs.
MAX_INPUTS = 100_000

_DECODER = json.JSONDecoder()
_SPACE = " \t\r\n"


class _Bad(Exception):
    """A fault in one entry; turned into a UsageError naming the file and line."""


@dataclass(frozen=True)
class TestCase:
    """One input and, when the test set gives it, the expected labels."""

    __test__ = False  # not a pytest class, despite the name

    text: str
    labels: tuple[Label, ...] | None = None


@dataclass(frozen=True)
class TestSet:
    """The inputs of a behaviour comparison, in file order."""

    __test__ = False

    cases: tuple[TestCase, ...]
    source: str = "test set"

    def __len__(self) -> int:
        return len(self.cases)

    @property
    def texts(self) -> list[str]:
        return [case.text for case in self.cases]

    @property
    def labelled(self) -> bool:
        """Whether any input carries expected labels."""
        return any(case.labels is not None for case in self.cases)

    def check_task(self, task: Task) -> None:
        """Refuse expected labels of the wrong kind for ``task`` (UsageError)."""
        for number, case in enumerate(self.cases, 1):
            if case.labels is None:
                continue
            if task is Task.FEATURE_EXTRACTION:
                raise UsageError(
                    f"{self.source}: input {number} has labels, but {task.value} has none",
                    hint="remove the labels, or pass the model's --task",
                )
            want = Span if task is Task.TOKEN_CLASSIFICATION else str
            if any(not isinstance(label, want) for label in case.labels):
                form = "[start, end, entity] lists" if want is Span else "strings"
                raise UsageError(
                    f"{self.source}: input {number}: {task.value} labels must be {form}"
                )


def load_testset(path: Path | str, *, limit: int = MAX_BYTES) -> TestSet:
    """Read and check ``--testset FILE`` (UsageError naming the line for any fault)."""
    data = read_regular_file(Path(path), limit=limit, what="test set")
    return parse_testset(data, source=str(path))


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _SPACE:
        pos += 1
    return pos


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


# json's "line 1 column 13 (char 12)" within one JSON Lines line: the column is what counts.
_WITHIN_LINE = re.compile(r": line 1 column ([0-9]+) \(char [0-9]+\)$")


def _load(text: str, what: str, *, one_line: bool = False) -> object:
    try:
        return load_json(text, what, max_bytes=MAX_BYTES)
    except InvalidDocument as e:
        message = str(e)
        raise _Bad(_WITHIN_LINE.sub(r" (column \1)", message) if one_line else message) from e


def _array_entries(text: str, source: str) -> Iterator[tuple[int, object]]:
    """``(line, value)`` for each entry of a JSON array (checked whole by load_json first,
    so the scan for where each entry starts meets only well-formed, shallow JSON)."""
    values = _load(text, source)
    if not isinstance(values, list):
        raise _Bad(f"{source} is not a JSON array")
    pos = _skip_space(text, _skip_space(text, 0) + 1)
    for value in values:
        yield _line(text, pos), value
        _, pos = _DECODER.raw_decode(text, pos)
        pos = _skip_space(text, pos)
        pos = _skip_space(text, pos + 1)  # past the "," (or the final "]")


def _entries(text: str, source: str) -> Iterator[tuple[int, object]]:
    """``(line, value)`` for each entry of a JSON array or of JSON Lines."""
    start = _skip_space(text, 0)
    if start < len(text) and text[start] == "[":
        yield from _array_entries(text, source)
        return
    for number, raw in enumerate(text.split("\n"), 1):
        if raw.strip():
            yield number, _load(raw, f"{source}: line {number}", one_line=True)


def _label(value: object) -> Label:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and len(value) == 3:
        start, end, entity = value
        if (
            isinstance(start, int) and isinstance(end, int)
            and not isinstance(start, bool) and not isinstance(end, bool)
            and isinstance(entity, str) and 0 <= start <= end
        ):  # fmt: skip
            return Span(start, end, entity)
    raise _Bad("each label must be a string or [start, end, entity] with 0 <= start <= end")


def _case(value: object) -> TestCase:
    if not isinstance(value, dict):
        raise _Bad(f'expected an object {{"text": ...}}, got {type(value).__name__}')
    text = value.get("text")
    if not isinstance(text, str) or not text.strip():
        raise _Bad('"text" must be a non-empty string')
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise _Bad('"text" holds a lone surrogate') from e
    if "labels" not in value or value["labels"] is None:
        return TestCase(text)
    raw = value["labels"]
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list):
        raise _Bad('"labels" must be a list')
    labels = tuple(_label(item) for item in items)
    if len({type(label) for label in labels}) > 1:
        raise _Bad('"labels" mixes strings and spans')
    return TestCase(text, labels)


def parse_testset(data: bytes, *, source: str = "test set") -> TestSet:
    """The test set in ``data`` (the file's bytes); ``source`` names it in errors."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise UsageError(f"{source}: line {line}: not UTF-8") from e
    cases: list[TestCase] = []
    at = 1
    try:
        for line, value in _entries(text, source):
            at = line
            if len(cases) >= MAX_INPUTS:
                raise _Bad(f"more than {MAX_INPUTS} inputs")
            cases.append(_case(value))
    except _Bad as e:
        message = str(e)
        if message.startswith(source):  # a whole-document fault, already named
            raise UsageError(message) from e
        raise UsageError(f"{source}: line {at}: {message}") from e
    if not cases:
        raise UsageError(f"{source}: no inputs", hint='give a JSON array of {"text": ...}')
    return TestSet(tuple(cases), source)
