"""Bounded, total readers for the documents hubsnap parses: JSON, YAML and the files they sit in.

Every manifest, index, bundle, statement, policy, ``snapshot.yaml``, docker config and model
card goes through here, so each has the same bounds: a byte cap checked before parsing, a
nesting cap checked before any recursive parser runs (200,000 ``[`` is refused in a scan,
never met as a ``RecursionError``), integers that fit in 64 bits, finite floats, string keys
only, no duplicate keys, no lone surrogates (they cannot be encoded, hence not hashed), and
YAML without anchors, aliases, merge keys or tags beyond JSON's types (dates stay strings).
A refusal is an :class:`InvalidDocument`, a ``ValueError`` that names the document; the caller
maps it to its exit class (2 for a file the user named, 6 for content inside an artifact).
:func:`read_regular_file` reads a local file the user named: anything but a regular file
(a FIFO, a device, a directory) is refused before a byte is read, and no more than the cap
plus one byte is ever read. This is the one module that imports ``yaml``.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from array import array
from itertools import accumulate
from pathlib import Path
from typing import Any

import yaml

from hubsnap.errors import HubsnapError, UsageError
from hubsnap.values import shown

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "InvalidDocument",
    "dump_yaml",
    "load_json",
    "load_json_object",
    "load_yaml",
    "read_regular_file",
]

#: No JSON document hubsnap reads (manifests, bundles, configs, Hub answers) comes near this.
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
#: Real documents nest a handful of levels; this leaves room and keeps every walk shallow.
DEFAULT_MAX_DEPTH = 64
#: YAML nodes cost the parser ~1 KiB each while composing: this bounds its memory.
DEFAULT_MAX_YAML_NODES = 1_000_000
_MIN_INT = -(2**63)
_MAX_INT = 2**64 - 1
_MAX_NUMBER_TEXT = 80

_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_BRACKET_STEP = bytes.maketrans(b"[]{}", b"\x01\xff\x01\xff")
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


class InvalidDocument(ValueError):
    """A document is malformed or over a bound; the message names it and says why."""


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _size(limit: int) -> str:
    if limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MiB"
    if limit % 1024 == 0:
        return f"{limit // 1024} KiB"
    return f"{limit} bytes"


def _text(data: bytes | str, what: str, kind: str, max_bytes: int) -> str:
    if len(data) > max_bytes:
        raise InvalidDocument(f"{what} is {len(data)} bytes, over the {_size(max_bytes)} limit")
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidDocument(
            f"{what} is not valid {kind}: not UTF-8 (byte {e.start} is {data[e.start]:#04x})"
        ) from e


class _Refused(Exception):
    """Raised inside a parser hook; turned into :class:`InvalidDocument` naming the document."""


def _check_plain(value: Any, *, yaml_types: bool) -> None:
    """Walk ``value`` without recursion: JSON types only, string keys, no lone surrogates."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as e:
                raise _Refused("a string holds a lone surrogate") from e
        elif isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    raise _Refused(f"mapping key {shown(str(key))} is not a string")
                stack.append(key)
                stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise _Refused("numbers must be finite")
        elif item is None or isinstance(item, bool | int):
            continue
        else:
            kind = "YAML" if yaml_types else "JSON"
            raise _Refused(f"a value of type {type(item).__name__} is not a {kind} value")


# -- JSON -----------------------------------------------------------------------------------


