"""Git object ids and Git LFS pointers, computed exactly as git and the Hub compute them.

Commit shas served by the emulator are real git commit object ids over real tree objects,
so they are the same on every machine and can be checked with ``git hash-object``.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

LFS_SPEC = "https://git-lfs.github.com/spec/v1"


def git_object_sha1(kind: str, payload: bytes) -> str:
    """The id git gives an object of ``kind`` (blob, tree, commit) with ``payload``."""
    header = f"{kind} {len(payload)}\0".encode()
    return hashlib.sha1(header + payload, usedforsecurity=False).hexdigest()


def blob_sha1(data: bytes) -> str:
    """``git hash-object`` of a file's bytes."""
    return git_object_sha1("blob", data)


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The canonical Git LFS pointer file for an object."""
    return f"version {LFS_SPEC}\noid sha256:{sha256}\nsize {size}\n".encode()


def lfs_patterns(gitattributes: bytes) -> list[str]:
    """Path patterns that ``.gitattributes`` routes through the LFS filter."""
    patterns = []
    for raw in gitattributes.decode("utf-8", "replace").splitlines():
        parts = raw.split()
        if len(parts) >= 2 and not parts[0].startswith("#") and "filter=lfs" in parts[1:]:
            patterns.append(parts[0])
    return patterns


def is_lfs_path(path: str, patterns: Iterable[str]) -> bool:
    """Whether git would store ``path`` as an LFS pointer under ``patterns``.

    Patterns without a slash match the basename anywhere (gitattributes semantics);
    patterns with one are anchored at the repository root.
    """
    base = path.rsplit("/", 1)[-1]
    for pattern in patterns:
        if "/" in pattern:
            if fnmatch.fnmatchcase(path, pattern.lstrip("/").replace("**/", "*")):
                return True
        elif fnmatch.fnmatchcase(base, pattern):
            return True
    return False


@dataclass(frozen=True)
class TreeFile:
    """A file as a git tree sees it: its path and the id of the blob git stores."""

    path: str
    git_blob: str


def tree_ids(files: Iterable[TreeFile]) -> dict[str, str]:
    """Ids of every tree object (``""`` is the root) for a flat list of files."""
    children: dict[str, dict[str, tuple[str, str | None]]] = {"": {}}
    for f in files:
        parts = f.path.split("/")
        for depth in range(len(parts) - 1):
            parent = "/".join(parts[:depth])
            here = "/".join(parts[: depth + 1])
            children.setdefault(parent, {})[parts[depth]] = ("40000", None)
            children.setdefault(here, {})
        parent = "/".join(parts[:-1])
        children.setdefault(parent, {})[parts[-1]] = ("100644", f.git_blob)

    ids: dict[str, str] = {}

    def build(directory: str) -> str:
        entries = []
        for name, (mode, blob) in children[directory].items():
            oid = blob if blob is not None else build(f"{directory}/{name}" if directory else name)
            # git orders tree entries as if directory names ended in "/".
            key = name + "/" if mode == "40000" else name
            entries.append((key, mode, name, oid))
        payload = b"".join(
            f"{mode} {name}\0".encode() + bytes.fromhex(oid)
            for _, mode, name, oid in sorted(entries, key=lambda e: e[0].encode())
        )
        ids[directory] = git_object_sha1("tree", payload)
        return ids[directory]

    build("")
    return ids


@dataclass(frozen=True)
class Signature:
    """A git author/committer line."""

    name: str
    email: str
    epoch: int

    def render(self) -> str:
        return f"{self.name} <{self.email}> {self.epoch} +0000"


def commit_sha1(
    tree: str, parents: Iterable[str], author: Signature, title: str, body: str = ""
) -> str:
    """Id of a commit object; committer equals author, as on Hub web commits."""
    lines = [f"tree {tree}"]
    lines += [f"parent {p}" for p in parents]
    lines += [f"author {author.render()}", f"committer {author.render()}"]
    message = title + (f"\n\n{body}" if body else "") + "\n"
    return git_object_sha1("commit", ("\n".join(lines) + "\n\n" + message).encode())


def changed_paths(old: Mapping[str, str], new: Mapping[str, str]) -> set[str]:
    """Paths whose blob differs between two path->blob maps (added, removed or changed)."""
    return {p for p in old.keys() | new.keys() if old.get(p) != new.get(p)}
