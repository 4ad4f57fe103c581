"""Where blobs were last seen: registry host → digest → repositories, a cache for mounts.

A push may ask the registry to link a blob from another of its repositories
(``POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<repo>``) instead of sending its bytes,
but only if it can name a repository that holds the blob. :class:`BlobSightings` remembers,
in a small SQLite file under ``HUBSNAP_HOME``, which repositories a successful push or pull
found each blob in. It is only a hint: an entry may be stale (the blob deleted, access
revoked) and then the mount is declined and the blob uploaded as usual, and the entry
dropped. Every failure to read or write the file is ignored, so that workers sharing (or not
sharing) a home, a read-only home or a corrupt file never fail a transfer; each worker just
mounts less. SQLite serialises concurrent writers with its own file locks.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from hubsnap.digest import Digest

__all__ = ["MAX_CANDIDATES", "BlobSightings"]

#: Repositories tried for one mount before uploading: a stale entry costs one round trip.
MAX_CANDIDATES = 3
_SCHEMA = """
CREATE TABLE IF NOT EXISTS sightings (
    registry TEXT NOT NULL,
    digest TEXT NOT NULL,
    repository TEXT NOT NULL,
    seen REAL NOT NULL,
    PRIMARY KEY (registry, digest, repository)
)
"""


class BlobSightings:
    """The sightings file at ``path`` (created on first write)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def _connection(self, *, create: bool) -> Iterator[sqlite3.Connection | None]:
        """A connection, or ``None`` when the file cannot be used (the cache is then empty)."""
        connection: sqlite3.Connection | None = None
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            if create or self.path.is_file():
                connection = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
                connection.execute(_SCHEMA)
        except (OSError, sqlite3.Error):
            if connection is not None:
                connection.close()
            connection = None
        try:
            yield connection
        finally:
            if connection is not None:
                connection.close()

    def record(self, registry: str, repository: str, digests: Iterable[Digest]) -> None:
        """Note that ``registry``/``repository`` holds each of ``digests`` (best effort)."""
        now = time.time()
        rows = [(registry, str(d), repository, now) for d in digests]
        if not rows:
            return
        with contextlib.suppress(sqlite3.Error), self._connection(create=True) as db:
            if db is not None:
                db.executemany("INSERT OR REPLACE INTO sightings VALUES (?, ?, ?, ?)", rows)

    def repositories(self, registry: str, digest: Digest, *, exclude: str = "") -> list[str]:
        """Up to :data:`MAX_CANDIDATES` repositories of ``registry`` that held ``digest``,
        most recently seen first, other than ``exclude``."""
        with contextlib.suppress(sqlite3.Error), self._connection(create=False) as db:
            if db is None:
                return []
            rows = db.execute(
                "SELECT repository FROM sightings WHERE registry = ? AND digest = ? "
                "AND repository != ? ORDER BY seen DESC LIMIT ?",
                (registry, str(digest), exclude, MAX_CANDIDATES),
            ).fetchall()
            return [str(row[0]) for row in rows]
        return []

    def forget(self, registry: str, repository: str, digest: Digest) -> None:
        """Drop a sighting that turned out to be stale (the registry declined the mount)."""
        with contextlib.suppress(sqlite3.Error), self._connection(create=False) as db:
            if db is not None:
                db.execute(
                    "DELETE FROM sightings WHERE registry = ? AND digest = ? AND repository = ?",
                    (registry, str(digest), repository),
                )
