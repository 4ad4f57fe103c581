"""What the Hub's answers mean to hubsnap: typed, checked values parsed from its JSON.

Every file name is checked as a safe relative path here, before any caller can write
anything; timestamps are normalised to ``YYYY-MM-DDTHH:MM:SSZ`` or dropped when they cannot
be (a year-1 date with an offset, say), never allowed to crash a caller.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hubsnap.errors import IntegrityError, NotFoundError, RemoteError
from hubsnap.fsutil import check_relative_path

__all__ = [
    "HubFile",
    "RepoRevision",
    "check_repo_id",
    "hub_timestamp",
    "is_commit",
    "parse_siblings",
]

_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


@dataclass(frozen=True)
class HubFile:
    """One file of a commit as the Hub lists it.

    ``lfs_sha256`` is the Hub's ``lfs.sha256`` for files stored in Git LFS and ``None`` for
    plain git files, which are verified by their git blob id (``blob_id``) instead.
    """

    path: str
    size: int
    blob_id: str
    lfs_sha256: str | None = None

    @property
    def lfs(self) -> bool:
        return self.lfs_sha256 is not None


@dataclass(frozen=True)
class RepoRevision:
    """A model revision resolved to its commit; ``card_data`` is ``{}`` without a card."""

    repo_id: str
    requested: str
    commit: str
    files: tuple[HubFile, ...]
    card_data: Mapping[str, Any] = field(default_factory=dict)
    private: bool = False
    gated: bool = False


def is_commit(text: object) -> bool:
    return isinstance(text, str) and _COMMIT.match(text) is not None


def hub_timestamp(value: object) -> str | None:
    """A Hub timestamp as ``YYYY-MM-DDTHH:MM:SSZ`` (seconds, UTC), ``None`` if absent or
    not representable (``0001-01-01T00:00:00+01:00`` falls before year 1 in UTC)."""
    if not isinstance(value, str) or not value or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        utc = parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    # isoformat, unlike strftime("%Y"), keeps four year digits for years before 1000.
    return utc.replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def check_repo_id(repo_id: str) -> None:
    if not _REPO_ID.match(repo_id) or ".." in repo_id:
        raise NotFoundError(
            f"invalid repository id {repo_id!r}", hint="use OWNER/NAME, e.g. org/model"
        )


def parse_siblings(siblings: list[Any], what: str) -> tuple[HubFile, ...]:
    files: dict[str, HubFile] = {}
    for entry in siblings:
        if not isinstance(entry, dict) or not isinstance(entry.get("rfilename"), str):
            raise RemoteError(f"{what}: malformed file entry in the Hub's listing")
        path = entry["rfilename"]
        check_relative_path(path, "Hub file name")
        if path in files:
            raise IntegrityError(f"{what}: the Hub lists {path!r} twice")
        lfs = entry.get("lfs")
        size = entry.get("size")
        blob_id = entry.get("blobId")
        lfs_sha256 = None
        if isinstance(lfs, dict):
            lfs_sha256 = lfs.get("sha256") or lfs.get("oid")
            size = lfs.get("size", size)
            if not isinstance(lfs_sha256, str) or not _SHA256.match(lfs_sha256):
                raise RemoteError(f"{what}: no valid lfs.sha256 for {path!r}")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise RemoteError(f"{what}: no valid size for {path!r}", hint="is this a Hub?")
        if not isinstance(blob_id, str) or not _COMMIT.match(blob_id):
            raise RemoteError(f"{what}: no valid blobId for {path!r}", hint="is this a Hub?")
        files[path] = HubFile(path, size, blob_id, lfs_sha256)
    return tuple(files[p] for p in sorted(files))
