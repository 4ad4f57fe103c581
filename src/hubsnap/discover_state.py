"""What ``discover`` remembers between runs, in one SQLite file under ``HUBSNAP_HOME``.

Listing pages by URL with their ETag, so a repeated listing is fetched with
``If-None-Match`` and a 304 reuses the stored page; per query, the newest ``lastModified``
shown by the previous ``--incremental`` run; and for ``--like``, what each model card
contributes to its model's text (by repository and commit: a card changes only with a new
commit) and the text embeddings (by embedder manifest digest and the text's SHA-256).
SQLite is the embedded default because it is in the standard library, survives crashes and
serialises concurrent runs.

It is a cache: a file that is not a readable SQLite database (corrupt, truncated, another
file's bytes) is replaced by an empty one, at the cost of one listing fetched afresh, of
the incremental watermarks (the next ``--incremental`` run starts over) and of the cards and
embeddings kept. A path that cannot
hold a database at all is one line and exit 2.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType

from hubsnap.errors import UsageError
from hubsnap.hublist import CachedPage

__all__ = ["DiscoverState"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pages (
    url TEXT PRIMARY KEY,
    etag TEXT NOT NULL,
    body BLOB NOT NULL,
    next_url TEXT
);
CREATE TABLE IF NOT EXISTS watermarks (
    query TEXT PRIMARY KEY,
    last_modified TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cards (
    repo_id TEXT PRIMARY KEY,
    sha TEXT NOT NULL,
    text TEXT NOT NULL,
    note TEXT
);
CREATE TABLE IF NOT EXISTS embeddings (
    embedder TEXT NOT NULL,
    text_sha256 TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (embedder, text_sha256)
);
"""
_TABLES = ("pages", "watermarks", "cards", "embeddings")


def _open(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        db.executescript(_SCHEMA)
        for table in _TABLES:
            db.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608 - constants
    except BaseException:
        db.close()
        raise
    return db


def _discard(path: Path) -> None:
    """Remove a cache file that is not a database, with its journal files."""
    for name in (path, *(path.with_name(path.name + s) for s in ("-journal", "-wal", "-shm"))):
        if name.is_file() or name.is_symlink():
            name.unlink()


class DiscoverState:
    """The page cache and incremental watermarks; use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._db = _open(path)
            except sqlite3.DatabaseError as e:
                if isinstance(e, sqlite3.OperationalError) and "locked" in str(e):
                    raise
                _discard(path)
                self._db = _open(path)
        except (OSError, sqlite3.Error) as e:
            raise UsageError(
                f"cannot use the discover cache {path} ({type(e).__name__})",
                hint="check HUBSNAP_HOME, or delete the file: it is a cache",
            ) from e

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def lookup(self, url: str) -> CachedPage | None:
        row = self._db.execute(
            "SELECT etag, body, next_url FROM pages WHERE url = ?", (url,)
        ).fetchone()
        return CachedPage(row[0], bytes(row[1]), row[2]) if row else None

    def store(self, url: str, page: CachedPage) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO pages (url, etag, body, next_url) VALUES (?, ?, ?, ?)",
                (url, page.etag, page.body, page.next_url),
            )

    def watermark(self, query: str) -> str | None:
        row = self._db.execute(
            "SELECT last_modified FROM watermarks WHERE query = ?", (query,)
        ).fetchone()
        return str(row[0]) if row else None

    def set_watermark(self, query: str, last_modified: str) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO watermarks (query, last_modified) VALUES (?, ?)",
                (query, last_modified),
            )

    def card(self, repo_id: str, sha: str) -> tuple[str, str | None] | None:
        """The text (and note) kept for ``repo_id``'s card at commit ``sha``, if any."""
        row = self._db.execute(
            "SELECT text, note FROM cards WHERE repo_id = ? AND sha = ?", (repo_id, sha)
        ).fetchone()
        return (str(row[0]), row[1]) if row else None

    def store_cards(self, rows: Iterable[tuple[str, str, str, str | None]]) -> None:
        """Keep ``(repo_id, sha, text, note)`` rows, each replacing its repository's older one."""
        with self._transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO cards (repo_id, sha, text, note) VALUES (?, ?, ?, ?)",
                rows,
            )

    def embeddings(self, embedder: str, keys: Iterable[str]) -> dict[str, bytes]:
        """The vectors kept for ``embedder`` of the texts whose SHA-256 are ``keys``."""
        found: dict[str, bytes] = {}
        for key in keys:
            row = self._db.execute(
                "SELECT vector FROM embeddings WHERE embedder = ? AND text_sha256 = ?",
                (embedder, key),
            ).fetchone()
            if row is not None:
                found[key] = bytes(row[0])
        return found

    def store_embeddings(self, embedder: str, rows: Iterable[tuple[str, bytes]]) -> None:
        with self._transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO embeddings (embedder, text_sha256, vector) "
                "VALUES (?, ?, ?)",
                ((embedder, key, vector) for key, vector in rows),
            )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> DiscoverState:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
