"""Real bare git repositories mirroring the emulator's repositories, commit for commit.

Each repository is written lazily, on the first git request for it, with ``git
fast-import`` into a per-process directory: every commit the store knows, its tree built
from the commit's file list (LFS files as their canonical pointers), its author, committer,
date and message exactly as ``gitobj`` hashed them. The ids git computes are checked against
the store's: a mismatch is refused rather than served. Before each request the refs are
brought up to date (branches, tags, ``refs/pr/N``), so commits published at run time and
moved refs are visible to the next fetch; objects are only ever added.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

from hubemu.gitobj import lfs_pointer
from hubemu.store import BlobStore, Commit, Repo, Store

_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
_IMPORT_REF = "refs/hubemu/import"
GIT_TIMEOUT = 600  # seconds; a git process that takes longer is stuck


class GitMirrorError(RuntimeError):
    """A repository could not be written, or git computed other ids than the store."""


def git_env(home: Path) -> dict[str, str]:
    """An environment in which git reads no user or system configuration."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "LC_ALL": "C",
    }


def _quote_path(path: str) -> bytes:
    """A path in fast-import's C-style quoting (always quoted: no ambiguity, any name)."""
    escaped = path.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'.encode()


def _data(payload: bytes) -> bytes:
    return b"data %d\n" % len(payload) + payload + b"\n"


def desired_refs(repo: Repo) -> dict[str, str]:
    """Every ref the Hub would advertise for ``repo``: branches, tags and pull requests."""
    refs = {f"refs/heads/{n}": s for n, s in repo.branches.items()}
    refs |= {f"refs/tags/{n}": s for n, s in repo.tags.items()}
    refs |= {f"refs/pr/{n}": s for n, s in repo.prs.items()}
    return refs


def _topological(commits: Mapping[str, Commit], wanted: Iterable[str]) -> list[Commit]:
    """``wanted`` commits and their ancestors within ``commits``, parents first."""
    order: list[Commit] = []
    seen: set[str] = set()
    stack = [(sha, False) for sha in sorted(wanted)]
    while stack:
        sha, expanded = stack.pop()
        if expanded:
            order.append(commits[sha])
            continue
        if sha in seen or sha not in commits:
            continue
        seen.add(sha)
        stack.append((sha, True))
        stack.extend((p, False) for p in commits[sha].parents if p not in seen)
    return order


