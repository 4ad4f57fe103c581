"""The Git LFS verbs: ``lfs commit`` writes an artifact as one commit of LFS pointers.

The artifact is read from the local store (registry references are pulled into it first,
verified); its files become a tree (:mod:`hubsnap.lfs.tree`), its LFS objects hard links in
the repository's ``.git/lfs/objects``, and one reproducible commit on the branch written with
``git fast-import``. The same artifact on top of the branch already adds nothing. If the
branch is checked out, its index and working tree follow; a dirty working tree is refused
before anything is changed.
"""

from __future__ import annotations

import calendar
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubsnap.api.session import Session
from hubsnap.api.transfer import pull
from hubsnap.digest import Digest
from hubsnap.errors import IntegrityError, NotFoundError, UsageError
from hubsnap.lfs.fastimport import CommitRequest, Identity, fast_import, tree_ids
from hubsnap.lfs.objects import place_object
from hubsnap.lfs.repo import GitRepository, check_branch_name
from hubsnap.lfs.tree import PlannedFile, plan_tree
from hubsnap.models import ANNOTATION_CREATED, ANNOTATION_REVISION, ANNOTATION_SOURCE, Manifest
from hubsnap.oci.artifact import model_files, parse_model_config
from hubsnap.oci.layout import LayoutStore
from hubsnap.oci.reference import LayoutReference

__all__ = [
    "HUBSNAP_IDENTITY",
    "LFS_COMMIT_SCHEMA",
    "TRAILER_ARTIFACT",
    "TRAILER_SOURCE",
    "LfsCommitResult",
    "LoadedArtifact",
    "lfs_commit",
    "load_artifact",
    "plan_artifact",
]

LFS_COMMIT_SCHEMA = "hubsnap.dev/lfs-commit/v1"
TRAILER_ARTIFACT = "Hubsnap-Artifact"
TRAILER_SOURCE = "Hubsnap-Source"
HUBSNAP_IDENTITY = Identity("hubsnap", "hubsnap@invalid")
#: New repositories start on the branch the Hub uses.
_DEFAULT_BRANCH = "main"


@dataclass(frozen=True)
class LfsCommitResult:
    """A commit written (``changed``) or found already on top of the branch."""

    commit: str
    branch: str
    artifact: Digest
    changed: bool
    repository: Path

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": LFS_COMMIT_SCHEMA,
            "commit": self.commit,
            "branch": self.branch,
            "artifact": str(self.artifact),
            "changed": self.changed,
        }


@dataclass(frozen=True)
class LoadedArtifact:
    """A model artifact and the store that holds its verified blobs."""

    store: LayoutStore
    digest: Digest
    manifest: Manifest


def load_artifact(session: Session, reference: str) -> LoadedArtifact:
    """The artifact ``reference`` names, from a layout or pulled into the local store."""
    ref = session.parse(reference)
    if isinstance(ref, LayoutReference):
        own = ref.path.resolve() == session.settings.store.resolve()
        store = LayoutStore(ref.path, foreign=not own)
        # hubsnap's own store needs no check against the layout spec; any other layout does.
        if not (store.exists() and own):
            store.require()
        digest = ref.digest or store.resolve(tag=ref.tag).digest
    else:
        digest = pull(session, reference, allow_tag=True).digest
        store = LayoutStore(session.settings.store)
    _, manifest = store.read_manifest(digest)
    if not manifest.is_model:
        raise UsageError(f"{reference} is not a model artifact", hint="give a ModelPack artifact")
    return LoadedArtifact(store, digest, manifest)


def plan_artifact(artifact: LoadedArtifact) -> list[PlannedFile]:
    """The artifact's files as a git tree (see :func:`hubsnap.lfs.tree.plan_tree`)."""
    files = model_files(artifact.manifest)
    store = artifact.store
    for path, layer in files:
        if not store.has_blob(layer.digest, layer.size):
            raise NotFoundError(f"{path}: blob {layer.digest} is missing from {store.root}")
    return plan_tree(files, store.blob_path, lambda d, limit: store.read_blob(d, limit=limit))


