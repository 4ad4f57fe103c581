"""Bounded, total readers for the documents hubsnap parses: JSON and YAML.

Every manifest, index, bundle, statement, policy, ``snapshot.yaml``, docker config and model
card goes through here, so each has the same bounds: a byte cap checked before parsing; a
nesting cap checked before anything recurses (JSON by a scan ahead of ``json.loads``, YAML as
the parser's events arrive), so 200,000 ``[`` is a refusal, never a ``RecursionError``;
integers that fit in 64 bits, finite floats, string keys only, no duplicate keys, no lone
surrogates (they cannot be encoded, hence not hashed); and YAML without anchors, aliases,
merge keys or tags beyond JSON's types (dates stay strings). A refusal is an
:class:`InvalidDocument`, a ``ValueError`` that names the document; the caller maps it to its
exit class (2 for a file the user named, 6 for content inside an artifact, 5 for a remote
answer). The files they come from are read by :func:`hubsnap.localfile.read_regular_file`.
This is the one module that imports ``yaml``, and only when a YAML document is read or
written: commands that parse only JSON (``verify`` of a local artifact) do not load it.
"""

from __future__ import annotations

import functools
import json
import math
import re
from array import array
from itertools import accumulate
from types import ModuleType, SimpleNamespace
from typing import Any

from hubsnap.values import shown

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "InvalidDocument",
    "dump_yaml",
    "load_json",
    "load_json_object",
    "load_yaml",
]

#: No JSON document hubsnap reads (manifests, bundles, configs, Hub answers) comes near this.
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
#: Real documents nest a handful of levels; this leaves room and keeps every walk shallow.
DEFAULT_MAX_DEPTH = 64
#: Scalars and collections in one YAML document (a snapshot of 100,000 files has ~1.6 M).
DEFAULT_MAX_YAML_NODES = 4_000_000
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
        if not isinstance(data, bytes) or _ESCAPED_SURROGATE.search(text):
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

_TAG = "tag:yaml.org,2002:"
_TIMESTAMP_TAG = _TAG + "timestamp"
_VALUE_TAG = _TAG + "value"


@functools.cache
def _yaml() -> SimpleNamespace:
    """PyYAML and what is built from it, made on first use (7 ms that JSON readers skip):
    ``module``, the scalar ``resolver`` and ``scalars`` constructor, the event ``loader``
    and the ``dumper``."""
    import yaml  # noqa: PLC0415

    class Resolver(yaml.resolver.Resolver):
        """YAML 1.1's implicit types, less timestamps (dates stay the strings they are written
        as, so a card's ``date: 2023-02-30`` is no error) and ``=`` (YAML's "value" tag, which
        the safe loader cannot build)."""

    Resolver.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag not in (_TIMESTAMP_TAG, _VALUE_TAG)]
        for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
    }

    class Dumper(yaml.SafeDumper):
        """Never writes anchors: a document hubsnap writes is one its own reader accepts."""

        def ignore_aliases(self, data: Any) -> bool:
            return True

    return SimpleNamespace(
        module=yaml,
        resolver=Resolver(),
        scalars=yaml.constructor.SafeConstructor(),
        # libyaml's event parser when PyYAML was built with it (several times faster).
        loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader),
        dumper=Dumper,
    )


def _line(event: Any) -> str:
    mark = getattr(event, "start_mark", None)
    return f" (line {mark.line + 1})" if mark is not None else ""


def _scalar(event: Any) -> Any:
    """The value of a scalar event: str, bool, None, a 64-bit int or a finite float."""
    text = event.value
    tag = event.tag
    lib = _yaml()
    if tag in (None, "!"):
        tag = lib.resolver.resolve(lib.module.ScalarNode, text, event.implicit)
    node = lib.module.ScalarNode(tag, text)
    if tag == _TAG + "str" or tag == _TIMESTAMP_TAG:
        return text
    if tag == _TAG + "null":
        return None
    if tag == _TAG + "bool":
        return lib.scalars.construct_yaml_bool(node)
    if tag in (_TAG + "int", _TAG + "float"):
        if len(text) > _MAX_NUMBER_TEXT:
            raise _Refused(f"a number is too long{_line(event)}")
        if tag == _TAG + "int":
            value = int(lib.scalars.construct_yaml_int(node))
            if not _MIN_INT <= value <= _MAX_INT:
                raise _Refused(f"an integer is out of the 64-bit range{_line(event)}")
            return value
        number = float(lib.scalars.construct_yaml_float(node))
        if not math.isfinite(number):
            raise _Refused(f"numbers must be finite{_line(event)}")
        return number
    if tag == _TAG + "merge":
        raise _Refused(f"merge keys are not allowed{_line(event)}")
    raise _Refused(f"tag {shown(str(tag))} is not allowed{_line(event)}")


