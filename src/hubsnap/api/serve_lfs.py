"""The last step of a ``serve --lfs-repo DIR`` job: the signed artifact as a Git LFS commit.

Every ref tag a job moved gets the artifact committed (:func:`~hubsnap.api.lfs.lfs_commit`)
on the branch ``<owner>/<name>/<ref>`` of the one git repository ``DIR`` (the Hub id keeps
branches of different repositories apart; ``gpt2``'s are ``gpt2/<ref>``). A branch already
ending in that artifact gets nothing, so a job run again adds no second commit.

Several workers may share ``DIR``: each commit runs under an exclusive ``flock`` on the
directory itself (nothing is written into it for the lock, and the kernel drops the lock of a
process that dies), waited for up to :data:`LOCK_WAIT` seconds.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from hubsnap.api.lfs import LfsCommitResult, lfs_commit
from hubsnap.api.session import Session
from hubsnap.api.transfer import push
from hubsnap.errors import RemoteError, UsageError, from_os_error
from hubsnap.oci.reference import LayoutReference

__all__ = ["LOCK_WAIT", "commit_refs", "lfs_branch", "repository_lock", "store_signatures"]

LOCK_WAIT = 600.0
_POLL = 0.05


def lfs_branch(repo_id: str, ref: str) -> str:
    """The branch of ``DIR`` that follows ``ref`` of the Hub repository ``repo_id``."""
    return f"{repo_id}/{ref}"


@contextlib.contextmanager
def repository_lock(directory: Path) -> Iterator[None]:
    """Exclusive use of the git repository ``directory`` (created empty if missing)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as e:
        if e.errno in (errno.ENOTDIR, errno.EEXIST):
            raise UsageError(f"--lfs-repo {directory} is not a directory") from e
        raise from_os_error(e, "open the --lfs-repo directory", directory) from e
    try:
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RemoteError(
                        f"{directory} stayed locked by another job for {LOCK_WAIT:.0f} s"
                    ) from None
                time.sleep(_POLL)
        yield
    finally:
        os.close(fd)  # closing drops the lock


def commit_refs(
    session: Session, reference: str, directory: Path, repo_id: str, refs: Sequence[str]
) -> list[LfsCommitResult]:
    """Commit the artifact ``reference`` on the branch of each ref in ``refs``."""
    branches = [lfs_branch(repo_id, ref) for ref in refs]
    results = []
    with repository_lock(directory):
        for branch in branches:
            try:
                results.append(lfs_commit(session, reference, directory, branch=branch))
            except UsageError as e:
                raise UsageError(f"lfs commit to {directory} ({branch}): {e.message}") from e
    return results


def store_signatures(session: Session, subject: str) -> None:
    """Copy the signatures and provenance the job attached to ``subject`` (in the registry)
    into the local store, beside the artifact the LFS commits name: ``hubsnap lfs verify DIR
    --key`` reads the store, and would otherwise find the artifact unsigned."""
    push(session, subject, str(LayoutReference(session.local_store().store.root, None, None)))