def _json_depth(text: str) -> int:
    """The deepest bracket nesting outside strings, found without recursing."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    if not brackets:
        return 0
    steps = array("b", brackets.encode("ascii").translate(_BRACKET_STEP))
    return max(accumulate(steps))


def _json_int(text: str) -> int:
    if len(text) > 21:
        raise _Refused("an integer is out of the 64-bit range")
    value = int(text)
    if not _MIN_INT <= value <= _MAX_INT:
        raise _Refused("an integer is out of the 64-bit range")
    return value


def _json_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"number {shown(text, 20)} is out of range")
    return value


def _json_constant(name: str) -> float:
    raise _Refused(f"{name} is not a JSON number")


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(f"duplicate key {shown(key)}")
            seen.add(key)
    return value


def load_json(
    data: bytes | str,
    what: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Any:
    """Parse a UTF-8 JSON document within the bounds; :class:`InvalidDocument` otherwise."""
    text = _text(data, what, "JSON", max_bytes)
    if _json_depth(text) > max_depth:
        raise InvalidDocument(f"{what} is nested deeper than {max_depth} levels")
    try:
        value = json.loads(
            text,
            object_pairs_hook=_json_object,
            parse_int=_json_int,
            parse_float=_json_float,
            parse_constant=_json_constant,
        )
        if _ESCAPED_SURROGATE.search(text):
            _check_plain(value, yaml_types=False)
    except json.JSONDecodeError as e:
        raise InvalidDocument(f"{what} is not valid JSON: {e}") from e
    except _Refused as e:
        raise InvalidDocument(f"{what} is not valid JSON: {e}") from e
    except RecursionError as e:  # only when called from an already deep stack
        raise InvalidDocument(f"{what} is nested too deeply") from e
    return value


def load_json_object(
    data: bytes | str,
    what: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> dict[str, Any]:
    """:func:`load_json` for a document that must be an object."""
    value = load_json(data, what, max_bytes=max_bytes, max_depth=max_depth)
    if not isinstance(value, dict):
        raise InvalidDocument(f"{what} is not a JSON object")
    return value


# -- YAML -----------------------------------------------------------------------------------

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_VALUE_TAG = "tag:yaml.org,2002:value"
_MERGE_TAG = "tag:yaml.org,2002:merge"


def _at(item: Any) -> str:
    mark = getattr(item, "start_mark", None)
    return f" (line {mark.line + 1})" if mark is not None else ""


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, limited to JSON's types, without anchors and within bounds.

    Composing is the one recursive step of PyYAML; it is counted here, so nesting and node
    counts are refused as the events arrive, before the document is built.
    """

    max_depth = DEFAULT_MAX_DEPTH
    max_nodes = DEFAULT_MAX_YAML_NODES

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(f"aliases are not allowed{_at(event)}")
        if getattr(event, "anchor", None) is not None:
            raise _Refused(f"anchors are not allowed{_at(event)}")
        self._nodes += 1
        if self._nodes > self.max_nodes:
            raise _Refused(f"it has more than {self.max_nodes} nodes")
        collection = isinstance(event, yaml.CollectionStartEvent)
        if collection:
            self._depth += 1
            if self._depth > self.max_depth:
                raise _Refused(f"it is nested deeper than {self.max_depth} levels")
        try:
            return super().compose_node(parent, index)
        finally:
            if collection:
                self._depth -= 1

    def flatten_mapping(self, node: Any) -> None:
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                raise _Refused(f"merge keys are not allowed{_at(key_node)}")

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, yaml.MappingNode):
            raise _Refused(f"expected a mapping{_at(node)}")
        self.flatten_mapping(node)
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str):
                raise _Refused(f"mapping keys must be strings{_at(key_node)}")
            if key in mapping:
                raise _Refused(f"duplicate key {shown(key)}{_at(key_node)}")
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping

    def construct_bounded_int(self, node: Any) -> int:
        text = self.construct_scalar(node)
        if len(text) > _MAX_NUMBER_TEXT:
            raise _Refused(f"an integer is too long{_at(node)}")
        value = int(self.construct_yaml_int(node))
        if not _MIN_INT <= value <= _MAX_INT:
            raise _Refused(f"an integer is out of the 64-bit range{_at(node)}")
        return value

    def construct_bounded_float(self, node: Any) -> float:
        text = self.construct_scalar(node)
        if len(text) > _MAX_NUMBER_TEXT:
            raise _Refused(f"a number is too long{_at(node)}")
        value = float(self.construct_yaml_float(node))
        if not math.isfinite(value):
            raise _Refused(f"numbers must be finite{_at(node)}")
        return value

    def construct_timestamp_text(self, node: Any) -> str:
        return str(self.construct_scalar(node))

    def construct_refused(self, node: Any) -> Any:
        raise _Refused(f"tag {shown(str(node.tag))} is not allowed{_at(node)}")


