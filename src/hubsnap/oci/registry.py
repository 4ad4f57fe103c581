"""OCI registry repositories (distribution spec 1.1) as a :class:`Repository`.

Built on :class:`hubsnap.oci.client.RegistryClient` (auth, retries, redirects). Everything a
registry sends is capped while it is read: manifests and referrers indexes at 4 MiB (checked
against the digest asked for before parsing), tag lists at 1 MiB, and a blob at the size its
descriptor gives (passed in, or remembered from a manifest read here). Blobs stream in both
directions and are never read whole; downloads resume with ``Range`` after a dropped
connection, and a slice of a blob (a safetensors header) is read with ``Range`` alone;
uploads and mounts are :mod:`hubsnap.oci.upload`'s, manifest PUTs (and what a refusal for
their blobs is checked with) :mod:`hubsnap.oci.manifestput`'s. Referrers come from the
referrers API or, where a registry lacks it, from the ``sha256-<hex>`` tag schema, which
:meth:`RegistryRepository.put_manifest` maintains for every manifest with a ``subject``
(:mod:`hubsnap.oci.referrers` checks what an index lists).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from hubsnap.canonical import loads_object
from hubsnap.digest import Digest, sha256_bytes
from hubsnap.errors import IntegrityError, NotFoundError, RemoteError, UsageError
from hubsnap.http import fetch_range, iter_resumable, range_header, read_capped
from hubsnap.http.types import QueryParams, Response
from hubsnap.models import (
    MAX_MANIFEST_BYTES,
    MEDIA_TYPE_IMAGE_INDEX,
    MEDIA_TYPE_IMAGE_MANIFEST,
    Descriptor,
    Manifest,
)
from hubsnap.oci.auth import repository_scope
from hubsnap.oci.client import BodyFactory, RegistryClient, check_status
from hubsnap.oci.manifestput import ManifestPuts
from hubsnap.oci.reference import RegistryReference
from hubsnap.oci.referrers import index_descriptors, merge_into_tag_index, referrers_tag
from hubsnap.oci.repository import ManifestCache, Repository, VerifiedManifest, check_range
from hubsnap.oci.upload import BlobUploads
from hubsnap.progress import Progress

__all__ = ["RegistryRepository", "referrers_tag"]

_MANIFEST_ACCEPT = ", ".join(
    (
        MEDIA_TYPE_IMAGE_MANIFEST,
        MEDIA_TYPE_IMAGE_INDEX,
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    )
)
# A tag list is a small JSON object; more than this is not a registry answering honestly.
_MAX_TAG_LIST_BYTES = 1024 * 1024
_MANIFEST_LIMIT = "the 4 MiB manifest limit"
_LENGTH = re.compile(r"^[0-9]{1,19}$", re.ASCII)
#: Sizes remembered from manifests read, to stop blob reads that run past them.
_MAX_KNOWN_SIZES = 100_000
# Tags of the referrers tag schema: listed by a registry, never a manifest of their own.
_REFERRER_TAG = re.compile(r"^sha256-[0-9a-f]{64}")


def _parse_manifest(data: bytes, digest: Digest, where: str) -> Manifest:
    """Manifest bytes from a registry, checked against ``digest``; bad content is exit 6."""
    try:
        return Manifest.from_bytes(data, digest)
    except UsageError as e:  # e.g. a malformed digest inside it
        raise IntegrityError(f"malformed manifest {digest} from {where}: {e.message}") from e


class RegistryRepository:
    """:class:`hubsnap.oci.repository.Repository` over one repository of a registry.

    ``owns_client``: whether :meth:`close` closes the client (a session shares one client
    among every repository of a registry and closes it itself); ``cache`` holds the verified
    manifests read, shared by the repositories one command opens.
    """

    def __init__(
        self,
        client: RegistryClient,
        repository: str,
        *,
        cache: ManifestCache | None = None,
        owns_client: bool = True,
    ) -> None:
        self.client = client
        self.repository = repository
        self._cache = cache if cache is not None else ManifestCache()
        self._owns_client = owns_client
        self._pull: tuple[str, ...] = (repository_scope(repository, "pull"),)
        self._push: tuple[str, ...] = (repository_scope(repository, "pull,push"),)
        self._sizes: dict[Digest, int] = {}
        self._uploads = BlobUploads(client, repository, self.describe())
        self._puts = ManifestPuts(client, repository, self.describe(), self.has_blob)

    @property
    def registry(self) -> str:
        return self.client.registry

    @property
    def name(self) -> str:
        return self.repository

    def describe(self) -> str:
        return f"{self.client.registry}/{self.repository}"

    def require(self) -> None:
        """Nothing to check before a read: the registry answers each one."""

    def writing(self) -> contextlib.AbstractContextManager[None]:
        """No guard: a registry keeps nothing of a copy that failed before its manifest."""
        return contextlib.nullcontext()

    def close(self) -> None:
        """Close the client's connections, when this repository owns the client."""
        if self._owns_client:
            self.client.close()

    def sibling(self, name: str) -> Repository:
        """Another repository on the same registry, over the same client and cache."""
        return RegistryRepository(self.client, name, cache=self._cache, owns_client=False)

    def reference(self, *, tag: str | None = None, digest: Digest | None = None) -> str:
        """A reference into this repository, as a user would write it."""
        return str(RegistryReference(self.client.registry, self.repository, tag, digest))

    def _url(self, kind: str, reference: str) -> str:
        return self.client.url(f"/v2/{self.repository}/{kind}/{reference}")

    # -- manifests ----------------------------------------------------------------------------

    def _fetch_manifest(self, reference: str) -> tuple[bytes, str]:
        """Raw manifest bytes (at most the cap + 1 read) and the media type they came as."""
        what = f"manifest {self.describe()}:{reference}"
        deadline = self.client.deadline()
        response = self.client.request(
            "GET",
            self._url("manifests", reference),
            scope=self._pull,
            headers={"Accept": _MANIFEST_ACCEPT},
            stream=True,
            deadline=deadline,
        )
        with contextlib.closing(response):
            check_status(response, what, (200,))
            data = read_capped(
                response, MAX_MANIFEST_BYTES, what, deadline=deadline,
                error=IntegrityError, limit_text=_MANIFEST_LIMIT, decode=False,
            )  # fmt: skip
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return data, media_type

    def tags(self, limit: int) -> list[str]:
        """Up to ``limit`` of the repository's tags; none if the repository does not exist."""
        what = f"tags of {self.describe()}"
        url = f"{self._url('tags', 'list')}?n={limit}"
        deadline = self.client.deadline()
        response = self.client.request("GET", url, scope=self._pull, stream=True, deadline=deadline)
        with contextlib.closing(response):
            if response.status_code == 404:
                return []
            check_status(response, what, (200,))
            data = read_capped(
                response, _MAX_TAG_LIST_BYTES, what, deadline=deadline,
                error=IntegrityError, decode=False,
            )  # fmt: skip
        try:
            tags = loads_object(data, "tag list").get("tags") or []
        except (ValueError, RecursionError) as e:
            raise IntegrityError(f"{self.describe()} sent a malformed tag list: {e}") from e
        if not isinstance(tags, list):
            raise IntegrityError(f"{self.describe()} sent a malformed tag list")
        return [t for t in tags if isinstance(t, str)][:limit]

    def resolve(self, reference: str | Digest) -> Descriptor:
        """Ask the registry (always: this is how a caller learns the repository holds it);
        an image manifest read here is kept, so reading it next costs no request."""
        data, media_type = self._fetch_manifest(str(reference))
        digest = sha256_bytes(data)
        if isinstance(reference, Digest) and digest != reference:
            raise IntegrityError(
                f"manifest digest mismatch: asked for {reference}, got {digest}",
                hint=f"{self.describe()} served bytes that do not match the digest",
            )
        artifact_type = None
        if media_type in ("", MEDIA_TYPE_IMAGE_MANIFEST):
            manifest = self._remember_sizes(_parse_manifest(data, digest, self.describe()))
            self._cache.put(VerifiedManifest(digest, data, manifest))
            media_type = manifest.media_type
            artifact_type = manifest.artifact_type or manifest.config.media_type
        return Descriptor(media_type, digest, len(data), {}, artifact_type)

    def manifest(self, digest: Digest) -> VerifiedManifest:
        cached = self._cache.get(digest)
        if cached is not None:
            self._remember_sizes(cached.manifest)
            return cached
        data, _ = self._fetch_manifest(str(digest))
        manifest = self._remember_sizes(_parse_manifest(data, digest, self.describe()))
        return self._cache.put(VerifiedManifest(digest, data, manifest))

    def manifests(self, limit: int) -> list[Descriptor]:
        """The tagged manifests (referrer tags left out), each resolved; one deleted between
        the listing and its read is skipped."""
        # Referrer tags (sha256-<hex>) are listed too; ask for enough to keep ``limit`` others.
        named = [t for t in self.tags(limit * 4) if not _REFERRER_TAG.match(t)][:limit]
        found: list[Descriptor] = []
        for tag in named:
            try:
                found.append(self.resolve(tag))
            except NotFoundError:
                continue
        return found

    def _remember_sizes(self, manifest: Manifest) -> Manifest:
        """Note the sizes ``manifest`` gives its blobs: reads of them stop there."""
        if len(self._sizes) < _MAX_KNOWN_SIZES:
            for blob in (manifest.config, *manifest.layers):
                self._sizes.setdefault(blob.digest, blob.size)
        return manifest

    def put_manifest(self, data: bytes, tag: str | None = None) -> Digest:
        manifest = Manifest.from_bytes(data)
        digest, indexed_by_registry = self._puts.put(data, manifest, tag)
        if manifest.subject is not None and not indexed_by_registry:
            descriptor = Descriptor(
                manifest.media_type,
                digest,
                len(data),
                dict(manifest.annotations),
                manifest.artifact_type or manifest.config.media_type,
            )
            self._add_to_referrers_index(manifest.subject.digest, descriptor)
        return digest

    # -- blobs --------------------------------------------------------------------------------

    def has_blob(self, digest: Digest, size: int | None = None) -> bool:
        what = f"blob {digest} in {self.describe()}"
        response = self.client.request(
            "HEAD", self._url("blobs", str(digest)), scope=self._pull,
            deadline=self.client.deadline(),
        )  # fmt: skip
        with contextlib.closing(response):
            if response.status_code == 404:
                return False
            check_status(response, what, (200,))
            length = response.headers.get("Content-Length")
        if size is None or length is None:
            return True
        if not _LENGTH.match(length.strip()):
            raise RemoteError(f"{what}: the registry sent an invalid Content-Length")
        return int(length) == size

    def iter_blob(
        self, digest: Digest, progress: Progress | None = None, *, size: int | None = None
    ) -> Iterator[bytes]:
        """Stream a blob; a dropped connection resumes with ``Range`` where the server allows,
        otherwise restarts and skips what was already delivered. Callers hash what they keep.

        The stream stops with :class:`IntegrityError` (6) as soon as it passes ``size`` (by
        default the size a manifest read from this repository gave the blob), and with
        :class:`RemoteError` (5) when it moves slower than the transport's rate floor.
        """
        what = f"blob {digest} from {self.describe()}"
        expected = size if size is not None else self._sizes.get(digest)
        chunks = iter_resumable(
            lambda start: self._open_blob(digest, start, what),
            what=what,
            policy=self.client.options.retry,
            size=expected,
            floor_window=self.client.options.timeout,
            decode=False,  # a blob is the bytes as stored, even if labelled gzip
        )
        for chunk in chunks:
            if progress is not None:
                progress.advance(len(chunk))
            yield chunk

    def _open_blob(self, digest: Digest, start: int, what: str) -> Response:
        headers = {"Range": f"bytes={start}-"} if start else {}
        response = self.client.request(
            "GET", self._url("blobs", str(digest)), scope=self._pull, headers=headers,
            stream=True,
        )  # fmt: skip
        check_status(response, what, (200, 206))
        return response

    def read_blob_range(
        self,
        digest: Digest,
        start: int,
        length: int,
        *,
        size: int,
        progress: Progress | None = None,
    ) -> bytes:
        """One ``Range`` request (see :func:`hubsnap.http.fetch_range`: a registry that
        ignores ``Range`` is read to the range's end, no further). Unverified: see the
        protocol."""
        check_range(start, length, size)
        if length == 0:
            return b""
        what = f"bytes {start}-{start + length - 1} of blob {digest} from {self.describe()}"
        deadline = self.client.deadline()

        def open_range() -> Response:
            response = self.client.request(
                "GET", self._url("blobs", str(digest)), scope=self._pull,
                headers={"Range": range_header(start, length)}, stream=True, deadline=deadline,
            )  # fmt: skip
            if response.status_code == 416:
                response.close()
                raise IntegrityError(f"{what}: the blob is not the {size} bytes it should be")
            check_status(response, what, (200, 206))
            return response

        span = fetch_range(open_range, start, length, what=what, total=size,
                           policy=self.client.options.retry, deadline=deadline)  # fmt: skip
        if progress is not None:
            progress.advance(span.received)
        return span.data

    def copy_blob(self, digest: Digest, size: int) -> Iterator[bytes]:
        return self.iter_blob(digest, size=size)

    def get_blob_bytes(self, digest: Digest, limit: int) -> bytes:
        data = bytearray()
        for chunk in self.iter_blob(digest):
            data += chunk
            if len(data) > limit:
                raise IntegrityError(f"blob {digest} is larger than {limit} bytes")
        if sha256_bytes(bytes(data)) != digest:
            raise IntegrityError(f"blob {digest} from {self.describe()}: digest mismatch")
        return bytes(data)

    def put_blob_bytes(self, data: bytes) -> Digest:
        digest = sha256_bytes(data)
        if not self.has_blob(digest, len(data)):
            self.upload_blob(digest, len(data), lambda: [data])
        return digest

    def mount_blob(self, digest: Digest, source_repository: str) -> bool:
        """Link a blob from another repository (see :meth:`.BlobUploads.mount`)."""
        return self._uploads.mount(digest, source_repository)

    def upload_blob(
        self, digest: Digest, size: int, open_body: BodyFactory, progress: Progress | None = None
    ) -> None:
        """Send a blob (see :meth:`.BlobUploads.upload`)."""
        self._uploads.upload(digest, size, open_body, progress)

    write_blob = upload_blob

    # -- referrers ----------------------------------------------------------------------------

    def referrers(self, subject: Digest, artifact_type: str | None = None) -> list[Descriptor]:
        url = self._url("referrers", str(subject))
        if artifact_type:
            url += "?" + str(QueryParams({"artifactType": artifact_type}))
        what = f"referrers of {subject} in {self.describe()}"
        deadline = self.client.deadline()
        response = self.client.request(
            "GET", url, scope=self._pull, headers={"Accept": MEDIA_TYPE_IMAGE_INDEX},
            stream=True, deadline=deadline,
        )  # fmt: skip
        with contextlib.closing(response):
            missing = response.status_code == 404
            if not missing:
                check_status(response, what, (200,))
                data = read_capped(
                    response, MAX_MANIFEST_BYTES, what, deadline=deadline,
                    error=IntegrityError, limit_text=_MANIFEST_LIMIT, decode=False,
                )  # fmt: skip
        if missing:  # no referrers API: the tag schema
            found = self._referrers_index(subject)
        else:
            found = index_descriptors(data, subject, "referrers index")
        if artifact_type:  # servers may ignore the filter; apply it here regardless
            found = [d for d in found if d.artifact_type == artifact_type]
        return found

    def _referrers_index(self, subject: Digest) -> list[Descriptor]:
        try:
            data, _ = self._fetch_manifest(referrers_tag(subject))
        except NotFoundError:
            return []
        return index_descriptors(data, subject, f"referrers index {referrers_tag(subject)}")

    def _add_to_referrers_index(self, subject: Digest, descriptor: Descriptor) -> None:
        tag = referrers_tag(subject)
        merge_into_tag_index(
            lambda: self._referrers_index(subject),
            lambda data: self._puts.put_bytes(data, MEDIA_TYPE_IMAGE_INDEX, tag),
            descriptor,
            f"{self.describe()}:{tag}",
        )
