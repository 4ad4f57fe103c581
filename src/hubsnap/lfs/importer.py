"""A commit of Git LFS pointers and plain blobs → verified blobs in the store (``lfs import``).

The commit's tree is listed with ``git ls-tree``; only regular files are taken: a symbolic
link, a submodule or an unsafe path (``..``, absolute, control characters) is refused, naming
the path (exit 6). A blob is an LFS pointer when git-lfs would read it as one, or when the
commit's own ``.gitattributes`` route its path to LFS; such a path must then hold a canonical
pointer without extensions, else it is refused too (a pointer of size 0 with content, one of
1,024 bytes or more, NUL bytes...). The empty file is a plain empty file.

Pointers' objects come from the repository's ``.git/lfs/objects``; when some are missing
they are fetched first with ``git lfs fetch`` from the remote git-lfs would use. Plain blobs
come from one ``git cat-file --batch``. Every file is hashed (SHA-256 and BLAKE3, plus the git
blob id of plain ones) while it is copied into the store's ingest area, read up to its size
plus one byte, and must equal its pointer's oid and size (its blob id): the oid is never
trusted. Nothing becomes visible in the store until every file has passed.
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

from hubsnap.digest import CHUNK_SIZE, Digest, FileDigests, StreamHasher
from hubsnap.errors import IntegrityError, NotFoundError, RemoteError, UsageError
from hubsnap.fsutil import check_relative_path
from hubsnap.lfs.attributes import LfsAttributes
from hubsnap.lfs.fastimport import git_env
from hubsnap.lfs.objects import object_path
from hubsnap.lfs.pointer import POINTER_SIZE_LIMIT, Pointer, Verdict, check_pointer
from hubsnap.lfs.repo import GitRepository
from hubsnap.oci.layout import BlobWriter, LayoutStore

__all__ = ["CommitFile", "ImportedFile", "fetch_objects", "ingest_files", "plan_commit"]

_MODE_FILE, _MODE_EXECUTABLE = "100644", "100755"
_REFUSED_MODES = {"120000": "a symbolic link", "160000": "a submodule"}
_MAX_ATTRIBUTES_BYTES = 1024 * 1024


@dataclass(frozen=True)
class CommitFile:
    """A regular file of the commit: its blob, and the pointer it holds when it is one
    (``size`` is then the object's size, else the blob's)."""

    path: str
    blob: str
    size: int
    executable: bool
    pointer: Pointer | None

    @property
    def lfs(self) -> bool:
        return self.pointer is not None


@dataclass(frozen=True)
class ImportedFile:
    """A file whose verified bytes are (or are about to be) in the store; ``data`` holds the
    bytes of the files asked for whole (the model card, ``config.json``)."""

    file: CommitFile
    digests: FileDigests
    data: bytes | None


def _git(root: Path, *args: str, what: str) -> bytes:
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, env=git_env(), capture_output=True, check=False
        )
    except FileNotFoundError as e:
        raise UsageError(f"cannot {what}: git is not installed") from e
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise UsageError(f"cannot {what}: {lines[0] if lines else done.returncode}")
    return done.stdout


class CatFile:
    """One ``git cat-file --batch`` process: blobs read one after the other, in chunks."""

    def __init__(self, root: Path) -> None:
        self._proc = subprocess.Popen(
            ["git", "cat-file", "--batch"],
            cwd=root,
            env=git_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._in: IO[bytes] = self._proc.stdin
        self._out: IO[bytes] = self._proc.stdout

    def chunks(self, blob: str, path: str) -> Iterator[bytes]:
        """The blob's bytes; all of them must be read before the next blob is asked for."""
        self._in.write(f"{blob}\n".encode())
        self._in.flush()
        header = self._out.readline().decode("ascii", "replace").split()
        if len(header) != 3 or header[1] != "blob" or not header[2].isdigit():
            raise IntegrityError(f"{path}: git cannot read blob {blob}")
        left = int(header[2])
        while left:
            chunk = self._out.read(min(left, CHUNK_SIZE))
            if not chunk:
                raise IntegrityError(f"{path}: blob {blob} ends early")
            left -= len(chunk)
            yield chunk
        self._out.read(1)  # the newline after the contents

    def read(self, blob: str, path: str) -> bytes:
        return b"".join(self.chunks(blob, path))

    def __enter__(self) -> CatFile:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._in.close()
        self._out.close()
        self._proc.wait()


