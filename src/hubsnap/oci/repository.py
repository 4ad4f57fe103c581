"""What every artifact home offers: the local store and a registry behave the same to callers.

Verbs (push, pull, sign, verify, inspect) talk to a :class:`Repository`; they do not care
whether it is an OCI image layout on disk or a remote registry. Every read is verified
against the digest it was asked by before it is returned.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from hubsnap.digest import Digest
from hubsnap.models import Descriptor, Manifest
from hubsnap.oci.layout import LayoutStore

__all__ = ["LayoutRepository", "Repository"]


class Repository(Protocol):
    """One artifact repository (a registry repository or an OCI layout)."""

    def describe(self) -> str:
        """The repository as a user would write it, e.g. ``localhost:5000/models/minilm``."""
        ...

    def resolve(self, reference: str | Digest) -> Descriptor:
        """Resolve a tag or digest to the manifest's descriptor (digest computed locally)."""
        ...

    def get_manifest(self, digest: Digest) -> tuple[bytes, Manifest]:
        """The manifest's raw bytes, checked against ``digest`` before parsing."""
        ...

    def has_blob(self, digest: Digest, size: int | None = None) -> bool: ...

    def get_blob_bytes(self, digest: Digest, limit: int) -> bytes:
        """A small blob (config, bundle) read whole, verified, at most ``limit`` bytes."""
        ...

    def iter_blob(self, digest: Digest) -> Iterator[bytes]:
        """Stream a blob's bytes; callers hash what they keep."""
        ...

    def put_blob_bytes(self, data: bytes) -> Digest: ...

    def put_manifest(self, data: bytes, tag: str | None = None) -> Digest:
        """Store manifest bytes as given (blobs must be present); returns their digest."""
        ...

    def referrers(self, subject: Digest, artifact_type: str | None = None) -> list[Descriptor]:
        """Manifests whose ``subject`` is ``subject`` (referrers API or tag-schema fallback)."""
        ...


class LayoutRepository:
    """:class:`Repository` over a local OCI image layout."""

    def __init__(self, store: LayoutStore) -> None:
        self.store = store

    def describe(self) -> str:
        return f"oci:{self.store.root}"

    def resolve(self, reference: str | Digest) -> Descriptor:
        if isinstance(reference, Digest):
            return self.store.resolve(digest=reference)
        return self.store.resolve(tag=reference)

    def get_manifest(self, digest: Digest) -> tuple[bytes, Manifest]:
        return self.store.read_manifest(digest)

    def has_blob(self, digest: Digest, size: int | None = None) -> bool:
        return self.store.has_blob(digest, size)

    def get_blob_bytes(self, digest: Digest, limit: int) -> bytes:
        return self.store.read_blob(digest, limit=limit)

    def iter_blob(self, digest: Digest) -> Iterator[bytes]:
        return self.store.iter_blob(digest)

    def put_blob_bytes(self, data: bytes) -> Digest:
        return self.store.put_bytes(data)

    def put_manifest(self, data: bytes, tag: str | None = None) -> Digest:
        return self.store.put_manifest(data, tag=tag).digest

    def referrers(self, subject: Digest, artifact_type: str | None = None) -> list[Descriptor]:
        return self.store.referrers(subject, artifact_type)
