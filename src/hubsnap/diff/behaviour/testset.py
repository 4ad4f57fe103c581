"""Reading ``--testset FILE``: a JSON array or JSON Lines of ``{"text": …, "labels"?: …}``.

The file is the user's, so every fault in it is a :class:`~hubsnap.errors.UsageError` (2)
naming the line. It is read with bounds: a regular file only (a FIFO or ``/dev/zero`` is
refused before a byte is read), at most :data:`MAX_BYTES`, at most :data:`MAX_INPUTS`
inputs, and JSON nested too deeply for the parser is a refusal, not a crash. Each entry is
decoded on its own, so an error names the line where that entry starts.

``labels`` is the expected answer: a list of strings for classification (a single string is
one label), a list of ``[start, end, entity]`` for token classification.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hubsnap.diff.behaviour.model import Label, Span, Task
from hubsnap.errors import UsageError

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


def _read_regular(path: Path, limit: int) -> bytes:
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except FileNotFoundError as e:
        raise UsageError(f"test set {path} not found") from e
    except (OSError, ValueError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else "invalid path"
        raise UsageError(f"cannot read test set {path}: {reason}") from e
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
            raise UsageError(f"cannot read test set {path}: {kind}")
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as e:
        raise UsageError(f"cannot read test set {path}: {e.strerror or 'read failed'}") from e
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise UsageError(f"test set {path} is larger than {limit // (1024 * 1024)} MiB")
    return data


def load_testset(path: Path | str, *, limit: int = MAX_BYTES) -> TestSet:
    """Read and check ``--testset FILE`` (UsageError naming the line for any fault)."""
    path = Path(path)
    return parse_testset(_read_regular(path, limit), source=str(path))


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _SPACE:
        pos += 1
    return pos


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _decode_at(text: str, pos: int, first_line: int = 1) -> tuple[object, int]:
    """The JSON value at ``pos``; ``text`` starts on line ``first_line`` of the file."""
    try:
        return _DECODER.raw_decode(text, pos)
    except json.JSONDecodeError as e:
        raise _Bad(f"line {first_line + e.lineno - 1}: not valid JSON ({e.msg})") from e
    except RecursionError as e:
        raise _Bad(f"line {first_line + _line(text, pos) - 1}: nested too deeply") from e


def _entries(text: str) -> Iterator[tuple[int, object]]:
    """``(line, value)`` for each entry of a JSON array or of JSON Lines."""
    pos = _skip_space(text, 0)
    if pos < len(text) and text[pos] == "[":
        pos = _skip_space(text, pos + 1)
        if pos < len(text) and text[pos] == "]":
            pos += 1
        else:
            while True:
                line = _line(text, pos)
                value, pos = _decode_at(text, pos)
                yield line, value
                pos = _skip_space(text, pos)
                if pos < len(text) and text[pos] == ",":
                    pos = _skip_space(text, pos + 1)
                    continue
                if pos < len(text) and text[pos] == "]":
                    pos += 1
                    break
                raise _Bad(f"line {_line(text, pos)}: expected ',' or ']' in the JSON array")
        pos = _skip_space(text, pos)
        if pos < len(text):
            raise _Bad(f"line {_line(text, pos)}: text after the JSON array")
        return
    for number, raw in enumerate(text.split("\n"), 1):
        if not raw.strip():
            continue
        value, end = _decode_at(raw, 0, number)
        if raw[end:].strip():
            raise _Bad(f"line {number}: more than one JSON value on the line")
        yield number, value


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
        for line, value in _entries(text):
            at = line
            if len(cases) >= MAX_INPUTS:
                raise _Bad(f"more than {MAX_INPUTS} inputs")
            cases.append(_case(value))
    except _Bad as e:
        message = str(e)
        where = "" if message.startswith("line ") else f"line {at}: "
        raise UsageError(f"{source}: {where}{message}") from e
    if not cases:
        raise UsageError(f"{source}: no inputs", hint='give a JSON array of {"text": ...}')
    return TestSet(tuple(cases), source)
