"""The safetensors levels: headers (tensors added, removed, reshaped) and tensor values.

Each side's tensors are grouped by weight set: a ``*.safetensors.index.json`` and the shards
it names form one set, keyed by the index name without ``.index.json``; a file no index
names is a set of its own, keyed by its path. So ``model.safetensors`` on one side and
four shards under ``model.safetensors.index.json`` on the other are matched tensor by
tensor, whatever the sharding. Values are compared for same-dtype, same-shape tensors whose
bytes differ: bytes first (numpy chunk compares), then statistics over fixed-size chunks of
memory-mapped files, accumulated in float64, so memory stays bounded whatever the size.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from hubsnap.diff.dtypes import decodable, decode, element_bytes
from hubsnap.diff.files import ArtifactFile, Side
from hubsnap.diff.safetensors import (
    SafetensorsHeader,
    TensorInfo,
    check_index,
    parse_header,
    parse_index,
    read_header,
)
from hubsnap.diff.stats import measure
from hubsnap.diff.tensor_changes import Reshaped, TensorChange, TensorsDiff
from hubsnap.errors import IntegrityError

__all__ = ["Reshaped", "TensorChange", "TensorsDiff", "diff_tensors", "side_tensors"]

_INDEX_SUFFIX = ".safetensors.index.json"
#: Bytes compared per step, and elements decoded per step (2 MiB of float64 each: the
#: few buffers a step passes over stay in the processor's cache, a quarter faster than 8 MiB).
COMPARE_CHUNK = 16 * 1024 * 1024
VALUE_CHUNK = 256 * 1024


@dataclass(frozen=True)
class TensorRef:
    """Where one tensor lives: its weight set, the file and its header."""

    group: str
    file: ArtifactFile
    header: SafetensorsHeader
    info: TensorInfo


def _header(side: Side, file: ArtifactFile, prefix: bytes | None = None) -> SafetensorsHeader:
    try:
        if prefix is not None:
            return parse_header(prefix, file.size, file.path)
        assert file.local is not None
        return read_header(file.local, file.path)
    except IntegrityError as e:
        raise IntegrityError(e.message, hint=f"in {side.reference}") from e


def side_tensors(side: Side) -> dict[tuple[str, str], TensorRef] | None:
    """Every tensor of ``side`` by (weight set, name); ``None`` when some safetensors file
    is known only by hash (its header cannot be read)."""
    weights = [p for p in side.files if p.endswith(".safetensors")]
    indexes = [p for p in side.files if p.endswith(_INDEX_SUFFIX)]
    if not all(side.has_bytes(p) for p in (*weights, *indexes)):
        return None
    headers = {p: _header(side, side.files[p], side.header_prefix(p)) for p in sorted(weights)}
    owner: dict[str, str] = {}
    out: dict[tuple[str, str], TensorRef] = {}
    for path in sorted(indexes):
        data = side.read_small(path)
        assert data is not None
        try:
            index = parse_index(data, path, frozenset(side.files))
            check_index(index, path, headers)
        except IntegrityError as e:
            raise IntegrityError(e.message, hint=f"in {side.reference}") from e
        group = path[: -len(".index.json")]
        for shard in index.shards:
            if shard in owner:
                raise IntegrityError(
                    f"malformed safetensors index {path}: shard {shard} is also named by "
                    f"{owner[shard]}",
                    hint=f"in {side.reference}",
                )
            owner[shard] = path
            for name, info in headers[shard].tensors.items():
                out[(group, name)] = TensorRef(group, side.files[shard], headers[shard], info)
    for path, header in headers.items():
        if path not in owner:
            for name, info in header.tensors.items():
                out[(path, name)] = TensorRef(path, side.files[path], header, info)
    return out


@dataclass
class WeightMaps:
    """Memory maps of the weight files, opened once per diff."""

    maps: dict[str, npt.NDArray[np.uint8]] = field(default_factory=dict)

    def bytes_of(self, ref: TensorRef) -> npt.NDArray[np.uint8]:
        key = str(ref.file.local)
        if key not in self.maps:
            assert ref.file.local is not None
            try:
                self.maps[key] = np.memmap(ref.file.local, dtype=np.uint8, mode="r")
            except (OSError, ValueError) as e:
                raise IntegrityError(f"cannot map {ref.file.path}: {e}") from e
            if len(self.maps[key]) != ref.header.file_size:
                raise IntegrityError(f"{ref.file.path} changed size while it was read")
        start = ref.header.data_offset + ref.info.start
        return self.maps[key][start : start + ref.info.nbytes]


def _same_bytes(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> bool:
    # Compared as 64-bit words (three times the speed of bytes), the tail as bytes.
    whole = len(a) - len(a) % 8
    for i in range(0, whole, COMPARE_CHUNK):
        end = min(i + COMPARE_CHUNK, whole)
        if not np.array_equal(a[i:end].view(np.uint64), b[i:end].view(np.uint64)):
            return False
    return bool(np.array_equal(a[whole:], b[whole:]))


def _chunks(raw: npt.NDArray[np.uint8], step: int) -> Iterator[npt.NDArray[np.uint8]]:
    for i in range(0, len(raw), step):
        yield raw[i : i + step]


def _values(raw: Any, dtype: str, step: int) -> Iterator[npt.NDArray[np.float64]]:
    """The values chunk by chunk, each decoded into the same buffer (consume before the
    next)."""
    buffer = np.empty(VALUE_CHUNK, dtype=np.float64)
    for chunk in _chunks(raw, step):
        yield decode(np.asarray(chunk), dtype, buffer)


def _stats(target: TensorRef, a: Any, b: Any) -> TensorChange:
    dtype, shape = target.info.dtype, target.info.shape
    size = element_bytes(dtype)
    if size is None or not decodable(dtype):
        return TensorChange(target.file.path, target.info.name, dtype, shape, *([None] * 9))
    step = VALUE_CHUNK * size
    stats = measure(zip(_values(a, dtype, step), _values(b, dtype, step), strict=True))
    return TensorChange(target.file.path, target.info.name, dtype, shape, **asdict(stats))


def _label(key: tuple[str, str], groups: set[str]) -> str:
    """A tensor's name, prefixed by its weight set only when a side has several."""
    return key[1] if len(groups) <= 1 else f"{key[0]}:{key[1]}"


