"""The strict safetensors reader, cross-checked with the reference implementation (the
``safetensors`` package): what it refuses we refuse, plus what it wrongly accepts."""

from __future__ import annotations

import json
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors import deserialize
from safetensors.numpy import save, save_file

from hubsnap.diff.safetensors import (
    check_index,
    parse_header,
    parse_index,
    read_header,
)
from hubsnap.errors import IntegrityError


def _file(header: str | bytes, data: bytes = b"") -> bytes:
    raw = header.encode() if isinstance(header, str) else header
    return struct.pack("<Q", len(raw)) + raw + data


def _u8(name: str, start: int, end: int, shape: list[int] | None = None) -> dict[str, object]:
    return {name: {"dtype": "U8", "shape": shape or [end - start], "data_offsets": [start, end]}}


def _reference_accepts(blob: bytes) -> bool:
    try:
        deserialize(blob)
    except Exception:  # the reference raises its own SafetensorError and others
        return False
    return True


def _ours(blob: bytes) -> str | None:
    """``None`` when we accept ``blob``, else our one-line message."""
    try:
        parse_header(blob, len(blob), "model.safetensors")
    except IntegrityError as e:
        return e.message
    return None


def test_valid_files_read_as_the_reference_reads_them(tmp_path: Path) -> None:
    tensors = {
        "a.weight": np.arange(12, dtype=np.float32).reshape(3, 4),
        "b.bias": np.arange(5, dtype=np.float16),
        "c.ids": np.arange(7, dtype=np.int64),
        "d.mask": np.array([True, False]),
        "e.scalar": np.array(3.0, dtype=np.float64),
        "f.empty": np.zeros((0, 3), dtype=np.int8),
    }
    path = tmp_path / "model.safetensors"
    save_file(tensors, str(path), metadata={"format": "np", "note": "x"})
    header = read_header(path, "model.safetensors")
    assert header.metadata == {"format": "np", "note": "x"}
    reference = dict(deserialize(path.read_bytes()))
    assert set(header.tensors) == set(reference) == set(tensors)
    for name, info in header.tensors.items():
        assert list(info.shape) == list(reference[name]["shape"])
        assert info.nbytes == len(reference[name]["data"])
        data = path.read_bytes()[header.data_offset + info.start : header.data_offset + info.end]
        assert data == bytes(reference[name]["data"])


def _malformed() -> list[tuple[str, bytes, str]]:
    ok = json.dumps(_u8("a", 0, 2))
    return [
        ("too short", b"\x01\x00\x00", "too short"),
        ("header over 100 MB", struct.pack("<Q", 100_000_001) + b"{}", "over the 100 MB"),
        ("header past the end", struct.pack("<Q", 50) + b"{}", "past the end"),
        ("not UTF-8", _file(b'{"\xff":1}'), "not UTF-8"),
        ("bad JSON", _file('{"a":'), "invalid JSON"),
        ("not an object", _file("[]"), "does not start"),
        ("overlap", _file(json.dumps(_u8("a", 0, 2) | _u8("b", 1, 2)), b"\0\0"), "overlaps"),
        ("hole", _file(json.dumps(_u8("a", 1, 2)), b"\0\0"), "hole"),
        ("out of range", _file(ok, b"\0"), "past the"),
        ("end before start", _file(json.dumps(_u8("a", 2, 1, [0])), b"\0\0"), "before it starts"),
        (
            "span is not shape x dtype",
            _file(
                json.dumps({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}), b"0000"
            ),
            "needs 8",
        ),
        ("trailing bytes", _file(ok, b"\0\0\0"), "trailing bytes"),
        (
            "unknown dtype",
            _file(json.dumps({"a": {"dtype": "Q8", "shape": [1], "data_offsets": [0, 1]}}), b"0"),
            "unknown dtype",
        ),
        ("metadata value not a string", _file('{"__metadata__":{"a":1}}'), "strings to strings"),
        ("metadata a list", _file('{"__metadata__":[]}'), "strings to strings"),
        (
            "shape overflows",
            _file(json.dumps({"a": {"dtype": "U16", "shape": [2**63], "data_offsets": [0, 0]}})),
            "overflows",
        ),
        (
            "negative dim",
            _file('{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}', b"0"),
            "shape must be",
        ),
        (
            "float offset",
            _file('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1.0]}}', b"0"),
            "data_offsets",
        ),
        (
            "sub-byte dtype off a byte boundary",
            _file(json.dumps({"a": {"dtype": "F4", "shape": [1], "data_offsets": [0, 1]}}), b"0"),
            "whole bytes",
        ),
        ("NUL padding", _file(b"{}\x00"), "other than spaces"),
        (
            "lone surrogate",
            _file('{"\\ud800":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', b"0"),
            "surrogate",
        ),
    ]


@pytest.mark.parametrize(
    ("blob", "fault"), [(b, f) for _, b, f in _malformed()], ids=[n for n, _, _ in _malformed()]
)
def test_what_the_reference_refuses_is_refused(blob: bytes, fault: str) -> None:
    assert not _reference_accepts(blob)
    message = _ours(blob)
    assert message is not None
    assert message.startswith("malformed safetensors file model.safetensors: ")
    assert fault in message


@pytest.mark.parametrize(
    ("blob", "fault"),
    [
        (
            _file(
                '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
                '"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}',
                b"\0\0",
            ),
            "key 'a' appears twice",
        ),
        (_file('{"__metadata__":{"k":"1","k":"2"}}'), "appears twice"),
        (_file(" {}"), "does not start with '{'"),
        (_file("{}\t"), "other than spaces"),
        (_file("{}\n  "), "other than spaces"),
    ],
    ids=["duplicate tensor", "duplicate metadata key", "leading space", "tab", "newline"],
)
def test_what_the_reference_wrongly_accepts_is_refused(blob: bytes, fault: str) -> None:
    assert _reference_accepts(blob)
    message = _ours(blob)
    assert message is not None and fault in message


