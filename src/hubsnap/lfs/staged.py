"""What a pre-commit hook checks in the index, read with git plumbing only (it must be fast).

Every staged path that ``.gitattributes`` routes to LFS must be a canonical pointer; no other
staged file may exceed the size limit (10 MiB by default, the Hub's limit for plain files).
On a branch locked to an artifact (``branch.<B>.hubsnapArtifact``), every staged pointer must
equal the layer of the same path in that artifact (oid, size and executable bit). The result
is one line per offending path, in path order.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hubsnap.lfs.pointer import Verdict, check_pointer

__all__ = ["LockedFile", "StagedFile", "locked_branch", "staged_files", "staged_problems"]

_MODE_EXECUTABLE = "100755"
_NO_BLOB = "0" * 40


@dataclass(frozen=True)
class StagedFile:
    """A staged path: its mode, blob id and size, whether LFS routes it, and its bytes when
    it may be a pointer (smaller than the pointer size limit)."""

    path: str
    mode: str
    blob: str
    size: int
    lfs: bool
    data: bytes | None


@dataclass(frozen=True)
class LockedFile:
    """A file of the artifact a branch is locked to."""

    oid: str
    size: int
    executable: bool


def _git(root: Path, *args: str, stdin: bytes | None = None, check: bool = True) -> bytes:
    done = subprocess.run(["git", *args], cwd=root, input=stdin, capture_output=True, check=False)
    if check and done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RuntimeError(f"git {args[0]}: {message[0] if message else done.returncode}")
    return done.stdout


def _changed_entries(root: Path) -> dict[str, tuple[str, str]]:
    """Paths added or changed in the index relative to HEAD: path → (mode, blob id)."""
    out = _git(
        root, "diff", "--cached", "--raw", "-z", "--no-renames", "--no-abbrev", "--diff-filter=d"
    )
    fields = out.split(b"\0")
    entries = {}
    for i in range(0, len(fields) - 1, 2):
        meta = fields[i].decode("ascii", "replace").lstrip(":").split(" ")
        if len(meta) < 5 or meta[3] == _NO_BLOB:
            continue  # an unmerged path: git itself refuses the commit
        path = fields[i + 1].decode("utf-8", "surrogateescape")
        entries[path] = (meta[1], meta[3])
    return entries


def _routes(root: Path, paths: Sequence[str]) -> dict[str, bool]:
    stdin = b"".join(p.encode("utf-8", "surrogateescape") + b"\0" for p in paths)
    out = _git(root, "check-attr", "--cached", "--stdin", "-z", "filter", stdin=stdin)
    fields = out.split(b"\0")
    routes = {}
    for i in range(0, len(fields) - 2, 3):
        path = fields[i].decode("utf-8", "surrogateescape")
        routes[path] = fields[i + 2] == b"lfs"
    return routes


def _read_blobs(root: Path, blobs: Sequence[str]) -> dict[str, bytes]:
    if not blobs:
        return {}
    out = _git(root, "cat-file", "--batch", stdin="".join(b + "\n" for b in blobs).encode())
    found: dict[str, bytes] = {}
    at = 0
    for _ in blobs:
        end = out.index(b"\n", at)
        oid, _, size = out[at:end].decode().split(" ")
        start = end + 1
        found[oid] = out[start : start + int(size)]
        at = start + int(size) + 1
    return found


def staged_files(root: Path, pointer_limit: int) -> list[StagedFile]:
    """The files added or changed in the index relative to HEAD."""
    entries = _changed_entries(root)
    if not entries:
        return []
    blobs = sorted({blob for mode, blob in entries.values() if mode != "160000"})
    sizes_out = _git(
        root, "cat-file", "--batch-check=%(objectname) %(objectsize)",
        stdin="".join(b + "\n" for b in blobs).encode(),
    )  # fmt: skip
    sizes = {
        line.split(" ")[0]: int(line.split(" ")[1]) for line in sizes_out.decode().splitlines()
    }
    routes = _routes(root, sorted(entries))
    small = sorted(
        {b for p, (_, b) in entries.items() if routes.get(p) and sizes[b] < pointer_limit}
    )
    contents = _read_blobs(root, small)
    return [
        StagedFile(
            path, mode, blob, sizes.get(blob, 0), routes.get(path, False), contents.get(blob)
        )
        for path, (mode, blob) in sorted(entries.items(), key=lambda e: e[0].encode())
        if mode != "160000"
    ]


def locked_branch(root: Path) -> tuple[str, str] | None:
    """``(branch, artifact digest)`` when the checked-out branch is locked to an artifact."""
    branch = _git(root, "symbolic-ref", "-q", "--short", "HEAD", check=False).decode().strip()
    if not branch:
        return None
    key = f"branch.{branch}.hubsnapArtifact"
    value = _git(root, "config", "--get", key, check=False).decode().strip()
    return (branch, value) if value else None


def staged_problems(
    files: Sequence[StagedFile],
    *,
    max_size: int,
    locked: Mapping[str, LockedFile] | None = None,
) -> list[str]:
    """One line per offending staged path (empty when the commit may proceed)."""
    problems = []
    for file in files:
        if not file.lfs:
            if file.size > max_size:
                problems.append(
                    f"{file.path}: {file.size} bytes, over the {max_size}-byte limit for files "
                    "outside Git LFS (track it with git lfs track)"
                )
            continue
        check = check_pointer(file.data) if file.data is not None else None
        if check is None or check.verdict is not Verdict.CANONICAL or check.pointer is None:
            reason = check.reason if check is not None else f"{file.size} bytes"
            problems.append(f"{file.path}: not a canonical Git LFS pointer ({reason})")
            continue
        if locked is None:
            continue
        want = locked.get(file.path)
        pointer = check.pointer
        if want is None:
            problems.append(f"{file.path}: not in the artifact this branch is locked to")
        elif (pointer.oid, pointer.size) != (want.oid, want.size):
            problems.append(
                f"{file.path}: pointer sha256:{pointer.oid} ({pointer.size} bytes) is not the "
                f"artifact's sha256:{want.oid} ({want.size} bytes)"
            )
        elif check_pointer(
            file.data or b"",
            executable=file.mode == _MODE_EXECUTABLE,
            file_executable=want.executable,
        ).mode_mismatch:
            problems.append(f"{file.path}: executable bit differs from the artifact's file")
    return problems
