"""Hub files into the local store: streamed, hashed once while received, verified, then kept.

Each file is written to an ingest temp file of the store while SHA-256, BLAKE3 and (for files
outside Git LFS) the git blob SHA-1 are computed over the same chunks. It is checked against
what the Hub listed (``lfs.sha256`` and size, or ``blobId``) before anything is kept, and the
files of one snapshot are kept all together or not at all: only when every file has been
received and verified are the blobs moved into place. A body that breaks off is resumed with
a ``Range`` request by :meth:`hubsnap.hub.HubClient.file_chunks`, the loop registry pulls use.

An interrupted snapshot (Ctrl-C, SIGTERM) keeps what it had verified, so those files count as
present next time, and the file it was receiving as a partial download in the store's
``ingest/`` (see :mod:`hubsnap.oci.ingest`), which the next run resumes with ``Range``. A
failure of any other kind keeps nothing.

Files whose bytes the store already holds are not downloaded again: LFS files are found by
their SHA-256; plain git files through a small map from git blob id to SHA-256 under
``HUBSNAP_HOME/gitblobs``. A blob found either way is re-hashed from disk (it also yields
the BLAKE3 the snapshot records), so a stale map entry can only cost a download.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from hubsnap.digest import Digest, FileDigests, hash_file
from hubsnap.errors import HubsnapError, IntegrityError
from hubsnap.fsutil import atomic_write_bytes
from hubsnap.hub import HubClient, HubFile
from hubsnap.oci.ingest import partial_name
from hubsnap.oci.layout import BlobWriter, LayoutStore
from hubsnap.progress import Progress, transfer_progress

__all__ = ["FetchedFile", "GitBlobMap", "fetch_files"]


@dataclass(frozen=True)
class FetchedFile:
    """A Hub file whose verified bytes are in the store; ``downloaded`` is ``False`` when the
    store already had them."""

    file: HubFile
    digests: FileDigests
    downloaded: bool


class GitBlobMap:
    """git blob id → SHA-256 of the same bytes, for files the store received before."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def lookup(self, blob_id: str) -> Digest | None:
        try:
            text = (self.root / blob_id).read_text().strip()
        except OSError:
            return None
        try:
            return Digest.sha256(text)
        except HubsnapError:
            return None

    def remember(self, blob_id: str, sha256: Digest) -> None:
        atomic_write_bytes(self.root / blob_id, f"{sha256.hex}\n".encode())


def _reuse(file: HubFile, store: LayoutStore, blobs: GitBlobMap) -> FileDigests | None:
    """The file's digests if the store already holds its bytes, else ``None``."""
    digest = Digest.sha256(file.lfs_sha256) if file.lfs_sha256 else blobs.lookup(file.blob_id)
    if digest is None or not store.has_blob(digest, file.size):
        return None
    digests = hash_file(store.blob_path(digest), git_sha1=not file.lfs)
    if digests.sha256 != digest or (not file.lfs and digests.git_sha1 != file.blob_id):
        return None
    return digests


def _receive(
    client: HubClient, repo_id: str, commit: str, file: HubFile,
    open_writer: Callable[[], BlobWriter], *, resume: bool,
) -> BlobWriter:  # fmt: skip
    """Write the file's bytes into a new writer; breaks are resumed by the client.

    With ``resume`` the writer holds what an interrupted run received and only the rest is
    asked for. Otherwise the writer, and with it the store, is opened only once the Hub has
    sent the file's first bytes: a refusal (gated, no access) leaves no empty store behind.
    """
    writer: BlobWriter | None = open_writer() if file.size == 0 or resume else None
    start = writer.resumed_from if writer is not None else 0
    if writer is not None and start and start == file.size:
        return writer  # the whole file arrived before the interruption

    def restart() -> None:  # the server ignored Range: it sends the whole file again
        if writer is not None:
            writer.restart()

    bar = transfer_progress(file.path, file.size) if client.progress else _no_progress()
    with bar as progress:
        progress.advance(start)
        for chunk in client.file_chunks(
            repo_id, commit, file.path, file.size, start=start, restart=restart
        ):
            if writer is None:
                writer = open_writer()
                if writer.resumed_from:  # another run left a partial meanwhile: not ours
                    writer.restart()
            writer.write(chunk)
            progress.advance(len(chunk))
    if writer is None:
        writer = open_writer()
    return writer


