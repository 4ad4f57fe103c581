"""Blob uploads to a registry repository: one streamed ``POST`` + ``PUT``, chunked ``PATCH``
when the registry refuses that, and cross-repository mounts that send no bytes.

Upload sessions live at the ``Location`` the registry gives. It may be on another host
(object storage): that host gets no credentials (:class:`RegistryClient` sends
``Authorization`` only to the registry's origin), and an HTTPS registry may not send the
upload to plain HTTP.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

from hubsnap.digest import CHUNK_SIZE, Digest
from hubsnap.errors import HubsnapError, IntegrityError, RemoteError
from hubsnap.http import pause, resolve_location
from hubsnap.http.types import URL
from hubsnap.oci.auth import repository_scope
from hubsnap.oci.client import BodyFactory, RegistryClient, check_status
from hubsnap.progress import Progress

__all__ = ["BlobUploads"]

_MONOLITHIC_REFUSED = frozenset({400, 405, 413, 416, 501})


class BlobUploads:
    """Uploads and mounts into one repository of ``client``'s registry."""

    def __init__(self, client: RegistryClient, repository: str, where: str) -> None:
        self.client = client
        self.repository = repository
        self.where = where
        self._push: tuple[str, ...] = (repository_scope(repository, "pull,push"),)
        self._sessions = client.url(f"/v2/{repository}/blobs/uploads/")

    def mount(self, digest: Digest, source_repository: str) -> bool:
        """Ask the registry to link ``digest`` from another of its repositories (no bytes sent).

        Returns ``False`` when the registry declines; the caller then uploads.
        """
        scope = (*self._push, repository_scope(source_repository, "pull"))
        response = self.client.request(
            "POST", f"{self._sessions}?mount={digest}&from={source_repository}", scope=scope
        )
        with contextlib.closing(response):
            if response.status_code == 201:
                return True
            check_status(response, f"mounting blob {digest} into {self.where}", (202,))
            location = response.headers.get("Location")
        if location:  # the registry opened an ordinary upload instead; do not leave it open
            self._cancel(self._url(location))
        return False

    def upload(
        self,
        digest: Digest,
        size: int,
        open_body: BodyFactory,
        progress: Progress | None = None,
    ) -> None:
        """Upload ``size`` bytes that must hash to ``digest``, streamed from ``open_body()``.

        The body is produced afresh for each attempt; a failed attempt starts a new upload
        session, since a half-written session cannot be trusted.
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                monolithic = self.client.options.chunk_size is None
                if monolithic and self._monolithic(digest, size, open_body, progress):
                    return
                self._chunked(digest, size, open_body, progress)
                return
            except RemoteError:
                if not pause(self.client.options.retry, attempt, None):
                    raise

    def _start(self) -> str:
        response = self.client.request("POST", self._sessions, scope=self._push)
        with contextlib.closing(response):
            check_status(response, f"starting an upload to {self.where}", (202,))
            location = response.headers.get("Location")
        if not location:
            raise RemoteError(f"{self.where} opened an upload without a Location")
        return self._url(location)

    def _url(self, location: str, base: str | None = None) -> str:
        """An upload session's ``Location``, resolved. It may be on another host (which then
        gets no credentials), but not on plain HTTP when the registry uses HTTPS.
        """
        where = f"upload to {self.where}"
        url = resolve_location(base or self.client.base_url + "/", location, where)
        if self.client.origin.scheme == "https" and url.scheme != "https":
            raise RemoteError(f"{where}: the registry sent an upload Location over plain HTTP")
        return str(url)

    def _monolithic(
        self, digest: Digest, size: int, open_body: BodyFactory, progress: Progress | None
    ) -> bool:
        location = self._start()
        url = URL(location).copy_merge_params({"digest": str(digest)})
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        body = _counted(open_body, progress)
        try:
            response = self.client.request(
                "PUT", str(url), scope=self._push, headers=headers, body=body, retry=False
            )
        except RemoteError:
            self._cancel(location)
            raise
        with contextlib.closing(response):
            if response.status_code in _MONOLITHIC_REFUSED:
                self._cancel(location)
                return False
            check_status(response, f"uploading blob {digest} to {self.where}", (201,))
        return True

    def _chunked(
        self, digest: Digest, size: int, open_body: BodyFactory, progress: Progress | None
    ) -> None:
        location = self._start()
        chunk_size = self.client.options.chunk_size or 8 * CHUNK_SIZE
        offset = 0
        for piece in _rechunk(open_body(), chunk_size):
            headers = {
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{offset + len(piece) - 1}",
                "Content-Length": str(len(piece)),
            }
            response = self.client.request(
                "PATCH", location, scope=self._push, headers=headers, body=piece, retry=False
            )
            with contextlib.closing(response):
                check_status(response, f"uploading blob {digest} to {self.where}", (202,))
                next_location = response.headers.get("Location")
            if next_location:
                location = self._url(next_location, location)
            offset += len(piece)
            if progress is not None:
                progress.advance(len(piece))
        if offset != size:
            raise IntegrityError(f"blob {digest}: source gave {offset} bytes, expected {size}")
        url = URL(location).copy_merge_params({"digest": str(digest)})
        response = self.client.request(
            "PUT", str(url), scope=self._push, headers={"Content-Length": "0"}, retry=False
        )
        with contextlib.closing(response):
            check_status(response, f"finishing upload of blob {digest} to {self.where}", (201,))

    def _cancel(self, location: str) -> None:
        # Best effort: registries expire abandoned uploads themselves.
        with contextlib.suppress(HubsnapError):
            self.client.request("DELETE", location, scope=self._push, retry=False).close()


def _counted(open_body: BodyFactory, progress: Progress | None) -> BodyFactory:
    if progress is None:
        return open_body

    def counted() -> Iterator[bytes]:
        for chunk in open_body():
            progress.advance(len(chunk))
            yield chunk

    return counted


def _rechunk(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)
