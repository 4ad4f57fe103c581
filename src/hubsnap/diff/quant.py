"""Quantised weights compared dequantised, where the format says how.

compressed-tensors checkpoints (``quantization_config.quant_method`` is
``compressed-tensors``, format ``int-quantized``, ``float-quantized`` or
``naive-quantized``) store a quantised ``X.weight`` beside ``X.weight_scale`` and, when
asymmetric, ``X.weight_zero_point``; the value is ``(q - zero_point) * scale`` with the scale
per tensor, per output row, or per group of input columns. A tensor whose dtype changed
between the sides (listed in ``reshaped``) is compared again with each quantised side
dequantised, streamed in chunks like every other value comparison. Any other scale layout
is not guessed at: the tensor is left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict
from typing import Any

import numpy as np
import numpy.typing as npt

from hubsnap.diff.dtypes import decodable, decode, element_bytes
from hubsnap.diff.stats import measure
from hubsnap.diff.tensors import VALUE_CHUNK, Reshaped, TensorChange, TensorRef, WeightMaps

__all__ = ["compare_dequantised", "is_compressed_tensors"]

Values = npt.NDArray[np.float64]
Refs = Mapping[tuple[str, str], TensorRef]
_FORMATS = frozenset({"int-quantized", "float-quantized", "naive-quantized"})
#: A scale larger than this is not a scale: the tensor is left out rather than loaded.
_MAX_SCALE_ELEMENTS = 16 * 1024 * 1024


def is_compressed_tensors(config: Mapping[str, Any] | None) -> bool:
    """Whether ``config.json`` says its weights are compressed-tensors quantised."""
    quant = (config or {}).get("quantization_config")
    return (
        isinstance(quant, dict)
        and quant.get("quant_method") == "compressed-tensors"
        and quant.get("format") in _FORMATS
    )


def _small(maps: WeightMaps, ref: TensorRef) -> Values | None:
    count = int(np.prod(ref.info.shape)) if ref.info.shape else 1
    if count > _MAX_SCALE_ELEMENTS or not decodable(ref.info.dtype):
        return None
    return decode(np.asarray(maps.bytes_of(ref)), ref.info.dtype)


def _indexer(shape: tuple[int, ...], scale_shape: tuple[int, ...]) -> Callable[[Any], Any] | None:
    """Maps flat element indices of the weight to flat indices of its scale."""
    count = int(np.prod(scale_shape)) if scale_shape else 1
    if count == 1:
        return np.zeros_like
    if len(shape) != 2:
        return None
    rows, cols = shape
    if scale_shape in ((rows,), (rows, 1)):
        return lambda idx: idx // cols
    if len(scale_shape) == 2 and scale_shape[0] == rows and cols % scale_shape[1] == 0:
        groups = scale_shape[1]
        size = cols // groups
        return lambda idx: (idx // cols) * groups + (idx % cols) // size
    return None


def _stream(
    maps: WeightMaps, refs: Refs, ref: TensorRef, quantised: bool
) -> Iterator[Values] | None:
    """The tensor's values chunk by chunk, dequantised when its side is quantised."""
    size = element_bytes(ref.info.dtype)
    if size is None or not decodable(ref.info.dtype):
        return None
    raw = maps.bytes_of(ref)
    scale_ref = refs.get((ref.group, ref.info.name + "_scale")) if quantised else None
    if scale_ref is None:
        if quantised and ref.info.dtype not in ("F32", "F16", "BF16", "F64"):
            return None  # quantised, but no scale says how to read it
        step = VALUE_CHUNK * size
        return (
            decode(np.asarray(raw[i : i + step]), ref.info.dtype) for i in range(0, len(raw), step)
        )
    scale = _small(maps, scale_ref)
    index = _indexer(ref.info.shape, scale_ref.info.shape)
    zero_ref = refs.get((ref.group, ref.info.name + "_zero_point"))
    zero = _small(maps, zero_ref) if zero_ref is not None else None
    if scale is None or index is None or (zero is not None and zero.shape != scale.shape):
        return None

    def chunks() -> Iterator[Values]:
        step = VALUE_CHUNK * size
        for i in range(0, len(raw), step):
            values = decode(np.asarray(raw[i : i + step]), ref.info.dtype)
            where = index(np.arange(i // size, i // size + len(values)))
            if zero is not None:
                values = values - zero[where]
            yield values * scale[where]

    return chunks()


def compare_dequantised(
    base: Refs, target: Refs, reshaped: tuple[Reshaped, ...], quantised: tuple[bool, bool]
) -> tuple[TensorChange, ...]:
    """Statistics of every same-shaped, dtype-changed tensor with its quantised side(s)
    dequantised; ``quantised`` says which sides are compressed-tensors checkpoints."""
    if not any(quantised):
        return ()
    maps = WeightMaps()
    out = []
    by_label = {r.name: r for r in reshaped}
    for key in sorted(base.keys() & target.keys()):
        b, t = base[key], target[key]
        entry = by_label.get(key[1]) or by_label.get(f"{key[0]}:{key[1]}")
        if entry is None or b.info.shape != t.info.shape:
            continue
        xs, ys = _stream(maps, base, b, quantised[0]), _stream(maps, target, t, quantised[1])
        if xs is None or ys is None:
            continue
        stats = measure(zip(xs, ys, strict=True))
        dtype = f"{b.info.dtype}->{t.info.dtype}"
        out.append(TensorChange(t.file.path, entry.name, dtype, t.info.shape, **asdict(stats)))
    maps.maps.clear()
    return tuple(out)
