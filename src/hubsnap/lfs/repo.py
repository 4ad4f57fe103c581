"""A local git repository as the LFS bridge reads and updates it; owns ``gitpython``.

Reads (branch tips, commit trees and trailers, HEAD, config) go through gitpython; the few
writes that git must do itself (``init``, ``git lfs install``, ``read-tree -u`` with the LFS
smudge filter, ``config``) run git with an environment that cannot redirect it elsewhere.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import git

from hubsnap.errors import NotFoundError, UsageError
from hubsnap.lfs.fastimport import git_env
from hubsnap.lfs.trailers import message_trailers

__all__ = ["LFS_FILTER_CONFIG", "CommitInfo", "GitRepository", "check_branch_name"]

#: The LFS filter as ``git lfs install`` configures it, passed per command so that a
#: repository without it configured still gets real files in its working tree.
LFS_FILTER_CONFIG = (
    "filter.lfs.process=git-lfs filter-process",
    "filter.lfs.smudge=git-lfs smudge -- %f",
    "filter.lfs.clean=git-lfs clean -- %f",
    "filter.lfs.required=true",
)


_MODE_SUBMODULE = "160000"


@dataclass(frozen=True)
class CommitInfo:
    """A commit: its id, tree id, parents, message trailers (last value of each key) and
    committer date (seconds since the epoch)."""

    sha: str
    tree: str
    parents: tuple[str, ...]
    trailers: Mapping[str, str]
    committed: int = 0


def _run(args: list[str], cwd: Path, what: str) -> str:
    try:
        done = subprocess.run(
            args, cwd=cwd, env=git_env(), capture_output=True, text=True, check=False
        )
    except FileNotFoundError as e:
        raise UsageError(f"cannot {what}: {args[0]} is not installed") from e
    if done.returncode != 0:
        first = next(
            (ln for ln in done.stderr.splitlines() if ln.strip()), f"exit {done.returncode}"
        )
        raise UsageError(f"cannot {what}: {first}")
    return done.stdout


def _run_bytes(args: list[str], cwd: Path, what: str) -> bytes:
    done = subprocess.run(args, cwd=cwd, env=git_env(), capture_output=True, check=False)
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise UsageError(f"cannot {what}: {lines[0] if lines else done.returncode}")
    return done.stdout


def check_branch_name(name: str) -> None:
    """Refuse a branch name git would refuse (``git check-ref-format``)."""
    done = subprocess.run(
        ["git", "check-ref-format", f"refs/heads/{name}"],
        env=git_env(),
        capture_output=True,
        check=False,
    )
    if done.returncode != 0 or name.startswith("-"):
        raise UsageError(f"invalid branch name {name!r}")


class GitRepository:
    """A non-bare repository with a working tree at ``root``."""

    def __init__(self, root: Path) -> None:
        try:
            self._repo = git.Repo(root)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError) as e:
            raise NotFoundError(f"{root} is not a git repository") from e
        if self._repo.bare or self._repo.working_tree_dir is None:
            raise UsageError(f"{root} is a bare repository", hint="give a working tree")
        self.root = Path(self._repo.working_tree_dir)

    @classmethod
    def create(cls, root: Path, branch: str) -> GitRepository:
        """``git init`` a new repository on ``branch`` with the LFS hooks and filter."""
        root.mkdir(parents=True, exist_ok=True)
        _run(["git", "init", "--quiet", f"--initial-branch={branch}", "."], root, "git init")
        _run(["git", "lfs", "install", "--local"], root, "install git-lfs in the repository")
        return cls(root)

    @property
    def git_dir(self) -> Path:
        return Path(self._repo.common_dir)

    @property
    def lfs_objects(self) -> Path:
        return self.git_dir / "lfs" / "objects"

    def current_branch(self) -> str | None:
        """The branch HEAD names (even if it has no commit yet); ``None`` when detached."""
        try:
            reference = self._repo.head.reference
        except TypeError:
            return None
        name = reference.path
        return name.removeprefix("refs/heads/") if name.startswith("refs/heads/") else None

    def branch_tip(self, branch: str) -> str | None:
        try:
            return str(self._repo.commit(f"refs/heads/{branch}").hexsha)
        except (git.BadName, ValueError):
            return None

    def resolve(self, revision: str) -> str:
        """The commit id ``revision`` names (a branch, tag, ``HEAD~2``, an id...)."""
        if revision.startswith("-"):
            raise UsageError(f"invalid revision {revision!r}")
        try:
            return str(self._repo.commit(revision).hexsha)
        except (git.BadName, git.BadObject, ValueError) as e:
            raise NotFoundError(f"revision {revision!r} not found in {self.root}") from e

    def commit(self, sha: str) -> CommitInfo:
        try:
            commit = self._repo.commit(sha)
            message = commit.message
        except (git.BadName, ValueError) as e:
            raise NotFoundError(f"commit {sha} not found in {self.root}") from e
        text = message if isinstance(message, str) else message.decode("utf-8", "replace")
        return CommitInfo(
            sha=str(commit.hexsha),
            tree=str(commit.tree.hexsha),
            parents=tuple(str(p.hexsha) for p in commit.parents),
            trailers=message_trailers(text),
            committed=int(commit.committed_date),
        )

    def tree_listing(self, sha: str) -> list[tuple[str, str, str, int]]:
        """``(path, mode, object id, size)`` of every entry below a commit's root tree, as
        ``git ls-tree`` gives them (submodules included, size 0), whatever the names hold
        (``..`` included: callers judge them)."""
        out = _run_bytes(
            ["git", "ls-tree", "-r", "-z", "-l", "--full-tree", sha], self.root, "list the commit"
        )
        entries = []
        for record in out.split(b"\0"):
            if not record:
                continue
            meta, _, raw = record.partition(b"\t")
            mode, _kind, oid, size = meta.decode("ascii", "replace").split()
            path = raw.decode("utf-8", "surrogateescape")
            entries.append((path, mode, oid, int(size) if size.isdigit() else 0))
        return entries

    def tree_entries(self, sha: str) -> dict[str, tuple[str, str]]:
        """Every file of a commit's tree: path → (mode as git writes it, blob id)."""
        return {
            path: (mode, oid)
            for path, mode, oid, _ in self.tree_listing(sha)
            if mode != _MODE_SUBMODULE
        }

    def is_dirty(self) -> bool:
        """Whether the index or the working tree differ from HEAD (untracked files aside)."""
        args = ["git"]
        for setting in LFS_FILTER_CONFIG:
            args += ["-c", setting]
        args += ["status", "--porcelain", "--untracked-files=no", "--ignore-submodules=none"]
        return bool(_run(args, self.root, "read the working tree's status").strip())

    def checkout(self, old: str | None, new: str) -> None:
        """Move the index and working tree from commit ``old`` (``None``: nothing checked
        out yet) to ``new``; LFS files are smudged from the local LFS objects."""
        args = ["git"]
        for setting in LFS_FILTER_CONFIG:
            args += ["-c", setting]
        args += ["read-tree", "-m", "-u", *([old] if old else []), new]
        _run(args, self.root, "update the working tree")

    def set_config(self, key: str, value: str) -> None:
        _run(["git", "config", "--local", key, value], self.root, f"set {key}")

    def reset_branch(self, branch: str, old: str | None, new: str) -> None:
        """Move ``branch`` back from ``new`` to ``old`` (delete it when ``old`` is ``None``)."""
        ref = f"refs/heads/{branch}"
        args = ["git", "update-ref", *(["-d", ref, new] if old is None else [ref, old, new])]
        _run(args, self.root, f"restore {branch}")
