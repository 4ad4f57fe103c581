"""The embedding model: a sentence-transformers model folder, loaded on the CPU.

``sentence-transformers`` (with ``transformers`` and ``torch``) comes with the optional extra
``hubsnap[behaviour]``. :func:`check_installed` says whether it is there without importing it
(importing torch takes seconds, and a run whose embeddings are all cached needs no model);
it is imported only when texts must be embedded, and its absence either way is a
:class:`~hubsnap.errors.UsageError` with the install hint. The folder is a local path
written from verified store blobs: nothing is fetched for it, no remote code runs. This is
the one module that imports ``sentence_transformers``.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hubsnap.errors import UsageError

__all__ = ["BATCH_SIZE", "INSTALL_HINT", "Encoder", "check_installed"]

INSTALL_HINT = "pip install 'hubsnap[behaviour]'"
#: Texts per forward pass.
BATCH_SIZE = 32
_MISSING = "--like needs the sentence-transformers and torch packages"


def check_installed() -> None:
    """Raise the install hint unless ``sentence_transformers`` can be imported."""
    try:
        found = importlib.util.find_spec("sentence_transformers") is not None
    except (ImportError, ValueError):  # a broken or blocked package
        found = False
    if not found:
        raise UsageError(_MISSING, hint=INSTALL_HINT)


def _library() -> Any:
    try:
        library = importlib.import_module("sentence_transformers")
        transformers = importlib.import_module("transformers")
    except ImportError as e:
        raise UsageError(_MISSING, hint=INSTALL_HINT) from e
    # Their load-time bars and advice would interleave with hubsnap's own stderr.
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    logging.getLogger("sentence_transformers").setLevel(logging.ERROR)
    return library


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 200 else text[:199] + "…"


class Encoder:
    """A sentence-transformers model read from ``folder``; ``name`` is what errors call it."""

    def __init__(self, folder: Path, *, name: str) -> None:
        self.name = name
        library = _library()
        try:
            self._model = library.SentenceTransformer(
                str(folder), device="cpu", trust_remote_code=False, local_files_only=True
            )
        except Exception as e:  # torch and transformers fail in many ways; one line
            raise UsageError(
                f"cannot load {name} as a sentence-transformers model: {_one_line(e)}",
                hint="--embedder names an artifact of a sentence-transformers model",
            ) from e

    def encode(self, texts: Sequence[str]) -> list[bytes]:
        """One vector per text: little-endian float32, L2-normalised."""
        try:
            vectors = self._model.encode(
                list(texts), batch_size=BATCH_SIZE, convert_to_numpy=True,
                normalize_embeddings=True, show_progress_bar=False,
            )  # fmt: skip
        except Exception as e:
            raise UsageError(f"{self.name} failed to embed: {_one_line(e)}") from e
        return [bytes(row.astype("<f4").tobytes()) for row in vectors]