def _classify(path: str, blob: str, size: int, data: bytes | None, routed: bool) -> Pointer | None:
    """The pointer a blob holds, ``None`` for a plain file; refuse a malformed pointer."""
    if size == 0:
        return None
    check = check_pointer(data) if data is not None else None
    readable = check is not None and check.verdict is not Verdict.INVALID
    if not (routed or readable):
        return None
    if check is None or check.pointer is None:
        reason = check.reason if check is not None else f"{size} bytes: too large"
        raise IntegrityError(f"{path}: routed to Git LFS but not a pointer ({reason})")
    if check.verdict is not Verdict.CANONICAL:
        raise IntegrityError(f"{path}: not a canonical Git LFS pointer ({check.reason})")
    if check.pointer.extensions:
        raise IntegrityError(f"{path}: a Git LFS pointer with extensions (blob {blob})")
    return check.pointer


def plan_commit(repo: GitRepository, commit: str) -> list[CommitFile]:
    """The commit's files, each a pointer or a plain blob, in path order; hostile entries
    are refused with :class:`IntegrityError` naming the path."""
    root = repo.root
    entries = repo.tree_listing(commit)
    for path, mode, _, _ in entries:
        check_relative_path(path, "path in the commit")
        if mode in _REFUSED_MODES:
            raise IntegrityError(f"{path}: {_REFUSED_MODES[mode]}, not a file")
        if mode not in (_MODE_FILE, _MODE_EXECUTABLE):
            raise IntegrityError(f"{path}: unsupported tree entry mode {mode}")
    with CatFile(root) as cat:
        attributes = LfsAttributes(
            {
                path: cat.read(oid, path)
                for path, _, oid, size in entries
                if LfsAttributes.is_attributes_file(path) and size <= _MAX_ATTRIBUTES_BYTES
            }
        )
        small = {
            oid: cat.read(oid, path)
            for path, _, oid, size in entries
            if 0 < size < POINTER_SIZE_LIMIT
        }
    files = []
    for path, mode, oid, size in sorted(entries, key=lambda e: e[0].encode()):
        routed = bool(attributes) and attributes.routes_to_lfs(path)
        pointer = _classify(path, oid, size, small.get(oid), routed)
        files.append(
            CommitFile(
                path, oid, pointer.size if pointer else size, mode == _MODE_EXECUTABLE, pointer
            )
        )
    return files


def _object_present(objects: Path, oid: str) -> bool:
    try:
        return stat.S_ISREG(object_path(objects, oid).lstat().st_mode)
    except FileNotFoundError:
        return False