def test_space_padding_and_empty_headers_are_accepted() -> None:
    for blob in (_file("{}"), _file("{}      "), _file('{"__metadata__":null}')):
        assert _reference_accepts(blob)
        assert _ours(blob) is None


def test_a_lying_header_length_costs_no_memory(tmp_path: Path) -> None:
    path = tmp_path / "lie.safetensors"
    path.write_bytes(struct.pack("<Q", 99_000_000) + b"{}")
    tracemalloc.start()
    with pytest.raises(IntegrityError, match="past the end of the file"):
        read_header(path, "lie.safetensors")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1_000_000


def test_read_header_reads_only_the_header(tmp_path: Path) -> None:
    blob = save({"w": np.ones((256, 256), dtype=np.float32)})
    path = tmp_path / "m.safetensors"
    path.write_bytes(blob)
    header = read_header(path)
    assert header.file_size == len(blob)
    prefix = blob[: header.data_offset]
    again = parse_header(prefix, len(blob), "m.safetensors")
    assert again.tensors == header.tensors
    with pytest.raises(IntegrityError, match="only 8 of the header"):
        parse_header(blob[:8], len(blob), "m.safetensors")


# -- hypothesis ---------------------------------------------------------------------------------

_VALID = save(
    {
        "a": np.arange(6, dtype=np.float32).reshape(2, 3),
        "b": np.arange(3, dtype=np.int16),
    },
    metadata={"k": "v"},
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.integers(0, len(_VALID) - 1), st.integers(0, 255)), max_size=4),
    st.integers(0, len(_VALID)),
)
def test_mutated_files_raise_only_integrity_errors(flips: list[tuple[int, int]], cut: int) -> None:
    blob = bytearray(_VALID)
    for position, value in flips:
        blob[position] = value
    data = bytes(blob[:cut] if cut else blob)
    message = _ours(data)
    if message is None:
        # Never accept what the reference refuses.
        assert _reference_accepts(data)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 2**65) | st.floats() | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
_tensor_specs = st.fixed_dictionaries(
    {
        "dtype": st.sampled_from(["F32", "U8", "BF16", "F4", "F6_E2M3", "C64", "x"]),
        "shape": st.lists(st.integers(0, 5), max_size=3) | _json_values,
        "data_offsets": st.lists(st.integers(0, 40), min_size=2, max_size=2) | _json_values,
    }
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(st.text(max_size=3), _tensor_specs | _json_values, max_size=4),
    st.binary(max_size=48),
    st.sampled_from(["", " ", "   ", "\n", "\t"]),
)
def test_random_headers_raise_only_integrity_errors(
    header: dict[str, object], data: bytes, pad: str
) -> None:
    blob = _file(json.dumps(header) + pad, data)
    message = _ours(blob)
    if message is None:
        assert _reference_accepts(blob)


# -- index files --------------------------------------------------------------------------------


def _shards(tmp_path: Path) -> dict[str, object]:
    one = save({"a": np.zeros(4, dtype=np.float32)})
    two = save({"b": np.zeros(2, dtype=np.float32), "c": np.zeros(1, dtype=np.int8)})
    headers = {}
    for name, blob in (("m-1.safetensors", one), ("m-2.safetensors", two)):
        (tmp_path / name).write_bytes(blob)
        headers[name] = read_header(tmp_path / name, name)
    return headers


def _index(weight_map: str, total: int | None = 25) -> bytes:
    meta = "{}" if total is None else f'{{"total_size": {total}}}'
    return f'{{"metadata": {meta}, "weight_map": {weight_map}}}'.encode()


def test_a_true_index_is_accepted(tmp_path: Path) -> None:
    headers = _shards(tmp_path)
    data = _index('{"a": "m-1.safetensors", "b": "m-2.safetensors", "c": "m-2.safetensors"}')
    index = parse_index(data, "m.safetensors.index.json", frozenset(headers))
    check_index(index, "m.safetensors.index.json", headers)  # type: ignore[arg-type]
    assert index.shards == ("m-1.safetensors", "m-2.safetensors")


@pytest.mark.parametrize(
    ("weight_map", "total", "fault"),
    [
        ('{"a": "m-1.safetensors", "a": "m-2.safetensors"}', 25, "key 'a' appears twice"),
        ('{"a": "m-1.safetensors", "b": "m-3.safetensors"}', 25, "m-3.safetensors is missing"),
        (
            '{"a": "m-1.safetensors", "b": "m-2.safetensors", "c": "m-2.safetensors"}',
            26,
            "total_size 26 is not the 25 bytes",
        ),
        ('{"a": "m-1.safetensors", "b": "m-2.safetensors"}', None, "which the index does not"),
        (
            '{"a": "m-2.safetensors", "b": "m-2.safetensors", "c": "m-2.safetensors"}',
            None,
            "tensor 'a' is not in m-2.safetensors",
        ),
        ('{"a": "../m-1.safetensors"}', None, "not a plain relative path"),
    ],
    ids=["named twice", "missing shard", "total lies", "unnamed tensor", "wrong shard", "escape"],
)
def test_bad_indexes_are_refused(
    tmp_path: Path, weight_map: str, total: int | None, fault: str
) -> None:
    headers = _shards(tmp_path)
    with pytest.raises(IntegrityError) as info:
        index = parse_index(
            _index(weight_map, total), "m.safetensors.index.json", frozenset(headers)
        )
        check_index(index, "m.safetensors.index.json", headers)  # type: ignore[arg-type]
    assert info.value.message.startswith("malformed safetensors index m.safetensors.index.json: ")
    assert fault in info.value.message
