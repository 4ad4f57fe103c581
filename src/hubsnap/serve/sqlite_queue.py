"""The embedded job queue: SQLite under ``HUBSNAP_HOME``, run by the server's own workers.

Enqueueing is one ``INSERT OR IGNORE`` on the job id (the hash of its key) in one
transaction, so a key pending, running or done adds nothing; a failed key is queued again.
``ref_tags`` records which commit each ref tag was last set to: a done job is run again (a
no-op for push and sign, then tagging) only when an event brings a ref whose tag is not at
its commit yet, such as a second ref created on a commit already mirrored.
A claimed job is ``running``; one that fails is retried with backoff until
:data:`MAX_ATTEMPTS`, then ``failed``. One server owns a queue at a time (an exclusive lock
on ``serve.lock``), so at start-up every ``running`` job is one a killed server left behind
and goes back to ``pending``. Leases (on a subject digest around check-then-sign) expire by
themselves, so a killed holder cannot block others for longer than :data:`LEASE_SECONDS`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from hubsnap.errors import RemoteError, UsageError
from hubsnap.serve.jobs import JobSpec, JobState

__all__ = ["LEASE_SECONDS", "MAX_ATTEMPTS", "Claimed", "SqliteQueue", "backoff"]

MAX_ATTEMPTS = 4
LEASE_SECONDS = 120.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, repo TEXT NOT NULL, commit_sha TEXT NOT NULL,
    selection TEXT NOT NULL, ref TEXT, state TEXT NOT NULL, attempts INTEGER NOT NULL,
    not_before REAL NOT NULL, created REAL NOT NULL, updated REAL NOT NULL, error TEXT
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, not_before);
CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, owner TEXT NOT NULL, until REAL);
CREATE TABLE IF NOT EXISTS names (destination TEXT PRIMARY KEY, repo TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ref_tags (
    repo TEXT NOT NULL, selection TEXT NOT NULL, ref TEXT NOT NULL, commit_sha TEXT NOT NULL,
    PRIMARY KEY (repo, selection, ref)
);
"""


def backoff(attempts: int) -> float:
    """Seconds before attempt ``attempts + 1``: 5 s, 20 s, 80 s, ... capped at 10 min."""
    return float(min(600, 5 * 4 ** max(0, attempts - 1)))


@dataclass(frozen=True)
class Claimed:
    spec: JobSpec
    attempts: int


