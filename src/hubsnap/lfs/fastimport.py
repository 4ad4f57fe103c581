"""One commit written with ``git fast-import``, and the git object ids it will have.

A commit is a flat list of files (path, mode, bytes or a file to stream) on top of a parent:
the stream replaces the parent's tree whole (``deleteall``), so the commit's tree is exactly
the files given. Everything that goes into the commit object (author, committer, date,
message) is given by the caller: the same request on the same parent gives the same commit id
on any machine. :func:`tree_ids` computes every tree id git will write, before writing, so a
caller can tell that a commit would change nothing and check what git wrote.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from hubsnap.digest import CHUNK_SIZE
from hubsnap.errors import IntegrityError, UsageError

__all__ = [
    "MODE_EXECUTABLE",
    "MODE_FILE",
    "CommitRequest",
    "Identity",
    "TreeFile",
    "blob_id",
    "fast_import",
    "git_env",
    "tree_ids",
]

MODE_FILE = "100644"
MODE_EXECUTABLE = "100755"
_MODE_TREE = "40000"
_IDENTITY = re.compile(r"^([^<>\n]+?) <([^<>\n]*)>$")
# Variables that would point git at another repository, index or tree than the one named.
_GIT_LOCATION_VARIABLES = (
    "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR",
    "GIT_NAMESPACE", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
)  # fmt: skip


def git_env() -> dict[str, str]:
    """The environment git runs in: the caller's, without variables that redirect it."""
    env = {k: v for k, v in os.environ.items() if k not in _GIT_LOCATION_VARIABLES}
    env["LC_ALL"] = "C"
    return env


@dataclass(frozen=True)
class Identity:
    """A git author or committer: ``Name <email>``."""

    name: str
    email: str

    @classmethod
    def parse(cls, text: str) -> Identity:
        match = _IDENTITY.match(text.strip())
        if not match:
            raise UsageError(f"invalid identity {text!r}", hint='use "Name <email>"')
        return cls(match.group(1).strip(), match.group(2))

    def render(self, epoch: int) -> str:
        return f"{self.name} <{self.email}> {epoch} +0000"


@dataclass(frozen=True)
class TreeFile:
    """A file of the commit: ``data`` inline, or ``source`` (a file of ``size`` bytes)
    streamed into git. ``blob`` is its git blob id when the caller already knows it."""

    path: str
    mode: str
    data: bytes | None = None
    source: Path | None = None
    size: int = 0
    blob: str | None = None

    @property
    def length(self) -> int:
        return len(self.data) if self.data is not None else self.size

    def chunks(self) -> Iterator[bytes]:
        if self.data is not None:
            yield self.data
            return
        if self.source is None:
            raise ValueError(f"{self.path}: neither data nor a source file")
        with self.source.open("rb") as stream:
            remaining = self.size
            while remaining > 0:
                chunk = stream.read(min(CHUNK_SIZE, remaining))
                if not chunk:
                    raise IntegrityError(f"{self.source} is shorter than {self.size} bytes")
                remaining -= len(chunk)
                yield chunk

    def blob_id(self) -> str:
        if self.blob is not None:
            return self.blob
        hasher = hashlib.sha1(f"blob {self.length}\0".encode(), usedforsecurity=False)
        for chunk in self.chunks():
            hasher.update(chunk)
        return hasher.hexdigest()


def blob_id(data: bytes) -> str:
    """The id git gives a blob of ``data`` (``git hash-object``)."""
    return TreeFile("", MODE_FILE, data).blob_id()


@dataclass(frozen=True)
class CommitRequest:
    """A commit to write on ``branch`` (a name under ``refs/heads/``). ``parent`` must be the
    branch's current tip (``None`` for a new branch): fast-import refuses anything else."""

    branch: str
    files: Sequence[TreeFile]
    author: Identity
    committer: Identity
    epoch: int
    message: str
    parent: str | None


def tree_ids(files: Iterable[tuple[str, str, str]]) -> dict[str, str]:
    """Ids of every tree (``""`` is the root) for ``(path, mode, blob id)`` triples."""
    children: dict[str, dict[str, tuple[str, str | None]]] = {"": {}}
    for path, mode, blob in files:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            parent, here = "/".join(parts[: depth - 1]), "/".join(parts[:depth])
            children[parent][parts[depth - 1]] = (_MODE_TREE, None)
            children.setdefault(here, {})
        children["/".join(parts[:-1])][parts[-1]] = (mode, blob)
    ids: dict[str, str] = {}

    def build(directory: str) -> str:
        rows = []
        for name, (mode, blob) in children[directory].items():
            oid = blob if blob is not None else build(f"{directory}/{name}" if directory else name)
            # git sorts a tree's entries as if the names of subtrees ended in "/".
            key = (name + "/" if mode == _MODE_TREE else name).encode()
            rows.append((key, f"{mode} {name}\0".encode() + bytes.fromhex(oid)))
        payload = b"".join(row for _, row in sorted(rows))
        header = f"tree {len(payload)}\0".encode()
        ids[directory] = hashlib.sha1(header + payload, usedforsecurity=False).hexdigest()
        return ids[directory]

    build("")
    return ids


def _quote(path: str) -> bytes:
    """A path as fast-import reads it: C-style quoted, so any byte but NUL is safe."""
    out = bytearray(b'"')
    for byte in path.encode("utf-8"):
        if byte in (0x22, 0x5C):
            out += b"\\" + bytes([byte])
        elif byte < 0x20 or byte == 0x7F:
            out += f"\\{byte:03o}".encode()
        else:
            out.append(byte)
    return bytes(out + b'"')


def _data(stream: IO[bytes], length: int, chunks: Iterable[bytes]) -> None:
    stream.write(f"data {length}\n".encode())
    for chunk in chunks:
        stream.write(chunk)
    stream.write(b"\n")


def _write_stream(stream: IO[bytes], request: CommitRequest) -> None:
    for mark, file in enumerate(request.files, start=1):
        stream.write(f"blob\nmark :{mark}\n".encode())
        _data(stream, file.length, file.chunks())
    message = request.message.encode("utf-8")
    stream.write(f"commit refs/heads/{request.branch}\n".encode())
    stream.write(f"author {request.author.render(request.epoch)}\n".encode())
    stream.write(f"committer {request.committer.render(request.epoch)}\n".encode())
    _data(stream, len(message), [message])
    if request.parent is not None:
        stream.write(f"from {request.parent}\n".encode())
    stream.write(b"deleteall\n")
    for mark, file in enumerate(request.files, start=1):
        stream.write(f"M {file.mode} :{mark} ".encode() + _quote(file.path) + b"\n")
    stream.write(b"\ndone\n")


def fast_import(worktree: Path, request: CommitRequest) -> None:
    """Write the commit; the branch then points at it. Raises :class:`IntegrityError` if git
    refuses (another writer moved the branch meanwhile, say)."""
    for file in request.files:
        if file.mode not in (MODE_FILE, MODE_EXECUTABLE):
            raise ValueError(f"unsupported mode {file.mode} for {file.path}")
    with subprocess.Popen(
        ["git", "-C", str(worktree), "fast-import", "--quiet", "--done", "--date-format=raw"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=git_env(),
    ) as process:
        assert process.stdin is not None and process.stderr is not None
        try:
            _write_stream(process.stdin, request)
            process.stdin.close()
        except BrokenPipeError:
            pass  # git stopped reading: its own message says why
        error = process.stderr.read().decode("utf-8", "replace")
        code = process.wait()
    if code != 0:
        first = next((line for line in error.splitlines() if line.strip()), "")
        raise IntegrityError(f"git fast-import failed: {first or f'exit {code}'}")