class _Builder:
    """Builds one document from parser events, without recursion and without a node tree."""

    def __init__(self, max_depth: int, max_nodes: int) -> None:
        self.max_depth, self.max_nodes = max_depth, max_nodes
        self.stack: list[tuple[dict[str, Any] | list[Any], list[str | None]]] = []
        self.nodes = 0
        self.documents = 0
        self.result: Any = None
        self.yaml: ModuleType = _yaml().module

    def add(self, value: Any, event: Any) -> None:
        if not self.stack:
            self.result = value
            return
        container, pending = self.stack[-1]
        if isinstance(container, list):
            container.append(value)
        elif pending[0] is None:  # a key
            if not isinstance(value, str):
                raise _Refused(f"mapping keys must be strings{_line(event)}")
            if value in container:
                raise _Refused(f"duplicate key {shown(value)}{_line(event)}")
            pending[0] = value
        else:
            container[pending[0]] = value
            pending[0] = None

    def event(self, event: Any) -> None:
        yaml = self.yaml
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(f"aliases are not allowed{_line(event)}")
        if isinstance(event, yaml.NodeEvent):
            if event.anchor is not None:
                raise _Refused(f"anchors are not allowed{_line(event)}")
            self.nodes += 1
            if self.nodes > self.max_nodes:
                raise _Refused(f"it has more than {self.max_nodes} nodes")
        if isinstance(event, yaml.ScalarEvent):
            self.add(_scalar(event), event)
        elif isinstance(event, yaml.CollectionStartEvent):
            if event.tag not in (None, "!", _TAG + "map", _TAG + "seq"):
                raise _Refused(f"tag {shown(str(event.tag))} is not allowed{_line(event)}")
            if self.stack and isinstance(self.stack[-1][0], dict) and self.stack[-1][1][0] is None:
                raise _Refused(f"mapping keys must be strings{_line(event)}")
            if len(self.stack) >= self.max_depth:
                raise _Refused(f"it is nested deeper than {self.max_depth} levels")
            fresh: dict[str, Any] | list[Any] = (
                {} if isinstance(event, yaml.MappingStartEvent) else []
            )
            self.add(fresh, event)
            self.stack.append((fresh, [None]))
        elif isinstance(event, yaml.CollectionEndEvent):
            self.stack.pop()
        elif isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise _Refused(f"it holds more than one document{_line(event)}")


def load_yaml(
    data: bytes | str,
    what: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_nodes: int = DEFAULT_MAX_YAML_NODES,
) -> Any:
    """Parse one UTF-8 YAML document into JSON types; :class:`InvalidDocument` otherwise.

    The document is built straight from the parser's events, so nesting, node counts,
    anchors and tags are refused as they arrive, before anything large is built.
    """
    text = _text(data, what, "YAML", max_bytes)
    builder = _Builder(max_depth, max_nodes)
    lib = _yaml()
    yaml: ModuleType = lib.module
    try:
        for event in yaml.parse(text, Loader=lib.loader):
            builder.event(event)
        _check_plain(builder.result, yaml_types=True)
    except yaml.MarkedYAMLError as e:
        where = f" at line {e.problem_mark.line + 1}" if e.problem_mark is not None else ""
        said = [part for part in (e.context, e.problem) if part]
        problem = _one_line(", ".join(said) or "malformed")
        raise InvalidDocument(f"{what} is not valid YAML: {problem}{where}") from e
    except _Refused as e:
        raise InvalidDocument(f"{what} is not valid YAML: {e}") from e
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, KeyError) as e:
        raise InvalidDocument(f"{what} is not valid YAML: {_one_line(str(e))[:200]}") from e
    return builder.result


def dump_yaml(value: Any) -> bytes:
    """Block-style UTF-8 YAML, keys in the order given."""
    lib = _yaml()
    text: str = lib.module.dump(
        value, Dumper=lib.dumper, sort_keys=False, allow_unicode=True, default_flow_style=False
    )
    return text.encode("utf-8")
