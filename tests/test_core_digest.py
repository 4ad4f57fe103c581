"""One-pass hashing gives exactly what independent implementations give."""

from __future__ import annotations

import hashlib
import io
import random
import shutil
import subprocess
from pathlib import Path

import blake3
import pytest

from hubsnap.digest import (
    Digest,
    StreamHasher,
    check_digest,
    git_blob_sha1,
    hash_chunks,
    hash_file,
    hash_stream,
    sha256_bytes,
)
from hubsnap.errors import IntegrityError, UsageError

DATA = random.Random(7).randbytes(3 * 1024 * 1024 + 17)


@pytest.mark.parametrize("chunk", [1, 4096, 65536, 1 << 20, len(DATA)])
def test_stream_hasher_equals_hashlib_and_blake3(chunk: int) -> None:
    hasher = StreamHasher(git_blob_size=len(DATA))
    view = memoryview(DATA)
    for start in range(0, len(DATA), chunk if chunk > 1 else 997):
        hasher.update(view[start : start + (chunk if chunk > 1 else 997)])
    digests = hasher.finish()
    assert digests.size == len(DATA)
    assert digests.sha256 == Digest.sha256(hashlib.sha256(DATA).hexdigest())
    assert digests.blake3 == blake3.blake3(DATA).hexdigest()
    header = b"blob %d\0" % len(DATA)
    assert digests.git_sha1 == hashlib.sha1(header + DATA, usedforsecurity=False).hexdigest()


def test_git_sha1_only_when_asked() -> None:
    assert hash_chunks([b"a", b"b"]).git_sha1 is None
    assert hash_stream(io.BytesIO(DATA)).sha256 == sha256_bytes(DATA)


def test_empty_input() -> None:
    digests = hash_chunks([])
    assert digests.size == 0
    assert digests.sha256.hex == hashlib.sha256(b"").hexdigest()
    assert digests.blake3 == blake3.blake3(b"").hexdigest()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_blob_id_equals_git_hash_object(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(DATA[:100_000])
    expected = subprocess.run(
        ["git", "hash-object", str(path)], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert git_blob_sha1(DATA[:100_000]) == expected
    assert hash_file(path, git_sha1=True).git_sha1 == expected


@pytest.mark.skipif(shutil.which("b3sum") is None, reason="needs b3sum")
def test_blake3_equals_b3sum(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(DATA)
    expected = subprocess.run(
        ["b3sum", "--no-names", str(path)], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert hash_file(path).blake3 == expected


@pytest.mark.parametrize(
    "text", ["sha256:abc", "md5:" + "0" * 32, "sha256:" + "A" * 64, "nocolon", "sha256:" + "0" * 63]
)
def test_invalid_digests_are_refused(text: str) -> None:
    with pytest.raises(UsageError):
        Digest.parse(text)


def test_digest_round_trip_and_check() -> None:
    digest = Digest.parse("sha256:" + "ab" * 32)
    assert str(digest) == "sha256:" + "ab" * 32 and digest.encoded == "ab" * 32
    assert Digest.parse("sha512:" + "0" * 128).algorithm == "sha512"
    check_digest(digest, Digest.sha256("ab" * 32), "x")
    with pytest.raises(IntegrityError, match="x: digest mismatch"):
        check_digest(digest, Digest.sha256("cd" * 32), "x")


@pytest.mark.parametrize("offload_sha", [True, False])
def test_stream_hasher_batches_small_uneven_chunks(offload_sha: bool) -> None:
    import random

    rng = random.Random(7)
    data = rng.randbytes(3 * (1 << 20) + 12345)
    hasher = StreamHasher(git_blob_size=len(data), offload_sha=offload_sha)
    offset = 0
    while offset < len(data):
        step = rng.choice([1, 100, 65536, 65537, 1 << 20, 3 << 20])
        piece = data[offset : offset + step]
        hasher.update(memoryview(piece) if step == 100 else piece)
        offset += len(piece)
    digests = hasher.finish()
    assert digests.size == len(data)
    assert digests.sha256.hex == hashlib.sha256(data).hexdigest()
    assert digests.blake3 == blake3.blake3(data).hexdigest()
    assert digests.git_sha1 == git_blob_sha1(data)