# Dates stay the strings they are written as (a card's `date: 2023-02-30` is no error), and
# `=` is a plain string rather than YAML 1.1's "value" tag, which the safe loader cannot build.
_BoundedLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_TIMESTAMP_TAG, _VALUE_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_BoundedLoader.add_constructor("tag:yaml.org,2002:int", _BoundedLoader.construct_bounded_int)
_BoundedLoader.add_constructor("tag:yaml.org,2002:float", _BoundedLoader.construct_bounded_float)
_BoundedLoader.add_constructor(_TIMESTAMP_TAG, _BoundedLoader.construct_timestamp_text)
for _tag in ("binary", "set", "omap", "pairs", "value"):
    _BoundedLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _BoundedLoader.construct_refused)


def load_yaml(
    data: bytes | str,
    what: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_nodes: int = DEFAULT_MAX_YAML_NODES,
) -> Any:
    """Parse one UTF-8 YAML document into JSON types; :class:`InvalidDocument` otherwise."""
    text = _text(data, what, "YAML", max_bytes)
    loader: _BoundedLoader | None = None
    try:
        loader = _BoundedLoader(text)
        loader.max_depth, loader.max_nodes = max_depth, max_nodes
        value = loader.get_single_data()
        _check_plain(value, yaml_types=True)
    except yaml.MarkedYAMLError as e:
        where = f" at line {e.problem_mark.line + 1}" if e.problem_mark is not None else ""
        said = [part for part in (e.context, e.problem) if part]
        problem = _one_line(", ".join(said) or "malformed")
        raise InvalidDocument(f"{what} is not valid YAML: {problem}{where}") from e
    except _Refused as e:
        raise InvalidDocument(f"{what} is not valid YAML: {e}") from e
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as e:
        raise InvalidDocument(f"{what} is not valid YAML: {_one_line(str(e))[:200]}") from e
    except RecursionError as e:
        raise InvalidDocument(f"{what} is nested too deeply") from e
    finally:
        if loader is not None:
            loader.dispose()
    return value


class _Dumper(yaml.SafeDumper):
    """Never writes anchors: a document hubsnap writes is one its own reader accepts."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_yaml(value: Any) -> bytes:
    """Block-style UTF-8 YAML, keys in the order given."""
    text = yaml.dump(
        value, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False
    )
    return text.encode("utf-8")


# -- local files ----------------------------------------------------------------------------


def read_regular_file(
    path: Path,
    *,
    limit: int,
    what: str,
    error: type[HubsnapError] = UsageError,
    not_found: type[HubsnapError] | None = None,
) -> bytes:
    """Read a regular file of at most ``limit`` bytes, refusing anything else with ``error``.

    The file is opened without blocking (a FIFO with no writer would hang a plain open) and
    checked with ``fstat`` on the open descriptor, so what is read is what was checked.
    A missing file raises ``not_found`` (default: ``error``).
    """
    name = shown(str(path), 200) if not str(path).isprintable() else str(path)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except FileNotFoundError as e:
        raise (not_found or error)(f"{what} {name} not found") from e
    except (OSError, ValueError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else "invalid path"
        raise error(f"cannot read {what} {name}: {reason}") from e
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
            raise error(f"cannot read {what} {name}: {kind}")
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError as e:
        raise error(f"cannot read {what} {name}: {e.strerror or 'read failed'}") from e
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise error(f"{what} {name} is over the {_size(limit)} limit")
    return data
