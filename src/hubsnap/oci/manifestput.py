"""Manifest PUTs to a registry repository, and the refusals a registry gives while other
clients push the same blobs.

CNCF distribution (2.x, filesystem storage) rewrites a repository's link file for a blob
(``_layers/sha256/<hex>/link``) each time an upload of that blob completes or it is mounted
there, truncating the file before writing the digest into it again. A manifest PUT whose
check reads the link in that moment reads nothing, and the registry refuses the manifest
with ``400 DIGEST_INVALID`` (and ``MANIFEST_BLOB_UNKNOWN`` naming the blob), though the blob
is there before and after; a ``HEAD`` in that moment answers 500 (retried as any 5xx). So
pushers of the same blobs to one repository at once refuse one another's manifests now and
then. A manifest refused for its blobs (``DIGEST_INVALID``, ``MANIFEST_BLOB_UNKNOWN``,
``BLOB_UNKNOWN``) is therefore checked: each blob it names is asked for again (``HEAD``);
those the registry lacks are reported as :class:`~hubsnap.oci.repository.BlobsMissing`, for
the copy to send them again; when it holds them all, the PUT is repeated after a short
backoff, at most :data:`MANIFEST_PUT_ATTEMPTS` times in all. An accepted PUT costs one
request, as before.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from hubsnap.digest import Digest, sha256_bytes
from hubsnap.errors import IntegrityError, RemoteError, UsageError
from hubsnap.models import Descriptor, Manifest
from hubsnap.oci.auth import repository_scope
from hubsnap.oci.client import RegistryClient, RegistryErrors, check_status, read_errors
from hubsnap.oci.repository import BlobsMissing

__all__ = ["MANIFEST_PUT_ATTEMPTS", "ManifestPuts"]

#: PUTs of one manifest, in all, while the registry holds its blobs yet refuses it for them.
MANIFEST_PUT_ATTEMPTS = 4
_BLOB_REFUSALS = frozenset({"DIGEST_INVALID", "MANIFEST_BLOB_UNKNOWN", "BLOB_UNKNOWN"})


class _RefusedForBlobs(RemoteError):
    """A manifest PUT refused with an error about its blobs; ``errors`` is the answer's body."""

    def __init__(self, message: str, errors: RegistryErrors) -> None:
        super().__init__(message)
        self.errors = errors


def _blob_refusal(status: int, errors: RegistryErrors) -> bool:
    return status in (400, 404) and not _BLOB_REFUSALS.isdisjoint(errors.codes)


def _named(errors: RegistryErrors, blobs: dict[Digest, Descriptor]) -> list[Digest]:
    """The manifest's blobs the registry named in its errors' details (distribution does)."""
    named: list[Digest] = []
    for detail in errors.details:
        try:
            digest = Digest.parse(detail.strip())
        except UsageError:
            continue
        if digest in blobs and digest not in named:
            named.append(digest)
    return named


def _more(items: tuple[Digest, ...] | list[Digest]) -> str:
    return f" (and {len(items) - 1} more)" if len(items) > 1 else ""


class ManifestPuts:
    """Manifest PUTs into one repository of ``client``'s registry; ``has_blob`` asks the
    registry about one blob (``HEAD``), as :meth:`.RegistryRepository.has_blob` does."""

    def __init__(
        self,
        client: RegistryClient,
        repository: str,
        where: str,
        has_blob: Callable[[Digest, int | None], bool],
    ) -> None:
        self.client = client
        self.repository = repository
        self.where = where
        self._has_blob = has_blob
        self._push: tuple[str, ...] = (repository_scope(repository, "pull,push"),)

    def put(self, data: bytes, manifest: Manifest, tag: str | None) -> tuple[Digest, bool]:
        """PUT an image manifest, checking its blobs again when it is refused for them; also
        says whether the registry indexed its subject itself.

        Raises :class:`BlobsMissing` when the registry says it lacks blobs the manifest
        names, and :class:`RemoteError` (exit 5, naming a blob) when it holds them all but
        still refuses the manifest after :data:`MANIFEST_PUT_ATTEMPTS` PUTs.
        """
        digest = sha256_bytes(data)
        blobs = {b.digest: b for b in (manifest.config, *manifest.layers)}
        attempt = 0
        while True:
            attempt += 1
            try:
                return self.put_bytes(data, manifest.media_type, tag, blob_refusals=True)
            except _RefusedForBlobs as refused:
                missing = tuple(d for d, b in blobs.items() if not self._has_blob(d, b.size))
                if missing:
                    raise BlobsMissing(
                        f"{self.where} refused manifest {digest}: it lacks blob "
                        f"{missing[0]}{_more(missing)}",
                        missing,
                    ) from refused
                if attempt >= MANIFEST_PUT_ATTEMPTS:
                    named = _named(refused.errors, blobs) or list(blobs)
                    raise RemoteError(
                        f"{self.where} refused manifest {digest} {attempt} times"
                        f"{refused.errors.text} though it holds blob {named[0]}{_more(named)}",
                        hint="another client may be pushing the same blobs: try again",
                    ) from refused
                self.client.options.retry.wait(attempt)

    def put_bytes(
        self, data: bytes, media_type: str, tag: str | None, *, blob_refusals: bool = False
    ) -> tuple[Digest, bool]:
        """One manifest PUT; also says whether the registry indexed its subject itself.
        With ``blob_refusals``, a refusal for the manifest's blobs is :class:`_RefusedForBlobs`
        (for :meth:`put` to check); otherwise it fails as any other answer does."""
        digest = sha256_bytes(data)
        reference = tag or str(digest)
        response = self.client.request(
            "PUT",
            self.client.url(f"/v2/{self.repository}/manifests/{reference}"),
            scope=self._push,
            headers={"Content-Type": media_type},
            body=data,
        )
        what = f"pushing manifest to {self.where}:{reference}"
        with contextlib.closing(response):
            status = response.status_code
            if status not in (200, 201):
                errors = read_errors(response)
                if blob_refusals and _blob_refusal(status, errors):
                    raise _RefusedForBlobs(
                        f"{what}: the registry answered {status}{errors.text}", errors
                    )
                check_status(response, what, (200, 201), errors)
            # OCI 1.1 registries that index referrers themselves say so with this header.
            indexed = "OCI-Subject" in response.headers
            echoed = response.headers.get("Docker-Content-Digest")
        if echoed and echoed != str(digest):
            raise IntegrityError(
                f"{self.where} stored manifest {digest} under a different digest {echoed}"
            )
        return digest, indexed
