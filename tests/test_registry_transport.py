"""Transport fallbacks without a network: a registry refusing monolithic uploads, dropped
connections retried, and a blob download restarted on a server that ignores ``Range``."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from hubsnap.digest import sha256_bytes
from hubsnap.errors import RemoteError
from hubsnap.oci.client import RegistryClient, TransportOptions
from hubsnap.oci.registry import RegistryRepository
from hubsnap.retry import RetryPolicy

BLOB = os.urandom(300_000)
DIGEST = sha256_bytes(BLOB)


def _repo(transport: httpx.BaseTransport) -> RegistryRepository:
    retry = RetryPolicy(attempts=3, sleep=lambda _: None)
    client = RegistryClient(
        "reg.example", options=TransportOptions(retry=retry, transport=transport)
    )
    return RegistryRepository(client, "team/model")


def test_a_registry_refusing_one_request_uploads_gets_chunks_instead() -> None:
    seen: list[tuple[str, str]] = []
    received = bytearray()

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        seen.append((request.method, path))
        if request.method == "POST":
            return httpx.Response(
                202, headers={"Location": f"/v2/team/model/blobs/uploads/u{len(seen)}"}
            )
        if request.method == "PUT" and int(request.headers.get("Content-Length", "0")) > 0:
            request.read()
            return httpx.Response(416)  # this registry wants PATCH
        if request.method == "PATCH":
            received.extend(request.read())
            return httpx.Response(202, headers={"Location": path})
        if request.method == "PUT":
            assert request.url.params["digest"] == str(DIGEST)
            return httpx.Response(201)
        return httpx.Response(204)  # DELETE of the refused session

    _repo(httpx.MockTransport(handler)).upload_blob(DIGEST, len(BLOB), lambda: [BLOB])
    assert bytes(received) == BLOB
    methods = [method for method, _ in seen]
    assert methods[:4] == ["POST", "PUT", "DELETE", "POST"]  # the refused session is closed
    assert seen[2][1] == seen[1][1]
    assert methods[4:] == ["PATCH"] * methods.count("PATCH") + ["PUT"]


def test_a_dropped_connection_is_retried() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectError("connection reset", request=request)
        return httpx.Response(200, headers={"Content-Length": str(len(BLOB))})

    assert _repo(httpx.MockTransport(handler)).has_blob(DIGEST, len(BLOB))
    assert len(calls) == 2


class _Dropping(httpx.SyncByteStream):
    def __init__(self, data: bytes, cut: int) -> None:
        self._data = data
        self._cut = cut

    def __iter__(self) -> Iterator[bytes]:
        yield self._data[: self._cut]
        raise httpx.ReadError("peer closed connection mid-body")


def test_a_download_restarts_cleanly_where_range_is_ignored() -> None:
    ranges: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        ranges.append(request.headers.get("Range"))
        # This server always answers 200 with the whole blob, Range or not; the first
        # answer is cut short.
        stream = _Dropping(BLOB, 100_000) if len(ranges) == 1 else httpx.ByteStream(BLOB)
        return httpx.Response(200, stream=stream)

    data = _repo(httpx.MockTransport(handler)).get_blob_bytes(DIGEST, len(BLOB))
    assert data == BLOB  # the first 100,000 bytes of the second answer were skipped
    assert ranges == [None, "bytes=100000-"]


def test_a_download_resumes_with_range_where_honoured() -> None:
    ranges: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        ranges.append(request.headers.get("Range"))
        if len(ranges) == 1:
            return httpx.Response(200, stream=_Dropping(BLOB, 100_000))
        return httpx.Response(206, content=BLOB[100_000:])

    assert _repo(httpx.MockTransport(handler)).get_blob_bytes(DIGEST, len(BLOB)) == BLOB
    assert ranges == [None, "bytes=100000-"]


def test_a_download_dropping_every_time_gives_up_with_a_remote_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=_Dropping(BLOB, 10))

    with pytest.raises(RemoteError) as info:
        _repo(httpx.MockTransport(handler)).get_blob_bytes(DIGEST, len(BLOB))
    assert info.value.exit_code == 5
    assert info.value.message.startswith(f"blob {DIGEST} from reg.example/team/model: connection")
