"""``store verify``: re-hash every blob of the local store and name the damaged ones.

A layer whose manifest records its BLAKE3 (``dev.hubsnap.file.blake3``, written when the file
was first hashed) is re-checked with BLAKE3, several times faster than SHA-256 and spread over
the cores; every other blob (manifests, configs, foreign layers) is re-hashed with SHA-256.
The record is trusted because the manifest holding it is itself checked by SHA-256 first.
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hubsnap.digest import Digest, file_blake3, file_sha256
from hubsnap.errors import IntegrityError, UsageError
from hubsnap.models import ANNOTATION_BLAKE3
from hubsnap.oci.layout import LayoutStore
from hubsnap.oci.storeops import list_artifacts, reached_blobs

__all__ = ["BlobCheck", "StoreCheck", "verify_store"]


@dataclass(frozen=True)
class BlobCheck:
    """A damaged blob: what it should hash to, what was found, which artifacts use it."""

    digest: Digest
    path: str
    problem: str
    used_by: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "digest": str(self.digest),
            "path": self.path,
            "problem": self.problem,
            "used_by": list(self.used_by),
        }


@dataclass(frozen=True)
class StoreCheck:
    """``blobs`` checked (``blake3`` of them by BLAKE3), ``bytes`` read, ``damaged`` found."""

    store: str
    blobs: int
    blake3: int
    bytes: int
    damaged: tuple[BlobCheck, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "blobs": self.blobs,
            "blake3": self.blake3,
            "bytes": self.bytes,
            "damaged": [d.to_json() for d in self.damaged],
        }


def _users(
    store: LayoutStore, hub_url: str | None
) -> tuple[dict[Digest, str], dict[Digest, list[str]]]:
    """The BLAKE3 each layer should have, and the artifacts (``REPO@REV`` or digest) using
    each blob."""
    recorded: dict[Digest, str] = {}
    users: dict[Digest, list[str]] = {}
    for item in list_artifacts(store, hub_url):
        name = f"{item.repo}@{item.revision}" if item.repo and item.revision else str(item.digest)
        for blob in reached_blobs(store, [item.digest, *item.referrers]):
            users.setdefault(blob, []).append(name)
        try:
            _, manifest = store.read_manifest(item.digest)
        except IntegrityError:
            continue
        for layer in manifest.layers:
            value = layer.annotations.get(ANNOTATION_BLAKE3, "")
            if value.startswith("blake3:"):
                recorded[layer.digest] = value.removeprefix("blake3:")
    return recorded, users


def verify_store(
    store: LayoutStore,
    hub_url: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> StoreCheck:
    """Re-hash every blob; damaged ones are reported, never deleted."""
    store.require()
    recorded, users = _users(store, hub_url)
    folder = store.root / "blobs" / "sha256"
    damaged: list[BlobCheck] = []
    checked = by_blake3 = total = 0
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        try:
            digest = Digest.sha256(path.name)
        except UsageError:
            continue
        info = path.lstat()
        who = tuple(dict.fromkeys(users.get(digest, [])))
        if not stat.S_ISREG(info.st_mode):
            damaged.append(BlobCheck(digest, str(path), "not a regular file", who))
            continue
        checked += 1
        total += info.st_size
        with path.open("rb") as stream:
            if digest in recorded:
                by_blake3 += 1
                ok = file_blake3(stream) == recorded[digest]
            else:
                ok = file_sha256(stream) == digest
        if progress is not None:
            progress(info.st_size)
        if not ok:
            damaged.append(BlobCheck(digest, str(path), "content does not match its digest", who))
    return StoreCheck(str(store.root), checked, by_blake3, total, tuple(damaged))