def _epoch(manifest: Manifest) -> int:
    created = manifest.annotations.get(ANNOTATION_CREATED)
    if not created:
        return 0
    try:
        return calendar.timegm(time.strptime(created, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError as e:
        raise IntegrityError(f"artifact creation date {created[:40]!r} is malformed") from e


def _message(artifact: LoadedArtifact, title: str | None) -> str:
    manifest = artifact.manifest
    source = manifest.annotations.get(ANNOTATION_SOURCE)
    revision = manifest.annotations.get(ANNOTATION_REVISION)
    if title is None:
        config = parse_model_config(artifact.store.read_blob(manifest.config.digest))
        descriptor = config.get("descriptor")
        name = descriptor.get("name") if isinstance(descriptor, dict) else None
        what = name if isinstance(name, str) and name else str(artifact.digest)
        title = f"Add {what}" + (f" at {revision[:12]}" if revision else "")
    trailers = [f"{TRAILER_ARTIFACT}: {artifact.digest}"]
    if source and revision:
        trailers.append(f"{TRAILER_SOURCE}: {source}@{revision}")
    return title.strip() + "\n\n" + "\n".join(trailers) + "\n"


def _open_existing(directory: Path) -> GitRepository | None:
    if not directory.exists():
        return None
    if directory.is_dir() and not any(directory.iterdir()):
        return None
    try:
        return GitRepository(directory)
    except NotFoundError as e:
        raise UsageError(f"{directory} exists and is not a git repository") from e


def lfs_commit(
    session: Session,
    reference: str,
    directory: Path,
    *,
    branch: str | None = None,
    message: str | None = None,
    author: Identity | None = None,
    lock: bool = True,
) -> LfsCommitResult:
    """Write the artifact ``reference`` names as one commit on ``branch`` of ``directory``."""
    repo = _open_existing(directory)
    if branch is None:
        branch = repo.current_branch() if repo is not None else _DEFAULT_BRANCH
        if branch is None:
            raise UsageError(f"{directory} has a detached HEAD", hint="pass --branch")
    check_branch_name(branch)
    checked_out = repo is not None and repo.current_branch() == branch
    if repo is not None and checked_out and repo.is_dirty():
        raise UsageError(
            f"{directory} has uncommitted changes", hint="commit or stash them, then retry"
        )
    artifact = load_artifact(session, reference)
    planned = plan_artifact(artifact)
    root = tree_ids((p.path, p.tree_file.mode, p.tree_file.blob_id()) for p in planned)[""]
    parent = repo.branch_tip(branch) if repo is not None else None
    if repo is not None and parent is not None:
        tip = repo.commit(parent)
        if tip.tree == root and tip.trailers.get(TRAILER_ARTIFACT) == str(artifact.digest):
            if lock:
                repo.set_config(f"branch.{branch}.hubsnapArtifact", str(artifact.digest))
            return LfsCommitResult(parent, branch, artifact.digest, False, repo.root)
    if repo is None:
        repo = GitRepository.create(directory, branch)
        checked_out = repo.current_branch() == branch
    for item in planned:
        if item.lfs:
            source = artifact.store.blob_path(item.layer.digest)
            place_object(repo.lfs_objects, item.layer.digest.hex, item.layer.size, source)
    identity = author or HUBSNAP_IDENTITY
    request = CommitRequest(
        branch=branch,
        files=[p.tree_file for p in planned],
        author=identity,
        committer=identity,
        epoch=_epoch(artifact.manifest),
        message=_message(artifact, message),
        parent=parent,
    )
    fast_import(repo.root, request)
    commit = repo.branch_tip(branch)
    if commit is None or repo.commit(commit).tree != root:
        raise IntegrityError(f"git wrote another tree than planned on {branch}")
    if checked_out:
        try:
            repo.checkout(parent, commit)
        except UsageError:
            with contextlib.suppress(UsageError):
                repo.reset_branch(branch, parent, commit)
            raise
    if lock:
        repo.set_config(f"branch.{branch}.hubsnapArtifact", str(artifact.digest))
    return LfsCommitResult(commit, branch, artifact.digest, True, repo.root)
