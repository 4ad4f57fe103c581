"""The shape of a push on the wire, against the real registry: which requests, how many, in
what order, how many at once, and bodies streamed rather than read whole."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hubsnap.digest import CHUNK_SIZE, Digest
from hubsnap.oci.client import RegistryClient, TransportOptions
from hubsnap.oci.layout import LayoutStore
from hubsnap.oci.registry import RegistryRepository
from hubsnap.oci.repository import LayoutRepository
from hubsnap.oci.transfer import copy_artifact
from support.registry import CountingTransport, RegistryServer, build_model

pytestmark = pytest.mark.registry

FILES = {
    "config.json": b'{"layers": 2}\n',
    "model-00001.safetensors": os.urandom(3 << 20),
    "model-00002.safetensors": os.urandom(1 << 20),
    "README.md": b"# card\n",
}
BLOBS = len(FILES) + 1  # the files and the model config


def _push(
    registry: RegistryServer, repo: str, tmp_path: Path, transport: httpx.BaseTransport
) -> Digest:
    digest = Digest.parse(build_model(tmp_path / "src", FILES))
    options = TransportOptions(transport=transport)
    remote = RegistryRepository(
        RegistryClient(registry.host, options=options, plain_http=True), repo
    )
    copy_artifact(LayoutRepository(LayoutStore(tmp_path / "src")), remote, digest)
    remote.close()
    return digest


def _is_blob_put(request: httpx.Request) -> bool:
    return request.method == "PUT" and "/blobs/uploads/" in request.url.path


def test_a_fresh_push_is_head_then_one_post_and_one_streamed_put_per_blob_manifest_last(
    registry: RegistryServer, repo_name: str, tmp_path: Path
) -> None:
    counter = CountingTransport()
    digest = _push(registry, repo_name, tmp_path, counter)
    kinds = [
        (
            method,
            "manifest" if "/manifests/" in path else "upload" if "/uploads/" in path else "blob",
        )
        for method, path in counter.requests
    ]
    assert sorted(set(kinds)) == [
        ("HEAD", "blob"), ("POST", "upload"), ("PUT", "manifest"), ("PUT", "upload"),
    ]  # fmt: skip
    assert kinds.count(("HEAD", "blob")) == BLOBS
    assert kinds.count(("POST", "upload")) == BLOBS
    assert kinds.count(("PUT", "upload")) == BLOBS  # monolithic: no PATCH
    assert counter.requests[-1] == ("PUT", f"/v2/{repo_name}/manifests/{digest}")


def test_blobs_go_up_several_at_once(
    registry: RegistryServer, repo_name: str, tmp_path: Path
) -> None:
    class Overlap(httpx.BaseTransport):
        """Holds the first blob PUT until a second one is under way (or 30 s pass)."""

        def __init__(self) -> None:
            self._inner = httpx.HTTPTransport()
            self._lock = threading.Lock()
            self._second = threading.Event()
            self.in_flight = self.most_in_flight = self.puts = 0

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if not _is_blob_put(request):
                return self._inner.handle_request(request)
            with self._lock:
                self.puts += 1
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
                first = self.puts == 1
                if self.puts == 2:
                    self._second.set()
            if first:
                self._second.wait(timeout=30)
            try:
                return self._inner.handle_request(request)
            finally:
                with self._lock:
                    self.in_flight -= 1

    overlap = Overlap()
    _push(registry, repo_name, tmp_path, overlap)
    assert overlap.puts == BLOBS
    assert overlap.most_in_flight >= 2


class _Watched(httpx.SyncByteStream):
    """A request body passed through chunk by chunk, each chunk's size noted."""

    def __init__(self, inner: httpx.SyncByteStream, sizes: list[int]) -> None:
        self._inner = inner
        self._sizes = sizes

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._sizes.append(len(chunk))
            yield chunk


def test_blob_bodies_are_streamed_in_chunks_never_read_whole(
    registry: RegistryServer, repo_name: str, tmp_path: Path
) -> None:
    sizes: list[int] = []

    class ChunkSizes(httpx.BaseTransport):
        def __init__(self) -> None:
            self._inner = httpx.HTTPTransport()

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if _is_blob_put(request):
                assert isinstance(request.stream, httpx.SyncByteStream)
                assert int(request.headers["Content-Length"]) > 0  # sized, yet streamed
                request.stream = _Watched(request.stream, sizes)
            return self._inner.handle_request(request)

    digest = _push(registry, repo_name, tmp_path, ChunkSizes())
    config = LayoutStore(tmp_path / "src").read_manifest(digest)[1].config
    assert sum(sizes) == sum(len(data) for data in FILES.values()) + config.size
    assert max(sizes) <= CHUNK_SIZE
    assert len(sizes) >= 3 + 1  # the 3 MiB file alone came in three chunks