class _Mirror:
    """One bare repository and what has been written into it so far."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.commits: set[str] = set()
        self.blobs: set[str] = set()
        self.refs: dict[str, str] = {}


class GitMirrors:
    """Bare repositories for the store's repositories under one private directory."""

    def __init__(self, store: Store, root: Path | None = None) -> None:
        self.store = store
        self.root = root or Path(tempfile.mkdtemp(prefix="hubemu-git-"))
        self.env = git_env(self.root)
        self._mirrors: dict[str, _Mirror] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def sync(self, repo: Repo) -> Path:
        """The bare repository for ``repo``, holding every commit and the current refs."""
        if not _REPO_ID.match(repo.id) or ".." in repo.id:
            raise GitMirrorError(f"repository id {repo.id!r} cannot be served over git")
        with self.store.lock:  # one consistent view of refs and commits
            refs = desired_refs(repo)
            commits = dict(repo.commits)
        with self._lock:
            mirror = self._mirrors.get(repo.id)
            if mirror is None:
                mirror = _Mirror(self.root / f"{repo.id}.git")
                self._mirrors[repo.id] = mirror
        with mirror.lock:
            if not mirror.path.is_dir():
                mirror.path.parent.mkdir(parents=True, exist_ok=True)
                self._git(None, "init", "--bare", "--quiet", "--initial-branch=main", mirror.path)
            missing = [
                c for c in _topological(commits, refs.values()) if c.sha not in mirror.commits
            ]
            if missing:
                self._import(mirror, missing)
            if refs != mirror.refs:
                self._update_refs(mirror, refs)
        return mirror.path

    def _git(self, cwd: Path | None, *args: object, stdin: bytes | None = None) -> bytes:
        argv = ["git", *(str(a) for a in args)]
        result = subprocess.run(
            argv,
            cwd=cwd,
            env=self.env,
            input=stdin,
            capture_output=True,
            check=False,
            timeout=GIT_TIMEOUT,
        )
        if result.returncode != 0:
            detail = result.stderr.decode("utf-8", "replace").strip()
            raise GitMirrorError(f"git {args[0]} failed: {detail}")
        return result.stdout

    def _import(self, mirror: _Mirror, commits: list[Commit]) -> None:
        """Write ``commits`` (parents first) with fast-import and check every id."""
        blobs = self.store.blobs
        marks: dict[str, int] = {}
        new_blobs: set[str] = set()
        stream = mirror.path / "hubemu-import.stream"
        marks_file = mirror.path / "hubemu-import.marks"
        with stream.open("wb") as out:
            out.write(b"feature done\n")
            for n, commit in enumerate(commits, start=1):
                mark = n
                marks[commit.sha] = mark
                out.write(b"reset %s\n" % _IMPORT_REF.encode())
                out.write(b"commit %s\nmark :%d\n" % (_IMPORT_REF.encode(), mark))
                ident = f"{commit.author} <{commit.email}> {commit.epoch} +0000".encode()
                out.write(b"author " + ident + b"\ncommitter " + ident + b"\n")
                message = commit.title + (f"\n\n{commit.body}" if commit.body else "") + "\n"
                out.write(_data(message.encode()))
                for i, parent in enumerate(commit.parents):
                    ref = f":{marks[parent]}" if parent in marks else parent
                    out.write(b"%s %s\n" % (b"from" if i == 0 else b"merge", ref.encode()))
                out.write(b"deleteall\n")
                for path, entry in sorted(commit.files.items()):
                    if entry.oid in mirror.blobs or entry.oid in new_blobs:
                        out.write(b"M 100644 %s %s\n" % (entry.oid.encode(), _quote_path(path)))
                        continue
                    payload = _blob_bytes(blobs, entry.sha256, entry.size, entry.lfs)
                    out.write(b"M 100644 inline %s\n" % _quote_path(path) + _data(payload))
                    new_blobs.add(entry.oid)
                out.write(b"\n")
            out.write(b"done\n")
        try:
            with stream.open("rb") as feed:
                result = subprocess.run(
                    ["git", "fast-import", "--quiet", f"--export-marks={marks_file}"],
                    cwd=mirror.path,
                    env=self.env,
                    stdin=feed,
                    capture_output=True,
                    check=False,
                    timeout=GIT_TIMEOUT,
                )
            if result.returncode != 0:
                detail = result.stderr.decode("utf-8", "replace").strip()
                raise GitMirrorError(f"git fast-import failed for {mirror.path.name}: {detail}")
            written = {}
            for line in marks_file.read_text().splitlines():
                mark_text, oid = line.split()
                written[int(mark_text[1:])] = oid
        finally:
            stream.unlink(missing_ok=True)
            marks_file.unlink(missing_ok=True)
            # Never advertised, whatever happened: drop the ref fast-import wrote to.
            subprocess.run(
                ["git", "update-ref", "-d", _IMPORT_REF],
                cwd=mirror.path,
                env=self.env,
                capture_output=True,
                check=False,
                timeout=GIT_TIMEOUT,
            )
        for commit in commits:
            got = written.get(marks[commit.sha])
            if got != commit.sha:
                raise GitMirrorError(
                    f"git wrote commit {got} where the emulator computed {commit.sha}; "
                    "refusing to serve a repository whose ids differ from the API's"
                )
        mirror.commits.update(c.sha for c in commits)
        mirror.blobs.update(new_blobs)

    def _update_refs(self, mirror: _Mirror, refs: dict[str, str]) -> None:
        lines = [f"update {name} {sha}" for name, sha in sorted(refs.items())]
        lines += [f"delete {name}" for name in sorted(mirror.refs.keys() - refs.keys())]
        self._git(mirror.path, "update-ref", "--stdin", stdin=("\n".join(lines) + "\n").encode())
        mirror.refs = dict(refs)


def _blob_bytes(blobs: BlobStore, sha256: str, size: int, lfs: bool) -> bytes:
    """What git stores for a file: its LFS pointer, or its bytes."""
    return lfs_pointer(sha256, size) if lfs else blobs.read(sha256)
