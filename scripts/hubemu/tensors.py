"""Safetensors files as ordered raw tensors, and noise that is identical on every machine.

The emulator writes safetensors itself instead of calling the ``safetensors`` library so the
bytes (header layout, key order, padding) cannot drift with library versions. Noise comes
from SHAKE-256, not from NumPy's generators, whose streams are not promised to be stable
across releases; only correctly rounded float32 add/multiply touch the values.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

_DTYPES: dict[str, str] = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U8": "u1",
    "BOOL": "?",
}


@dataclass(frozen=True)
class RawTensor:
    """One tensor: safetensors dtype name, shape, and its little-endian bytes."""

    dtype: str
    shape: tuple[int, ...]
    data: bytes

    def array(self) -> npt.NDArray[np.generic]:
        return np.frombuffer(self.data, dtype=_DTYPES[self.dtype]).reshape(self.shape)

    @classmethod
    def of(cls, array: npt.NDArray[np.generic]) -> RawTensor:
        for name, code in _DTYPES.items():
            if np.dtype(code) == array.dtype.newbyteorder("<"):
                little = np.ascontiguousarray(array, dtype=np.dtype(code))
                return cls(name, tuple(int(n) for n in array.shape), little.tobytes())
        raise ValueError(f"unsupported dtype {array.dtype}")


def read_safetensors(blob: bytes) -> tuple[dict[str, RawTensor], dict[str, str]]:
    """Tensors (in file order) and ``__metadata__`` of a safetensors file."""
    (header_len,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + header_len])
    metadata = header.pop("__metadata__", {}) or {}
    base = 8 + header_len
    ordered = sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0])
    tensors = {
        name: RawTensor(
            spec["dtype"],
            tuple(spec["shape"]),
            blob[base + spec["data_offsets"][0] : base + spec["data_offsets"][1]],
        )
        for name, spec in ordered
    }
    return tensors, metadata


def write_safetensors(tensors: dict[str, RawTensor], metadata: dict[str, str]) -> bytes:
    """Serialise tensors sorted by name, with the header padded to 8 bytes as the spec asks."""
    header: dict[str, object] = {"__metadata__": dict(sorted(metadata.items()))}
    offset = 0
    names = sorted(tensors)
    for name in names:
        t = tensors[name]
        header[name] = {
            "dtype": t.dtype,
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(t.data)],
        }
        offset += len(t.data)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    return struct.pack("<Q", len(encoded)) + encoded + b"".join(tensors[n].data for n in names)


def uniform_noise(seed: str, shape: Iterable[int]) -> npt.NDArray[np.float32]:
    """Values in [-1, 1) drawn from SHAKE-256(seed); the same on every platform."""
    dims = tuple(shape)
    count = int(np.prod(dims)) if dims else 1
    raw = hashlib.shake_256(seed.encode()).digest(4 * count)
    ints = np.frombuffer(raw, dtype="<u4").astype(np.float64)
    # 2**32 is exact in float64, so the scaling is exact before the single float32 rounding.
    return ((ints / 2.0**31) - 1.0).astype(np.float32).reshape(dims)


def perturb(tensor: RawTensor, seed: str, relative: float) -> RawTensor:
    """``w + relative * max|w| * noise``, with one rounding per float32 operation."""
    w = tensor.array().astype(np.float32)
    # Scale from max-abs rather than std: a max is exact whatever the summation order.
    scale = np.float32(relative) * np.float32(np.max(np.abs(w)))
    noisy = w + scale * uniform_noise(seed, w.shape)
    return RawTensor.of(noisy.astype(np.float32))


def quantize_int8(tensor: RawTensor) -> tuple[RawTensor, RawTensor]:
    """Symmetric per-tensor int8 weights and their float32 scale (``w ~= q * scale``)."""
    w = tensor.array().astype(np.float32)
    scale = np.float32(np.max(np.abs(w))) / np.float32(127.0)
    q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
    return RawTensor.of(q), RawTensor.of(np.array([scale], dtype=np.float32))


def parameter_counts(blob_header: bytes) -> dict[str, int]:
    """Parameters per dtype from a safetensors file's leading bytes (header only)."""
    (header_len,) = struct.unpack("<Q", blob_header[:8])
    header = json.loads(blob_header[8 : 8 + header_len])
    header.pop("__metadata__", None)
    counts: dict[str, int] = {}
    for spec in header.values():
        n = 1
        for d in spec["shape"]:
            n *= int(d)
        counts[spec["dtype"]] = counts.get(spec["dtype"], 0) + n
    return counts
