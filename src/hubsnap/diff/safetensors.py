"""A strict safetensors reader: headers from bytes or from a file, and sharded-index checks.

It refuses everything the reference implementation refuses (a header length beyond the file
or over 100 MB, invalid UTF-8 or JSON, offsets that overlap, leave holes or run past the data,
a span that is not shape × dtype, trailing bytes, an unknown dtype, ``__metadata__`` values
that are not strings) and what the reference wrongly accepts: a tensor (or any key) named
twice, where the reference silently keeps the last; a header that does not start with ``{``;
padding other than spaces; lone surrogates. Index files (``*.safetensors.index.json``) are
checked against the shards they name: a tensor named twice, a shard missing from the
artifact, a tensor missing from its shard, a ``total_size`` that is not the sum of the
tensors' bytes. Every refusal is an :class:`~hubsnap.errors.IntegrityError` naming the file
and the fault; memory stays bounded by the real header, never by what a header claims.

Headers parse from bytes (:func:`parse_header`, which needs only the first ``8 + N`` bytes and
the file's size, so a registry ``Range`` read can feed it) or from a file (:func:`read_header`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubsnap.errors import IntegrityError

__all__ = [
    "DTYPE_BITS",
    "MAX_HEADER_BYTES",
    "SafetensorsHeader",
    "ShardIndex",
    "TensorInfo",
    "header_length",
    "parse_header",
    "parse_index",
    "read_header",
]

MAX_HEADER_BYTES = 100_000_000
MAX_INDEX_BYTES = 64 * 1024 * 1024
_U64 = 2**64

#: Element size in bits of every dtype the safetensors format defines.
DTYPE_BITS: Mapping[str, int] = {
    "BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8, "F8_E5M2": 8,
    "F8_E4M3": 8, "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "I16": 16, "U16": 16,
    "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "C64": 64, "F64": 64, "I64": 64,
    "U64": 64,
}  # fmt: skip

_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of a header; ``start``/``end`` are offsets into the data section."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class SafetensorsHeader:
    """A validated header: tensors by name, ``__metadata__`` (empty when absent), and where
    the data section begins in the file (``8 + N``)."""

    tensors: Mapping[str, TensorInfo]
    metadata: Mapping[str, str]
    data_offset: int
    file_size: int


class _Fault(Exception):
    """A fault found inside the header; becomes an IntegrityError naming the file."""


def _refuse(name: str, fault: str) -> IntegrityError:
    return IntegrityError(f"malformed safetensors file {name}: {fault}")


def header_length(prefix: bytes, file_size: int, name: str) -> int:
    """``N`` from a file's first 8 bytes, checked against the file size and the 100 MB cap
    before a byte of the header is read."""
    if file_size < 8 or len(prefix) < 8:
        raise _refuse(name, f"{file_size} bytes is too short for a header length")
    length = int.from_bytes(prefix[:8], "little")
    if length > MAX_HEADER_BYTES:
        raise _refuse(name, f"header length {length} is over the 100 MB limit")
    if 8 + length > file_size:
        raise _refuse(name, f"header length {length} runs past the end of the file")
    return length


def _check_text(value: str) -> None:
    # serde_json refuses a lone surrogate escape; Python's json module lets it through.
    if _LONE_SURROGATE.search(value):
        raise _Fault(f"string {value[:40]!a} holds a lone surrogate")


def _check_strings(value: object) -> None:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, list):
            pending.extend(item)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Fault(f"key {key[:80]!r} appears twice")
        _check_text(key)
        _check_strings(value)
        out[key] = value
    return out


def _reject_constant(token: str) -> Any:
    raise _Fault(f"{token} is not JSON")


def _load_json(text: str, *, padded: bool = False) -> Any:
    """Parse ``text``; with ``padded`` it may be followed by spaces, and nothing else."""
    decoder = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    try:
        if not padded:
            return decoder.decode(text)
        value, end = decoder.raw_decode(text)
        if text[end:].strip(" "):
            raise _Fault("header is padded with something other than spaces")
        return value
    except RecursionError as e:
        raise _Fault("header nests too deeply") from e
    except ValueError as e:
        if isinstance(e, json.JSONDecodeError):
            raise _Fault(f"invalid JSON at offset {e.pos}: {e.msg}") from e
        raise _Fault(f"invalid JSON ({e})") from e


def _natural(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < _U64


def _tensor(name: str, spec: object) -> TensorInfo:
    if not isinstance(spec, dict):
        raise _Fault(f"tensor {name!r} is not an object")
    dtype, shape, offsets = spec.get("dtype"), spec.get("shape"), spec.get("data_offsets")
    if not isinstance(dtype, str):
        raise _Fault(f"tensor {name!r} has no dtype string")
    if dtype not in DTYPE_BITS:
        raise _Fault(f"tensor {name!r} has unknown dtype {dtype[:40]!r}")
    if not isinstance(shape, list) or not all(_natural(d) for d in shape):
        raise _Fault(f"tensor {name!r}: shape must be a list of non-negative integers")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_natural(o) for o in offsets):
        raise _Fault(f"tensor {name!r}: data_offsets must be two non-negative integers")
    return TensorInfo(name, dtype, tuple(shape), offsets[0], offsets[1])


def _span_bytes(info: TensorInfo) -> int:
    count = 1
    for dim in info.shape:
        count *= dim
        if count >= _U64:
            raise _Fault(f"tensor {info.name!r}: shape {list(info.shape)} overflows")
    bits = count * DTYPE_BITS[info.dtype]
    if bits >= _U64:
        raise _Fault(f"tensor {info.name!r}: shape {list(info.shape)} overflows")
    if bits % 8:
        raise _Fault(f"tensor {info.name!r}: {bits} bits of {info.dtype} do not fill whole bytes")
    return bits // 8


def _validate(tensors: dict[str, TensorInfo], data_size: int) -> None:
    position = 0
    for info in sorted(tensors.values(), key=lambda t: (t.start, t.end)):
        if info.end < info.start:
            raise _Fault(f"tensor {info.name!r} ends before it starts")
        if info.start < position:
            raise _Fault(f"tensor {info.name!r} overlaps the tensor before it")
        if info.start > position:
            raise _Fault(f"hole of {info.start - position} bytes before tensor {info.name!r}")
        expected = _span_bytes(info)
        if info.nbytes != expected:
            raise _Fault(
                f"tensor {info.name!r} spans {info.nbytes} bytes, but {info.dtype} "
                f"{list(info.shape)} needs {expected}"
            )
        position = info.end
    if position > data_size:
        raise _Fault(f"tensor data ends at {position}, past the {data_size} bytes of data")
    if position < data_size:
        raise _Fault(f"{data_size - position} trailing bytes after the last tensor")


def parse_header(data: bytes, file_size: int, name: str) -> SafetensorsHeader:
    """Parse and validate a header from the file's first bytes (at least ``8 + N`` of them).

    ``file_size`` is the whole file's size: the tensors must cover the data section exactly.
    """
    length = header_length(data, file_size, name)
    if len(data) < 8 + length:
        raise _refuse(name, f"only {len(data)} of the header's {8 + length} bytes were given")
    raw = bytes(data[8 : 8 + length])
    try:
        if not raw.startswith(b"{"):
            raise _Fault("header does not start with '{'")
        document = _load_json(raw.decode("utf-8"), padded=True)
        if not isinstance(document, dict):
            raise _Fault("header is not a JSON object")
        metadata = document.pop("__metadata__", None)
        if metadata is None:
            metadata = {}
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise _Fault("__metadata__ must map strings to strings")
        tensors = {key: _tensor(key, spec) for key, spec in document.items()}
        _validate(tensors, file_size - 8 - length)
    except UnicodeDecodeError as e:
        raise _refuse(name, f"header is not UTF-8 (byte {e.start})") from e
    except _Fault as e:
        raise _refuse(name, str(e)) from e
    return SafetensorsHeader(tensors, metadata, 8 + length, file_size)


def read_header(path: Path, name: str | None = None) -> SafetensorsHeader:
    """The validated header of the safetensors file at ``path``; ``name`` is how errors name
    the file (its path inside the artifact). Reads ``8 + N`` bytes, nothing more."""
    label = name or str(path)
    try:
        with path.open("rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            prefix = stream.read(8)
            length = header_length(prefix, size, label)
            rest = stream.read(length)
    except OSError as e:
        raise IntegrityError(f"cannot read {label}: {e.strerror}") from e
    return parse_header(prefix + rest, size, label)


@dataclass(frozen=True)
class ShardIndex:
    """A ``*.safetensors.index.json``: which shard holds each tensor (paths relative to the
    artifact root) and the ``total_size`` it claims (``None`` when it claims none)."""

    weight_map: Mapping[str, str]
    total_size: int | None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def shards(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.weight_map.values())))


def _shard_path(index_name: str, shard: str) -> str:
    folder = index_name.rpartition("/")[0]
    path = f"{folder}/{shard}" if folder else shard
    parts = path.split("/")
    if shard.startswith("/") or "\\" in shard or any(p in ("", ".", "..") for p in parts):
        raise _Fault(f"shard name {shard!r} is not a plain relative path")
    return path


def parse_index(data: bytes, name: str, available: set[str] | frozenset[str]) -> ShardIndex:
    """Parse an index file; ``available`` holds the artifact's paths, so a shard the index
    names but the artifact lacks is refused here."""
    if len(data) > MAX_INDEX_BYTES:
        raise IntegrityError(f"malformed safetensors index {name}: over 64 MiB")
    try:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise _Fault(f"not UTF-8 (byte {e.start})") from e
        document = _load_json(text)
        if not isinstance(document, dict):
            raise _Fault("not a JSON object")
        weight_map = document.get("weight_map")
        if not isinstance(weight_map, dict) or not all(
            isinstance(v, str) for v in weight_map.values()
        ):
            raise _Fault("weight_map must map tensor names to shard file names")
        metadata = document.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise _Fault("metadata must be an object")
        total = metadata.get("total_size")
        if isinstance(total, float) and total.is_integer():
            total = int(total)
        if total is not None and not _natural(total):
            raise _Fault(f"total_size {total!r} is not a non-negative integer")
        resolved = {tensor: _shard_path(name, shard) for tensor, shard in weight_map.items()}
        for shard in sorted(set(resolved.values())):
            if shard not in available:
                raise _Fault(f"shard {shard} is missing from the artifact")
    except _Fault as e:
        raise IntegrityError(f"malformed safetensors index {name}: {e}") from e
    return ShardIndex(resolved, total, metadata)


def check_index(index: ShardIndex, name: str, headers: Mapping[str, SafetensorsHeader]) -> None:
    """Check an index against its shards' headers (``headers`` by shard path): every tensor
    in the shard it names and in no other, every shard tensor named, ``total_size`` true."""
    owner: dict[str, str] = {}
    total = 0
    for shard in index.shards:
        for tensor, info in headers[shard].tensors.items():
            if tensor in owner:
                raise IntegrityError(
                    f"malformed safetensors index {name}: tensor {tensor!r} is in both "
                    f"{owner[tensor]} and {shard}"
                )
            owner[tensor] = shard
            total += info.nbytes
    for tensor, shard in index.weight_map.items():
        if owner.get(tensor) != shard:
            raise IntegrityError(
                f"malformed safetensors index {name}: tensor {tensor!r} is not in {shard}"
            )
    for tensor, shard in owner.items():
        if tensor not in index.weight_map:
            raise IntegrityError(
                f"malformed safetensors index {name}: {shard} holds tensor {tensor!r}, "
                "which the index does not name"
            )
    if index.total_size is not None and index.total_size != total:
        raise IntegrityError(
            f"malformed safetensors index {name}: total_size {index.total_size} is not the "
            f"{total} bytes its tensors hold"
        )
