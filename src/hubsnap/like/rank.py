"""Texts to vectors through a cache, and candidates ranked by cosine similarity.

Vectors are kept by (embedder manifest digest, SHA-256 of the text): the same text under the
same embedder is embedded once, whatever listing it comes from, so re-ranking costs only
the texts not seen before, and an embedder is asked for only when there are such texts.
Similarities are rounded to four decimals before they are compared, so that the last bits
of a float (which depend on how texts were batched) cannot reorder a ranking; ties go by
model id.
"""

from __future__ import annotations

import hashlib
import math
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from hubsnap.discover_state import DiscoverState
from hubsnap.progress import count_progress

__all__ = ["CHUNK", "Embedded", "TextEncoder", "cosine", "embed_texts", "rank"]

#: Texts embedded (and their vectors kept) per step: the progress and the cache advance by it.
CHUNK = 64
_DECIMALS = 4


class TextEncoder(Protocol):
    def encode(self, texts: Sequence[str]) -> list[bytes]: ...


@dataclass(frozen=True)
class Embedded:
    """One vector per text asked for, in order; ``computed`` counts texts embedded now."""

    vectors: list[array[float]]
    computed: int


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _vector(data: bytes) -> array[float]:
    vector = array("f")
    vector.frombytes(data[: len(data) - len(data) % vector.itemsize])
    return vector


def embed_texts(
    texts: Sequence[str],
    *,
    embedder: str,
    state: DiscoverState,
    load: Callable[[], TextEncoder],
) -> Embedded:
    """The vectors of ``texts`` under ``embedder`` (a manifest digest), from the cache or
    computed by the encoder ``load`` gives (called only when a text is new)."""
    keys = [_key(t) for t in texts]
    by_key = dict(zip(keys, texts, strict=True))
    kept = state.embeddings(embedder, by_key)
    missing = [k for k in by_key if k not in kept]
    if missing:
        encoder = load()
        with count_progress("embedding texts", len(missing)) as progress:
            for start in range(0, len(missing), CHUNK):
                chunk = missing[start : start + CHUNK]
                rows = list(zip(chunk, encoder.encode([by_key[k] for k in chunk]), strict=True))
                state.store_embeddings(embedder, rows)
                kept.update(rows)
                progress.advance(len(chunk))
    return Embedded([_vector(kept[k]) for k in keys], len(missing))


def cosine(a: array[float], b: array[float]) -> float:
    """The cosine of two vectors (0 when either is zero or their lengths differ)."""
    if len(a) != len(b) or not a:
        return 0.0
    dot = math.fsum(x * y for x, y in zip(a, b, strict=True))
    norms = math.sqrt(math.fsum(x * x for x in a)) * math.sqrt(math.fsum(y * y for y in b))
    return dot / norms if norms > 0 and math.isfinite(norms) else 0.0


def rank(
    intent: array[float], candidates: Sequence[tuple[str, array[float]]], threshold: float
) -> list[tuple[str, float]]:
    """``(id, similarity)`` of the candidates at or above ``threshold``, most similar first,
    ties by id."""
    scored = [(name, round(cosine(intent, vector), _DECIMALS)) for name, vector in candidates]
    kept = [(name, score) for name, score in scored if score >= threshold]
    return sorted(kept, key=lambda item: (-item[1], item[0]))
