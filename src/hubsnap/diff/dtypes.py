"""Tensor bytes as float64 values, dtype by dtype, without torch.

BF16 is the high half of a float32 (shifted into place); the 8-bit floats go through a
256-entry lookup table built from their bit layouts (OCP FP8 E4M3/E5M2, the FNUZ variants
with one NaN and no negative zero, and the E8M0 scale format). Complex numbers compare as
their (real, imaginary) pairs. Sub-byte floats (F4, F6) have no agreed packing order across
producers: their values are not decoded, only their bytes compared.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["NUMPY_TYPES", "decodable", "decode", "element_bytes"]

Float64Array = npt.NDArray[np.float64]

#: dtypes numpy reads directly (little-endian).
NUMPY_TYPES: Mapping[str, str] = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
    "I8": "i1", "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "u1",
    "C64": "<f4",
}  # fmt: skip
_BYTES = {"BF16": 2} | {
    name: np.dtype(code).itemsize * (2 if name == "C64" else 1)
    for name, code in NUMPY_TYPES.items()
}


def _fp8_table(exponent_bits: int, bias: int, *, fnuz: bool, ieee_specials: bool) -> Float64Array:
    mantissa_bits = 7 - exponent_bits
    table = np.empty(256, dtype=np.float64)
    top = (1 << exponent_bits) - 1
    for code in range(256):
        sign = -1.0 if code & 0x80 else 1.0
        exponent = (code >> mantissa_bits) & top
        mantissa = code & ((1 << mantissa_bits) - 1)
        if exponent == 0:
            value = mantissa / (1 << mantissa_bits) * 2.0 ** (1 - bias)
        else:
            value = (1 + mantissa / (1 << mantissa_bits)) * 2.0 ** (exponent - bias)
        if fnuz and code == 0x80:
            value, sign = float("nan"), 1.0
        elif ieee_specials and exponent == top:
            value = float("inf") if mantissa == 0 else float("nan")
        elif not fnuz and not ieee_specials and exponent == top and mantissa == 7:
            value = float("nan")  # E4M3FN: only S.1111.111 is NaN, there is no infinity
        table[code] = sign * value
    return table


_FP8: dict[str, Float64Array] = {
    "F8_E4M3": _fp8_table(4, 7, fnuz=False, ieee_specials=False),
    "F8_E5M2": _fp8_table(5, 15, fnuz=False, ieee_specials=True),
    "F8_E4M3FNUZ": _fp8_table(4, 8, fnuz=True, ieee_specials=False),
    "F8_E5M2FNUZ": _fp8_table(5, 16, fnuz=True, ieee_specials=False),
    "F8_E8M0": np.array(
        [2.0 ** (code - 127) if code != 255 else float("nan") for code in range(256)]
    ),
}
for _name in _FP8:
    _BYTES[_name] = 1


def element_bytes(dtype: str) -> int | None:
    """Bytes per element, ``None`` for a sub-byte dtype."""
    return _BYTES.get(dtype)


def decodable(dtype: str) -> bool:
    return dtype in _BYTES


def decode(raw: npt.NDArray[np.uint8], dtype: str, out: Float64Array | None = None) -> Float64Array:
    """Decode whole elements of ``dtype`` from ``raw`` (a multiple of the element size),
    into ``out`` when given (long enough; reusing one buffer spares a fresh allocation, and
    its page faults, per chunk). Returns the decoded values."""
    if dtype == "BF16":
        high = raw.view("<u2").astype(np.uint32)
        high <<= np.uint32(16)
        source: npt.NDArray[Any] = high.view(np.float32)
    elif dtype in _FP8:
        source = _FP8[dtype][raw]
    else:
        source = raw.view(NUMPY_TYPES[dtype])
    if out is None:
        return source.astype(np.float64)
    target = out[: len(source)]
    target[...] = source
    return target