class _NoProgress:
    def advance(self, nbytes: int) -> None:
        pass


@contextlib.contextmanager
def _no_progress() -> Iterator[Progress]:
    """No bar at all (``HF_HUB_DISABLE_PROGRESS_BARS``), even on a terminal."""
    yield _NoProgress()


def _verify(file: HubFile, digests: FileDigests, what: str) -> None:
    if digests.size != file.size:
        raise IntegrityError(f"{what}: got {digests.size} bytes, the Hub lists {file.size}")
    if file.lfs_sha256 is not None and digests.sha256.hex != file.lfs_sha256:
        raise IntegrityError(
            f"{what}: sha256 {digests.sha256.hex} does not match the Hub's {file.lfs_sha256}"
        )
    if file.lfs_sha256 is None and digests.git_sha1 != file.blob_id:
        raise IntegrityError(
            f"{what}: git blob id {digests.git_sha1} does not match the Hub's {file.blob_id}"
        )


def _partial(file: HubFile) -> str:
    """Where an interrupted download of ``file`` waits to be resumed."""
    if file.lfs_sha256 is not None:
        return partial_name(sha256=file.lfs_sha256)
    return partial_name(git_blob_id=file.blob_id)


def _download(
    client: HubClient, repo_id: str, commit: str, file: HubFile, *, store: LayoutStore,
    writers: list[BlobWriter],
) -> tuple[BlobWriter, FileDigests]:  # fmt: skip
    """Receive and verify ``file``: resumed from a partial an earlier run left, if any.

    The whole file is verified, the resumed bytes too; when that fails after a resume,
    the partial is dropped and the file downloaded once more from its first byte.
    """

    def open_writer() -> BlobWriter:
        size = None if file.lfs else file.size
        writer = store.writer(git_blob_size=size, partial=_partial(file), size=file.size)
        writers.append(writer)  # discarded, kept or committed by fetch_files
        return writer

    what = f"{repo_id}/{file.path}"
    resume = store.has_partial(_partial(file))
    writer = _receive(client, repo_id, commit, file, open_writer, resume=resume)
    digests = writer.finish()
    try:
        _verify(file, digests, what)
    except IntegrityError:
        if not writer.resumed_from:
            raise
        writer.discard()  # what the earlier run left was not that file's beginning
        writer = _receive(client, repo_id, commit, file, open_writer, resume=False)
        digests = writer.finish()
        _verify(file, digests, what)
    return writer, digests


def fetch_files(
    client: HubClient,
    repo_id: str,
    commit: str,
    files: Sequence[HubFile],
    *,
    store: LayoutStore,
    blobs: GitBlobMap,
) -> list[FetchedFile]:
    """Bring ``files`` of ``commit`` into ``store``, all verified, or raise and keep none.

    Interrupted (Ctrl-C, SIGTERM: :class:`KeyboardInterrupt`), it keeps what is verified
    already, and the file it was receiving as a partial, so the next run resumes there.
    """
    fetched: list[FetchedFile] = []
    staged: list[tuple[HubFile, BlobWriter, FileDigests]] = []
    writers: list[BlobWriter] = []
    try:
        for file in files:
            known = _reuse(file, store, blobs)
            if known is not None:
                fetched.append(FetchedFile(file, known, downloaded=False))
                continue
            writer, digests = _download(client, repo_id, commit, file, store=store, writers=writers)
            staged.append((file, writer, digests))
        # Every file verified: only now does anything become visible in the store.
        fetched += _commit(staged, blobs)
    except KeyboardInterrupt:
        _commit(staged, blobs)  # what is verified and not yet in place
        for writer in writers:
            writer.keep()  # the partial being received; any other temp file goes
        raise
    except BaseException:
        for writer in writers:
            writer.discard()
        raise
    return sorted(fetched, key=lambda f: f.file.path)


def _commit(
    staged: list[tuple[HubFile, BlobWriter, FileDigests]], blobs: GitBlobMap
) -> list[FetchedFile]:
    """Move verified files into the store (each was checked against the Hub already),
    taking each off ``staged`` once it is in place."""
    kept = []
    while staged:
        file, writer, digests = staged[0]
        writer.commit()  # idempotent: a commit an interruption cut short is finished
        if not file.lfs:
            blobs.remember(file.blob_id, digests.sha256)
        staged.pop(0)
        kept.append(FetchedFile(file, digests, downloaded=True))
    return kept
