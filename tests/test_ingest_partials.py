"""Partial downloads in the store's ``ingest/``: resumed by content name, held under a lock,
swept when nobody resumed them."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from hubsnap.digest import Digest
from hubsnap.errors import IntegrityError
from hubsnap.oci.ingest import STALE_PARTIAL_SECONDS, partial_name
from hubsnap.oci.layout import LayoutStore

DATA = b"0123456789" * 1000
NAME = partial_name(sha256=hashlib.sha256(DATA).hexdigest())


@pytest.fixture
def store(tmp_path: Path) -> LayoutStore:
    return LayoutStore(tmp_path / "store").ensure()


def names(store: LayoutStore) -> list[str]:
    return sorted(p.name for p in store.ingest_dir.iterdir())


def test_a_kept_partial_resumes_where_it_stopped_and_commits_the_whole(
    store: LayoutStore,
) -> None:
    first = store.writer(partial=NAME, size=len(DATA))
    first.write(DATA[:4000])
    assert first.keep()
    assert names(store) == [NAME]
    second = store.writer(partial=NAME, size=len(DATA))
    assert second.resumed_from == 4000
    second.write(DATA[4000:])
    digests = second.commit(Digest.sha256(hashlib.sha256(DATA).hexdigest()), len(DATA))
    assert digests.size == len(DATA)
    assert store.blob_path(digests.sha256).read_bytes() == DATA
    assert names(store) == []


def test_restart_drops_what_the_partial_held(store: LayoutStore) -> None:
    (store.ingest_dir / NAME).write_bytes(b"garbage")
    writer = store.writer(partial=NAME, size=len(DATA))
    assert writer.resumed_from == 7
    writer.restart()
    writer.write(DATA)
    assert writer.commit().sha256.hex == hashlib.sha256(DATA).hexdigest()


def test_a_partial_longer_than_the_file_starts_over(store: LayoutStore) -> None:
    (store.ingest_dir / NAME).write_bytes(DATA + b"more")
    writer = store.writer(partial=NAME, size=len(DATA))
    assert writer.resumed_from == 0
    writer.discard()
    assert names(store) == []


def test_a_partial_held_by_a_writer_is_neither_shared_nor_swept(store: LayoutStore) -> None:
    holder = store.writer(partial=NAME, size=len(DATA))
    holder.write(DATA[:10])
    old = time.time() - STALE_PARTIAL_SECONDS - 10
    os.utime(store.ingest_dir / NAME, (old, old))
    other = store.writer(partial=NAME, size=len(DATA))  # another run: a plain temp file
    assert other.resumed_from == 0
    assert other._tmp.name.startswith(f"blob-{os.getpid()}-")
    other.discard()
    assert store.sweep_ingest(partials_older_than=0) == []
    holder.discard()
    assert names(store) == []


def test_partials_nobody_resumed_for_a_day_are_swept(store: LayoutStore) -> None:
    stale = partial_name(git_blob_id="a" * 40)
    fresh = partial_name(git_blob_id="b" * 40)
    for name in (stale, fresh):
        (store.ingest_dir / name).write_bytes(b"part")
    old = time.time() - STALE_PARTIAL_SECONDS - 10
    os.utime(store.ingest_dir / stale, (old, old))
    store.put_bytes(b"x")  # the first writer of this store sweeps
    assert names(store) == [fresh]
    assert LayoutStore(store.root).sweep_ingest(partials_older_than=0) == [store.ingest_dir / fresh]


def test_a_symlink_at_a_partials_name_is_refused(store: LayoutStore, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_bytes(b"keep me")
    (store.ingest_dir / NAME).symlink_to(target)
    with pytest.raises(IntegrityError, match="symlink"):
        store.writer(partial=NAME, size=len(DATA))
    assert target.read_bytes() == b"keep me"


@pytest.mark.parametrize("bad", ["../x", "a" * 64, "A" * 40])
def test_partial_names_are_content_names_only(bad: str) -> None:
    with pytest.raises(ValueError, match="not a content name"):
        partial_name(git_blob_id=bad)
