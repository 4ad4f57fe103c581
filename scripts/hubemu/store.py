"""Repository state: commits, refs, blobs, and the commits tests publish at run time.

Built fixture repositories are loaded read-only from the data directory; everything a test
changes (published commits, moved refs, new repos) is an overlay that ``reset`` drops, so
every test starts from the same commit shas.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict, Unpack

from hubemu.gitobj import (
    Signature,
    TreeFile,
    blob_sha1,
    commit_sha1,
    is_lfs_path,
    lfs_patterns,
    lfs_pointer,
    tree_ids,
)

# The Hub refuses plain-git files above 10 MiB; anything larger lives in LFS.
LFS_SIZE_THRESHOLD = 10 * 1024 * 1024
_SHA1 = re.compile(r"^[0-9a-f]{7,40}$")


def iso(epoch: int) -> str:
    """The Hub's timestamp format (millisecond precision, ``Z``)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def parse_iso(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


@dataclass(frozen=True)
class FileEntry:
    """A file at a commit: content digest and size, and how git stores it."""

    path: str
    sha256: str
    size: int
    oid: str
    lfs: bool

    @property
    def pointer_size(self) -> int:
        return len(lfs_pointer(self.sha256, self.size))


@dataclass(frozen=True)
class Commit:
    """A commit with its flat file list and the ids of every tree in it."""

    sha: str
    parents: tuple[str, ...]
    title: str
    body: str
    author: str
    email: str
    epoch: int
    files: dict[str, FileEntry]
    trees: dict[str, str]

    @property
    def date(self) -> str:
        return iso(self.epoch)

    def to_json(self) -> dict[str, object]:
        return {
            "sha": self.sha,
            "parents": list(self.parents),
            "title": self.title,
            "body": self.body,
            "author": self.author,
            "email": self.email,
            "epoch": self.epoch,
            "files": {p: [f.sha256, f.size, f.oid, f.lfs] for p, f in self.files.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Commit:
        raw_files = data["files"]
        assert isinstance(raw_files, dict)
        files = {
            p: FileEntry(p, str(v[0]), int(v[1]), str(v[2]), bool(v[3]))
            for p, v in raw_files.items()
        }
        epoch = data["epoch"]
        parents = data["parents"]
        assert isinstance(epoch, int) and isinstance(parents, list)
        return cls(
            sha=str(data["sha"]),
            parents=tuple(str(p) for p in parents),
            title=str(data["title"]),
            body=str(data["body"]),
            author=str(data["author"]),
            email=str(data["email"]),
            epoch=epoch,
            files=files,
            trees=tree_ids(TreeFile(p, f.oid) for p, f in files.items()),
        )


def make_commit(
    contents: Mapping[str, tuple[str, int]],
    read: Callable[[str], bytes],
    *,
    parents: tuple[str, ...],
    title: str,
    author: str,
    epoch: int,
    body: str = "",
) -> Commit:
    """A commit of ``contents`` (path -> (sha256, size)); LFS follows ``.gitattributes``."""
    attrs = contents.get(".gitattributes")
    patterns = lfs_patterns(read(attrs[0])) if attrs else []
    files: dict[str, FileEntry] = {}
    for path, (sha, size) in sorted(contents.items()):
        lfs = size > LFS_SIZE_THRESHOLD or is_lfs_path(path, patterns)
        oid = blob_sha1(lfs_pointer(sha, size)) if lfs else blob_sha1(read(sha))
        files[path] = FileEntry(path, sha, size, oid, lfs)
    trees = tree_ids(TreeFile(p, f.oid) for p, f in files.items())
    email = f"{author}@users.noreply.huggingface.co"
    sha = commit_sha1(trees[""], parents, Signature(author, email, epoch), title, body)
    return Commit(sha, parents, title, body, author, email, epoch, files, trees)


class RepoFlags(TypedDict, total=False):
    """The :class:`Repo` fields a new repository may set beyond its id and date."""

    private: bool
    gated: str | bool
    disabled: bool
    downloads: int
    likes: int
    trending: int


@dataclass
class Repo:
    """A model repository: flags shown by the API, refs, and every commit reachable."""

    id: str
    created_epoch: int
    private: bool = False
    gated: str | bool = False
    disabled: bool = False
    downloads: int = 0
    likes: int = 0
    trending: int = 0
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    prs: dict[str, str] = field(default_factory=dict)

    @property
    def author(self) -> str:
        return self.id.split("/", 1)[0]

    @property
    def head(self) -> Commit:
        return self.commits[self.branches["main"]]

    def resolve(self, revision: str) -> Commit | None:
        """A branch, tag, ``refs/...`` name, or full/unique-prefix commit sha."""
        rev = revision
        for prefix, refs in (("refs/heads/", self.branches), ("refs/tags/", self.tags)):
            if rev.startswith(prefix) and rev[len(prefix) :] in refs:
                return self.commits[refs[rev[len(prefix) :]]]
        match = re.fullmatch(r"refs/pr/(\d+)", rev)
        if match and match.group(1) in self.prs:
            return self.commits[self.prs[match.group(1)]]
        if rev in self.branches:
            return self.commits[self.branches[rev]]
        if rev in self.tags:
            return self.commits[self.tags[rev]]
        if _SHA1.match(rev):
            found = [c for sha, c in self.commits.items() if sha.startswith(rev)]
            if len(found) == 1:
                return found[0]
        return None

    def history(self, head: Commit) -> Iterator[Commit]:
        """First-parent history from ``head``, newest first (what the Hub's commit list shows)."""
        commit: Commit | None = head
        while commit is not None:
            yield commit
            commit = self.commits.get(commit.parents[0]) if commit.parents else None

    def last_change(self, head: Commit, path: str, is_dir: bool) -> Commit:
        """The newest commit in ``head``'s history that changed ``path``."""

        def ident(c: Commit) -> str | None:
            if is_dir:
                return c.trees.get(path)
            entry = c.files.get(path)
            return entry.oid if entry else None

        current = ident(head)
        last = head
        for commit in self.history(head):
            if ident(commit) != current:
                return last
            last = commit
        return last

    def used_storage(self) -> int:
        seen: dict[str, int] = {}
        for commit in self.commits.values():
            for f in commit.files.values():
                seen[f.sha256] = f.size
        return sum(seen.values())

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "created_epoch": self.created_epoch,
            "private": self.private,
            "gated": self.gated,
            "disabled": self.disabled,
            "downloads": self.downloads,
            "likes": self.likes,
            "trending": self.trending,
            "commits": [c.to_json() for c in self.commits.values()],
            "branches": self.branches,
            "tags": self.tags,
            "prs": self.prs,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Repo:
        """Read :meth:`to_json`'s output back (JSON from ``repos.json``)."""
        raw = dict(data)
        commits = raw.pop("commits")
        assert isinstance(commits, list)
        repo = cls(**raw)
        repo.commits = {c["sha"]: Commit.from_json(c) for c in commits}
        return repo


class BlobStore:
    """Content-addressed bytes: the built fixtures on disk plus run-time blobs in memory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._memory: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def path(self, sha256: str) -> Path | None:
        p = self.directory / sha256
        return p if p.is_file() else None

    def put(self, data: bytes) -> tuple[str, int]:
        sha = hashlib.sha256(data).hexdigest()
        if self.path(sha) is None:
            with self._lock:
                self._memory[sha] = data
        return sha, len(data)

    def read(self, sha256: str, start: int = 0, end: int | None = None) -> bytes:
        """Bytes ``[start, end)`` of a blob."""
        if sha256 in self._memory:
            return self._memory[sha256][start:end]
        p = self.path(sha256)
        if p is None:
            raise KeyError(sha256)
        with p.open("rb") as fh:
            fh.seek(start)
            return fh.read() if end is None else fh.read(end - start)

    def size(self, sha256: str) -> int:
        if sha256 in self._memory:
            return len(self._memory[sha256])
        p = self.path(sha256)
        if p is None:
            raise KeyError(sha256)
        return p.stat().st_size

    def has(self, sha256: str) -> bool:
        return sha256 in self._memory or self.path(sha256) is not None


class Store:
    """All repositories, with a resettable overlay for run-time changes."""

    def __init__(self, fixture_dir: Path) -> None:
        self.blobs = BlobStore(fixture_dir / "blobs")
        manifest = json.loads((fixture_dir / "repos.json").read_text())
        self._base: dict[str, Repo] = {r["id"]: Repo.from_json(r) for r in manifest["repos"]}
        self.lock = threading.RLock()
        self.repos: dict[str, Repo] = {}
        self.reset()

    def add_base(self, repos: list[Repo]) -> None:
        """Add repositories that survive ``reset`` (the generated catalogue)."""
        with self.lock:
            for repo in repos:
                self._base[repo.id] = repo
            self.reset()

    def reset(self) -> None:
        """Forget every run-time change: refs, published commits, created repos."""
        with self.lock:
            # Commits are immutable, so a shallow copy of each repo's maps is enough.
            self.repos = {}
            for rid, repo in self._base.items():
                clone = copy.copy(repo)
                clone.commits = dict(repo.commits)
                clone.branches = dict(repo.branches)
                clone.tags = dict(repo.tags)
                clone.prs = dict(repo.prs)
                self.repos[rid] = clone

    def get(self, repo_id: str) -> Repo | None:
        return self.repos.get(repo_id)

    def create_repo(self, repo_id: str, epoch: int, **flags: Unpack[RepoFlags]) -> Repo:
        """A new repository with the Hub's usual first commit (a ``.gitattributes``)."""
        with self.lock:
            if repo_id in self.repos:
                raise ValueError(f"repository {repo_id} already exists")
            attrs = self.blobs.put(b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
            repo = Repo(id=repo_id, created_epoch=epoch, **flags)
            first = make_commit(
                {".gitattributes": attrs},
                self.blobs.read,
                parents=(),
                title="initial commit",
                author=repo.author,
                epoch=epoch,
            )
            repo.commits[first.sha] = first
            repo.branches["main"] = first.sha
            self.repos[repo_id] = repo
            return repo

    def publish(
        self,
        repo: Repo,
        branch: str,
        changes: Mapping[str, tuple[str, int] | None],
        *,
        title: str,
        author: str,
        epoch: int | None,
        body: str = "",
        parent_revision: str | None = None,
    ) -> Commit:
        """Commit ``changes`` (path -> blob, or ``None`` to delete) on top of ``branch``.

        A missing branch is created from ``parent_revision`` (default ``main``).
        """
        with self.lock:
            start = branch if branch in repo.branches else (parent_revision or "main")
            parent = repo.resolve(start)
            if parent is None:
                raise KeyError(start)
            contents = {p: (f.sha256, f.size) for p, f in parent.files.items()}
            for path, blob in changes.items():
                if blob is None:
                    if path not in contents:
                        raise FileNotFoundError(path)
                    del contents[path]
                else:
                    contents[path] = blob
            # Default dates advance from the parent so published shas are reproducible too.
            when = epoch if epoch is not None else parent.epoch + 3600
            commit = make_commit(
                contents,
                self.blobs.read,
                parents=(parent.sha,),
                title=title,
                author=author,
                epoch=when,
                body=body,
            )
            repo.commits[commit.sha] = commit
            repo.branches[branch] = commit.sha
            return commit
