"""``Repository.read_blob_range`` on both kinds of repository: the slice asked for, every
byte received counted, a blob that is not the size its descriptor gives refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hubsnap.digest import sha256_bytes
from hubsnap.errors import IntegrityError
from hubsnap.oci.client import RegistryClient, TransportOptions
from hubsnap.oci.layout import LayoutStore
from hubsnap.oci.registry import RegistryRepository
from hubsnap.oci.repository import LayoutRepository, Repository
from support.registry import RegistryServer

BLOB = os.urandom(300_000)


class Counter:
    def __init__(self) -> None:
        self.total = 0

    def advance(self, nbytes: int) -> None:
        self.total += nbytes


def _slices(repository: Repository) -> None:
    digest = sha256_bytes(BLOB)
    counter = Counter()
    for start, length in ((0, 8), (8, 1000), (len(BLOB) - 5, 5), (17, 0)):
        got = repository.read_blob_range(digest, start, length, size=len(BLOB), progress=counter)
        assert got == BLOB[start : start + length]
    assert counter.total == 8 + 1000 + 5
    with pytest.raises(ValueError, match="not within"):
        repository.read_blob_range(digest, len(BLOB) - 4, 5, size=len(BLOB))


def test_a_layout_reads_the_slice_of_its_blob_file(tmp_path: Path) -> None:
    store = LayoutStore(tmp_path / "store").ensure()
    digest = store.put_bytes(BLOB)
    repository = LayoutRepository(store)
    _slices(repository)
    with pytest.raises(IntegrityError, match="not the 299999 bytes its descriptor gives"):
        repository.read_blob_range(digest, 0, 8, size=len(BLOB) - 1)
    path = store.blob_path(digest)
    outside = tmp_path / "outside"
    outside.write_bytes(BLOB)
    path.chmod(0o644)
    path.unlink()
    path.symlink_to(outside)
    with pytest.raises(IntegrityError, match="is a symlink"):
        repository.read_blob_range(digest, 0, 8, size=len(BLOB))


@pytest.mark.registry
def test_a_registry_answers_a_range_with_just_its_bytes(
    registry: RegistryServer, repo_name: str
) -> None:
    client = RegistryClient(registry.host, options=TransportOptions(), plain_http=True)
    repository = RegistryRepository(client, repo_name)
    try:
        repository.put_blob_bytes(BLOB)
        _slices(repository)
        with pytest.raises(IntegrityError, match="the file is 300000 bytes, not the 300001"):
            repository.read_blob_range(sha256_bytes(BLOB), 0, 8, size=len(BLOB) + 1)
    finally:
        repository.close()


def test_a_registry_that_has_no_such_bytes_is_refused() -> None:
    from support.hostile_registry import Reply, hostile_server

    with hostile_server(lambda seen: Reply(416, body=b"")) as server:
        client = RegistryClient(server.host, options=TransportOptions(), plain_http=True)
        repository = RegistryRepository(client, "m")
        try:
            with pytest.raises(IntegrityError, match="the blob is not the 300000 bytes"):
                repository.read_blob_range(sha256_bytes(BLOB), 8, 100, size=len(BLOB))
        finally:
            repository.close()