class SqliteQueue:
    """Jobs, leases and destination names in one SQLite file; safe across threads."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._lock_file = os.open(directory / "serve.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_file)
            raise UsageError(
                f"another hubsnap serve uses {directory}", hint="set a different HUBSNAP_HOME"
            ) from None
        self._db = sqlite3.connect(
            directory / "jobs.sqlite", isolation_level=None, check_same_thread=False
        )
        self._mutex = threading.Lock()
        self.wakeup = threading.Event()
        with self._mutex:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
            # Whatever ran under a server that is gone now runs again.
            self._db.execute(
                "UPDATE jobs SET state = ?, not_before = 0 WHERE state = ?",
                (JobState.PENDING, JobState.RUNNING),
            )
            self._db.execute("DELETE FROM leases")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._mutex:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def enqueue(self, spec: JobSpec) -> bool:
        """Queue ``spec`` unless its key is known; ``True`` if that queued work."""
        now = time.time()
        with self._transaction() as db:
            added = db.execute(
                "INSERT OR IGNORE INTO jobs VALUES (?, ?, ?, ?, ?, ?, 0, 0, ?, ?, NULL)",
                (spec.id, spec.repo_id, spec.commit, spec.selection, spec.ref,
                 JobState.PENDING, now, now),
            ).rowcount == 1  # fmt: skip
            if not added:
                added = db.execute(
                    "UPDATE jobs SET state = ?, attempts = 0, not_before = 0, updated = ?,"
                    " ref = ? WHERE id = ? AND state = ?",
                    (JobState.PENDING, now, spec.ref, spec.id, JobState.FAILED),
                ).rowcount == 1  # fmt: skip
            if not added and spec.ref is not None and not self._tag_at(db, spec):
                added = db.execute(
                    "UPDATE jobs SET state = ?, attempts = 0, not_before = 0, updated = ?,"
                    " ref = ? WHERE id = ? AND state = ?",
                    (JobState.PENDING, now, spec.ref, spec.id, JobState.DONE),
                ).rowcount == 1  # fmt: skip
        if added:
            self.wakeup.set()
        return added

    @staticmethod
    def _tag_at(db: sqlite3.Connection, spec: JobSpec) -> bool:
        row = db.execute(
            "SELECT commit_sha FROM ref_tags WHERE repo = ? AND selection = ? AND ref = ?",
            (spec.repo_id, spec.selection, spec.ref),
        ).fetchone()
        return row is not None and row[0] == spec.commit

    def claim(self) -> Claimed | None:
        """The oldest pending job that may run now, marked running; ``None`` if none."""
        now = time.time()
        with self._transaction() as db:
            row = db.execute(
                "SELECT id, repo, commit_sha, selection, ref, attempts FROM jobs"
                " WHERE state = ? AND not_before <= ? ORDER BY created LIMIT 1",
                (JobState.PENDING, now),
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE jobs SET state = ?, attempts = attempts + 1, updated = ? WHERE id = ?",
                (JobState.RUNNING, now, row[0]),
            )
        return Claimed(JobSpec(row[1], row[2], row[3], row[4]), row[5] + 1)

    def finish(self, spec: JobSpec, refs: Sequence[str] = ()) -> None:
        """``spec`` is done; the tags of ``refs`` now name its commit."""
        with self._transaction() as db:
            db.execute(
                "UPDATE jobs SET state = ?, updated = ?, error = NULL WHERE id = ?",
                (JobState.DONE, time.time(), spec.id),
            )
            db.executemany(
                "INSERT OR REPLACE INTO ref_tags VALUES (?, ?, ?, ?)",
                [(spec.repo_id, spec.selection, ref, spec.commit) for ref in refs],
            )

    def skip(self, job_id: str, reason: str) -> None:
        """The job had nothing to mirror: final, and no event reopens it."""
        with self._transaction() as db:
            db.execute(
                "UPDATE jobs SET state = ?, updated = ?, error = ? WHERE id = ?",
                (JobState.SKIPPED, time.time(), reason[:500], job_id),
            )

    def fail(self, job_id: str, attempts: int, reason: str, *, permanent: bool = False) -> JobState:
        """Retry later with backoff, or give up: after :data:`MAX_ATTEMPTS`, or at once when
        the failure is ``permanent`` (retrying cannot change it)."""
        now = time.time()
        state = JobState.FAILED if permanent or attempts >= MAX_ATTEMPTS else JobState.PENDING
        with self._transaction() as db:
            db.execute(
                "UPDATE jobs SET state = ?, not_before = ?, updated = ?, error = ? WHERE id = ?",
                (state, now + backoff(attempts), now, reason[:500], job_id),
            )
        return state

    def state(self, job_id: str) -> JobState | None:
        with self._mutex:
            row = self._db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return JobState(row[0]) if row else None

    def depth(self) -> int:
        with self._mutex:
            row = self._db.execute(
                "SELECT COUNT(*) FROM jobs WHERE state IN (?, ?)",
                (JobState.PENDING, JobState.RUNNING),
            ).fetchone()
        return int(row[0])

    def oldest_pending_age(self) -> float:
        with self._mutex:
            row = self._db.execute(
                "SELECT MIN(created) FROM jobs WHERE state IN (?, ?)",
                (JobState.PENDING, JobState.RUNNING),
            ).fetchone()
        return max(0.0, time.time() - row[0]) if row[0] is not None else 0.0

    def claim_name(self, destination: str, repo_id: str) -> bool:
        """Bind ``destination`` to ``repo_id``; ``False`` if another Hub id holds it."""
        with self._transaction() as db:
            db.execute("INSERT OR IGNORE INTO names VALUES (?, ?)", (destination, repo_id))
            row = db.execute(
                "SELECT repo FROM names WHERE destination = ?", (destination,)
            ).fetchone()
        return bool(row[0] == repo_id)

    @contextlib.contextmanager
    def hold(self, name: str) -> Iterator[None]:
        """An exclusive lease on ``name``, waited for (up to the lease time)."""
        owner = uuid.uuid4().hex
        deadline = time.monotonic() + LEASE_SECONDS
        while True:
            now = time.time()
            with self._transaction() as db:
                db.execute("DELETE FROM leases WHERE name = ? AND until < ?", (name, now))
                got = db.execute(
                    "INSERT OR IGNORE INTO leases VALUES (?, ?, ?)",
                    (name, owner, now + LEASE_SECONDS),
                ).rowcount == 1  # fmt: skip
            if got:
                break
            if time.monotonic() > deadline:
                raise RemoteError(f"lease on {name} not granted within {LEASE_SECONDS:.0f} s")
            time.sleep(0.1)
        try:
            yield
        finally:
            with self._transaction() as db:
                db.execute("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))

    def close(self) -> None:
        with self._mutex:
            self._db.close()
        os.close(self._lock_file)