def diff_tensors(
    base: Mapping[tuple[str, str], TensorRef],
    target: Mapping[tuple[str, str], TensorRef],
    *,
    values: bool,
) -> TensorsDiff:
    """Headers compared; with ``values`` the bytes (and statistics) of same-shaped tensors."""
    groups = {k[0] for k in base} | {k[0] for k in target}
    added = tuple(sorted(_label(k, groups) for k in target.keys() - base.keys()))
    removed = tuple(sorted(_label(k, groups) for k in base.keys() - target.keys()))
    reshaped: list[Reshaped] = []
    same: list[tuple[TensorRef, TensorRef]] = []
    for key in sorted(base.keys() & target.keys()):
        b, t = base[key], target[key]
        if (b.info.dtype, b.info.shape) != (t.info.dtype, t.info.shape):
            reshaped.append(
                Reshaped(
                    t.file.path,
                    _label(key, groups),
                    (b.info.dtype, b.info.shape),
                    (t.info.dtype, t.info.shape),
                )
            )
        else:
            same.append((b, t))
    if not values:
        return TensorsDiff(added, removed, tuple(reshaped), None, None)
    maps = WeightMaps()
    changed: list[TensorChange] = []
    compared = 0
    for b, t in same:
        if b.file.same_content(t.file) and b.header.data_offset + b.info.start == (
            t.header.data_offset + t.info.start
        ):
            continue  # the same bytes at the same place: equal, nothing to read
        raw_b, raw_t = maps.bytes_of(b), maps.bytes_of(t)
        compared += len(raw_b)
        if not _same_bytes(raw_b, raw_t):
            changed.append(_stats(t, raw_b, raw_t))
    maps.maps.clear()
    return TensorsDiff(
        added, removed, tuple(reshaped), tuple(changed), len(same) - len(changed), compared
    )