def _default_remote(root: Path) -> str | None:
    """The remote ``git lfs fetch`` would use: ``remote.lfsdefault``, else ``origin``, else
    the only remote."""
    remotes = _git(root, "remote", what="list remotes").decode().split()
    configured = subprocess.run(
        ["git", "config", "--get", "remote.lfsdefault"],
        cwd=root,
        env=git_env(),
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    for candidate in (configured, "origin"):
        if candidate and candidate in remotes:
            return candidate
    return remotes[0] if len(remotes) == 1 else None


def fetch_objects(root: Path, objects: Path, commit: str, files: Sequence[CommitFile]) -> int:
    """Fetch the commit's LFS objects missing from ``objects``; return how many were."""
    missing = [
        f for f in files if f.pointer is not None and not _object_present(objects, f.pointer.oid)
    ]
    if not missing:
        return 0
    remote = _default_remote(root)
    if remote is None:
        raise NotFoundError(
            f"{missing[0].path}: its Git LFS object is not in the repository, "
            "which has no remote to fetch it from"
        )
    done = subprocess.run(
        [
            "git",
            "-c",
            "lfs.fetchinclude=",
            "-c",
            "lfs.fetchexclude=",
            "lfs",
            "fetch",
            remote,
            commit,
        ],
        cwd=root,
        env=git_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
        raise RemoteError(
            f"git lfs fetch from {remote} failed: {lines[-1] if lines else done.returncode}"
        )
    for file in missing:
        if file.pointer is not None and not _object_present(objects, file.pointer.oid):
            raise NotFoundError(
                f"{file.path}: Git LFS object {file.pointer.oid} is not on remote {remote}"
            )
    return len(missing)


def _open_object(objects: Path, file: CommitFile) -> IO[bytes]:
    assert file.pointer is not None
    path = object_path(objects, file.pointer.oid)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as e:
        raise IntegrityError(f"{file.path}: cannot read Git LFS object {path}: {e.strerror}") from e
    stream = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        stream.close()
        raise IntegrityError(f"{file.path}: Git LFS object {path} is not a regular file")
    return stream


def _chunks_of(stream: IO[bytes], limit: int) -> Iterator[bytes]:
    """At most ``limit`` bytes: one more than expected is enough to know it is too long."""
    with stream:
        left = limit
        while left and (chunk := stream.read(min(left, CHUNK_SIZE))):
            left -= len(chunk)
            yield chunk


def _check(file: CommitFile, digests: FileDigests) -> None:
    if file.pointer is not None:
        if digests.size > file.size:
            found = f"more than {file.size} bytes"
        else:
            found = f"{digests.sha256}, {digests.size} bytes"
        if digests.size != file.size or digests.sha256.hex != file.pointer.oid:
            raise IntegrityError(
                f"{file.path}: Git LFS object does not match its pointer (expected "
                f"sha256:{file.pointer.oid}, {file.size} bytes; read {found})"
            )
    elif digests.git_sha1 != file.blob or digests.size != file.size:
        raise IntegrityError(f"{file.path}: git blob {file.blob} holds other bytes")


@contextlib.contextmanager
def _staged(store: LayoutStore) -> Iterator[list[BlobWriter]]:
    writers: list[BlobWriter] = []
    try:
        yield writers
    finally:
        for writer in writers:
            writer.discard()


def ingest_files(
    root: Path,
    objects: Path,
    files: Sequence[CommitFile],
    store: LayoutStore,
    *,
    keep: Callable[[CommitFile], bool],
) -> list[ImportedFile]:
    """Hash every file once while copying it into ``store``; all are kept or none.

    A file whose bytes the store already holds is hashed and checked all the same (the
    repository's copy is what is imported), but not copied again. ``keep`` says which
    files' bytes to return whole."""
    imported: list[ImportedFile] = []
    with CatFile(root) as cat, _staged(store) as writers:
        staged = []
        for file in files:
            if file.pointer is not None:
                chunks = _chunks_of(_open_object(objects, file), file.size + 1)
            else:
                chunks = cat.chunks(file.blob, file.path)
            git_size = None if file.lfs else file.size
            known = file.pointer is not None and store.has_blob(
                Digest.sha256(file.pointer.oid), file.size
            )
            writer = None if known else store.writer(git_blob_size=git_size)
            hasher = StreamHasher(git_blob_size=git_size) if writer is None else None
            held: list[bytes] = []
            want = keep(file)
            try:
                for chunk in chunks:
                    if writer is not None:
                        writer.write(chunk)
                    elif hasher is not None:
                        hasher.update(chunk)
                    if want:
                        held.append(chunk)
            except BaseException:
                if hasher is not None:
                    hasher.close()
                if writer is not None:
                    writer.discard()
                raise
            if writer is not None:
                writers.append(writer)
                digests = writer.finish()
            else:
                assert hasher is not None
                digests = hasher.finish()
            _check(file, digests)
            if writer is not None and store.has_blob(digests.sha256, digests.size):
                writer.discard()
                writer = None
            staged.append(writer)
            imported.append(ImportedFile(file, digests, b"".join(held) if want else None))
        # Every file verified: only now does anything become visible in the store.
        for writer in staged:
            if writer is not None:
                writer.commit()
    return imported
