"""The ``store`` verbs: list, remove, collect garbage, verify and tag the local store.

What each does to the layout lives in :mod:`hubsnap.oci.storeops` and
:mod:`hubsnap.oci.storecheck`; here the session's store is opened and the results are shaped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hubsnap.api.session import Session
from hubsnap.digest import Digest
from hubsnap.errors import UsageError
from hubsnap.oci.storecheck import StoreCheck, verify_store
from hubsnap.oci.storeops import (
    Deleted,
    Removal,
    StoredArtifact,
    collect_garbage,
    list_artifacts,
    plan_removal,
    remove,
    select,
    tag_artifact,
)

__all__ = [
    "GcResult",
    "RemoveResult",
    "StoreListing",
    "TagResult",
    "store_gc",
    "store_list",
    "store_remove",
    "store_tag",
    "store_verify",
]


@dataclass(frozen=True)
class StoreListing:
    store: str
    artifacts: tuple[StoredArtifact, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "artifacts": [a.to_json() for a in self.artifacts],
            "size": sum(a.size for a in self.artifacts),
        }


def _blobs_json(deleted: Deleted) -> list[dict[str, Any]]:
    return [{"digest": str(d), "size": size} for d, size in deleted.blobs]


@dataclass(frozen=True)
class RemoveResult:
    store: str
    removal: Removal
    deleted: Deleted
    dry_run: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "artifacts": [str(d) for d in self.removal.artifacts],
            "referrers": [str(d) for d in self.removal.referrers],
            "blobs": _blobs_json(self.deleted),
            "bytes": self.deleted.bytes,
            "dry_run": self.dry_run,
        }


@dataclass(frozen=True)
class GcResult:
    store: str
    deleted: Deleted
    dry_run: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "blobs": _blobs_json(self.deleted),
            "bytes": self.deleted.bytes,
            "swept": self.deleted.swept,
            "dry_run": self.dry_run,
        }


@dataclass(frozen=True)
class TagResult:
    store: str
    digest: Digest
    tag: str

    def to_json(self) -> dict[str, Any]:
        return {"store": self.store, "digest": str(self.digest), "tag": self.tag}


def store_list(session: Session) -> StoreListing:
    """The artifacts of the local store (empty when there is no store yet)."""
    repository = session.local_store(create=True)
    store = repository.store
    found = list_artifacts(store, session.settings.hub_url) if store.exists() else []
    return StoreListing(str(store.root), tuple(found))


def store_remove(
    session: Session,
    selectors: Sequence[str],
    *,
    dry_run: bool = False,
    confirm: Callable[[Removal], bool] | None = None,
    wait: float = 30.0,
) -> RemoveResult | None:
    """Remove the artifacts ``selectors`` name with their referrers and the blobs only they
    used; ``confirm`` sees the plan first and may decline (then ``None``)."""
    if not selectors:
        raise UsageError("name at least one artifact to remove", hint="see hubsnap store ls")
    store = session.local_store().store
    chosen: list[Digest] = []
    for text in selectors:
        chosen += select(store, text, session.settings.hub_url)
    removal = plan_removal(store, chosen)
    if not dry_run and confirm is not None and not confirm(removal):
        return None
    deleted = remove(store, removal, dry_run=dry_run, wait=wait)
    return RemoveResult(str(store.root), removal, deleted, dry_run)


def store_gc(session: Session, *, dry_run: bool = False, wait: float = 30.0) -> GcResult:
    """Delete the blobs no artifact or referrer in the store uses."""
    store = session.local_store().store
    return GcResult(str(store.root), collect_garbage(store, dry_run=dry_run, wait=wait), dry_run)


def store_verify(session: Session, progress: Callable[[int], None] | None = None) -> StoreCheck:
    """Re-hash every blob of the local store."""
    return verify_store(session.local_store().store, session.settings.hub_url, progress)


def store_tag(session: Session, selector: str, name: str) -> TagResult:
    """Tag the one artifact ``selector`` names as ``name``."""
    store = session.local_store().store
    found = select(store, selector, session.settings.hub_url)
    if len(found) > 1:
        raise UsageError(
            f"{selector} names {len(found)} artifacts: {', '.join(map(str, found))}",
            hint="name one by its digest",
        )
    tag_artifact(store, found[0], name)
    return TagResult(str(store.root), found[0], name)
