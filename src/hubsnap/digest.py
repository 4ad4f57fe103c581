"""Digests as values, and the one-pass hasher that feeds every identity of a file.

A file's SHA-256 is at once its OCI layer digest, its Git LFS ``oid``, the Hub's
``lfs.sha256`` and its OpenSSF model-signing resource digest; BLAKE3 rides along for fast
re-checks. :class:`StreamHasher` computes SHA-256 (and, for Hub files outside LFS, the git
blob SHA-1) in the caller's thread while BLAKE3 runs on a worker thread over the same chunk:
both libraries release the GIL, so two cores hash in the time of one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import blake3

from hubsnap.errors import IntegrityError, UsageError
from hubsnap.values import printable, shown

__all__ = [
    "CHUNK_SIZE",
    "Digest",
    "FileDigests",
    "StreamHasher",
    "check_digest",
    "git_blob_sha1",
    "hash_chunks",
    "hash_file",
    "hash_stream",
    "sha256_bytes",
]

CHUNK_SIZE = 1 << 20

_HEX = {"sha256": re.compile(r"^[0-9a-f]{64}$"), "sha512": re.compile(r"^[0-9a-f]{128}$")}


@dataclass(frozen=True, order=True)
class Digest:
    """An OCI content digest ``algorithm:hex``; only sha256 and sha512 are accepted."""

    algorithm: str
    hex: str

    def __post_init__(self) -> None:
        pattern = _HEX.get(self.algorithm)
        if pattern is None or not pattern.match(self.hex):
            raise UsageError(f"invalid digest {printable(f'{self.algorithm}:{self.hex}')}")

    @classmethod
    def parse(cls, text: str) -> Digest:
        algorithm, sep, hexpart = text.partition(":")
        if not sep:
            raise UsageError(f"invalid digest {shown(text, 200)}", hint="expected sha256:<64 hex>")
        return cls(algorithm, hexpart)

    @classmethod
    def sha256(cls, hexdigest: str) -> Digest:
        return cls("sha256", hexdigest)

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @property
    def encoded(self) -> str:
        """The hex part, as used in blob paths."""
        return self.hex


def sha256_bytes(data: bytes) -> Digest:
    """The SHA-256 digest of an in-memory byte string (manifests, configs, envelopes)."""
    return Digest.sha256(hashlib.sha256(data).hexdigest())


def git_blob_sha1(data: bytes) -> str:
    """The git object id of ``data`` stored as a blob (what the Hub reports as ``blobId``)."""
    header = b"blob %d\0" % len(data)
    return hashlib.sha1(header + data, usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class FileDigests:
    """Every digest of one file's bytes, from one read pass.

    ``git_sha1`` is ``None`` unless the size was known up front and asked for.
    """

    size: int
    sha256: Digest
    blake3: str
    git_sha1: str | None = None


class StreamHasher:
    """Feed chunks once; get SHA-256, BLAKE3 and optionally the git blob SHA-1.

    ``git_blob_size`` must be the final size when the git SHA-1 is wanted, because git hashes
    a ``blob <size>\\0`` header before the content.

    Small chunks (a network read gives 64 KiB) are gathered into batches of about
    :data:`CHUNK_SIZE`, and each batch is hashed while the caller goes on with the next one;
    handing off per batch rather than per chunk keeps the thread hand-offs from costing more
    than they save. BLAKE3 always runs on a worker thread. With ``offload_sha`` (the default)
    SHA-256 (and SHA-1) run on a second worker, for callers whose own thread is busy receiving
    and writing; a caller that only reads a file passes ``False`` and hashes SHA-256 itself,
    which on two cores is faster than a third thread. The hashing libraries release the GIL,
    so the work overlaps instead of adding up.
    """

    def __init__(self, *, git_blob_size: int | None = None, offload_sha: bool = True) -> None:
        self._sha256 = hashlib.sha256()
        self._blake3 = blake3.blake3()
        self._sha1 = None
        if git_blob_size is not None:
            self._sha1 = hashlib.sha1(usedforsecurity=False)
            self._sha1.update(b"blob %d\0" % git_blob_size)
        self._offload_sha = offload_sha
        self._pool = ThreadPoolExecutor(
            max_workers=2 if offload_sha else 1, thread_name_prefix="hash"
        )
        self._pending: tuple[Future[None], ...] = ()
        self._batch: list[bytes] = []
        self._batched = 0
        self.size = 0

    def update(self, chunk: bytes | memoryview) -> None:
        # Workers hash a batch while the caller fills the next, so batches must be immutable
        # bytes: a memoryview over a buffer the caller reuses is copied.
        data = bytes(chunk) if isinstance(chunk, memoryview) else chunk
        self.size += len(data)
        self._batch.append(data)
        self._batched += len(data)
        if self._batched >= CHUNK_SIZE:
            self._dispatch()

    def _dispatch(self) -> None:
        if not self._batch:
            return
        batch = self._batch[0] if len(self._batch) == 1 else b"".join(self._batch)
        self._batch, self._batched = [], 0
        for future in self._pending:
            future.result()
        blake = self._pool.submit(self._update_blake3, batch)
        if self._offload_sha:
            self._pending = (self._pool.submit(self._update_sha, batch), blake)
        else:
            self._pending = (blake,)
            self._update_sha(batch)

    def _update_blake3(self, batch: bytes) -> None:
        self._blake3.update(batch)

    def _update_sha(self, batch: bytes) -> None:
        self._sha256.update(batch)
        if self._sha1 is not None:
            self._sha1.update(batch)

    def finish(self) -> FileDigests:
        self._dispatch()
        for future in self._pending:
            future.result()
        self._pending = ()
        self._pool.shutdown(wait=True)
        return FileDigests(
            size=self.size,
            sha256=Digest.sha256(self._sha256.hexdigest()),
            blake3=self._blake3.hexdigest(),
            git_sha1=self._sha1.hexdigest() if self._sha1 is not None else None,
        )

    def close(self) -> None:
        """Release the worker threads without producing digests (error paths)."""
        self._batch, self._batched = [], 0
        self._pool.shutdown(wait=True, cancel_futures=True)


def hash_stream(stream: BinaryIO, *, git_blob_size: int | None = None) -> FileDigests:
    hasher = StreamHasher(git_blob_size=git_blob_size, offload_sha=False)
    try:
        while chunk := stream.read(CHUNK_SIZE):
            hasher.update(chunk)
    except BaseException:
        hasher.close()
        raise
    return hasher.finish()


def hash_file(path: Path, *, git_sha1: bool = False) -> FileDigests:
    """Hash a file in one read pass."""
    with path.open("rb") as stream:
        size = path.stat().st_size if git_sha1 else None
        return hash_stream(stream, git_blob_size=size)


def hash_chunks(chunks: Iterable[bytes]) -> FileDigests:
    hasher = StreamHasher()
    for chunk in chunks:
        hasher.update(chunk)
    return hasher.finish()


def check_digest(expected: Digest, actual: Digest, what: str) -> None:
    """Raise :class:`IntegrityError` unless the two digests are equal."""
    if expected != actual:
        raise IntegrityError(f"{what}: digest mismatch (expected {expected}, got {actual})")


def file_sha256(stream: BinaryIO) -> Digest:
    """The SHA-256 of an open file's remaining bytes, read in chunks."""
    hasher = hashlib.sha256()
    while chunk := stream.read(CHUNK_SIZE):
        hasher.update(chunk)
    return Digest.sha256(hasher.hexdigest())


def file_blake3(stream: BinaryIO) -> str:
    """The BLAKE3 (hex) of an open file's remaining bytes: a cheap re-check of a stored blob
    whose BLAKE3 was recorded when it was first hashed (multi-threaded)."""
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    while chunk := stream.read(CHUNK_SIZE * 4):
        hasher.update(chunk)
    return str(hasher.hexdigest())
