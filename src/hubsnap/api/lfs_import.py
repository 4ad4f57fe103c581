"""``lfs import``: a commit of Git LFS pointers → the ModelPack artifact, in the local store.

The reverse of ``lfs commit``. The commit's files are read, hashed once on their way into the
store and checked against their pointers (:mod:`hubsnap.lfs.importer`); LFS objects missing
from the repository are fetched with git-lfs first. The artifact is described with the very
function ``snapshot`` uses (:func:`hubsnap.modelcard.describe_model`), from:

- the source: ``--source URL`` (a Hub repository URL, ``https://huggingface.co/REPO``), else
  the commit's ``Hubsnap-Source: URL@REVISION`` trailer;
- the revision: that trailer's, else the commit's own id (a clone of a Hub repository has
  the Hub's commit ids);
- the creation date: the commit's committer date (``lfs commit`` dates its commits with the
  artifact's creation date, and the Hub's commits are dated as its API reports them);
- the model card and ``config.json`` in the commit, and whether each file is a pointer.

So a commit written by ``lfs commit`` imports to the artifact it came from, and a clone of a
Hub repository at commit C imports with ``--source`` to ``hubsnap snapshot REPO@C``'s digest.
A commit that names its artifact (``Hubsnap-Artifact``) and came from a partial snapshot is
matched by trying the partial selections' annotation too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from hubsnap.api.lfs import TRAILER_ARTIFACT, TRAILER_SOURCE
from hubsnap.api.lfs_verify import split_repository_revision
from hubsnap.api.session import Session
from hubsnap.digest import Digest
from hubsnap.errors import HubsnapError, UsageError
from hubsnap.lfs.importer import ImportedFile, fetch_objects, ingest_files, plan_commit
from hubsnap.lfs.repo import GitRepository
from hubsnap.modelcard import CARD_PATH, CONFIG_PATH, SMALL_FILE_LIMIT, describe_model
from hubsnap.oci.artifact import LayerFile, ModelArtifact, build_model_artifact
from hubsnap.oci.layout import LayoutStore
from hubsnap.oci.reference import LayoutReference
from hubsnap.snapshot import parse_card

__all__ = ["LFS_IMPORT_SCHEMA", "LfsImportResult", "lfs_import", "split_source_url"]

LFS_IMPORT_SCHEMA = "hubsnap.dev/lfs-import/v1"
_SELECTIONS = ("full", "filtered", "metadata-only")


@dataclass(frozen=True)
class LfsImportResult:
    """The artifact a commit imported to; ``named`` is the artifact its trailer names
    (``None`` without one), ``fetched`` the number of LFS objects git-lfs downloaded."""

    reference: str
    digest: Digest
    commit: str
    source: str
    revision: str
    files: int
    fetched: int
    named: Digest | None

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": LFS_IMPORT_SCHEMA,
            "reference": self.reference,
            "digest": str(self.digest),
            "commit": self.commit,
            "source": self.source,
            "revision": self.revision,
            "files": self.files,
            "fetched": self.fetched,
            "named": str(self.named) if self.named else None,
        }


def split_source_url(url: str, hub_url: str) -> tuple[str, str]:
    """``https://HUB/REPO`` → ``(hub url, repo id)``. The repository is what follows the
    configured Hub URL when the URL starts with it, else the URL's whole path."""
    text = url.strip().rstrip("/").removesuffix(".git")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise UsageError(f"invalid source URL {url!r}", hint="use https://huggingface.co/REPO")
    hub = hub_url.rstrip("/")
    if text.startswith(hub + "/"):
        repo_id = text[len(hub) + 1 :]
    else:
        hub, repo_id = f"{parts.scheme}://{parts.netloc}", parts.path.strip("/")
    if not repo_id or any(p in ("", ".", "..") for p in repo_id.split("/")):
        raise UsageError(f"source URL {url!r} names no repository")
    return hub, repo_id


def _named(trailer: str | None) -> Digest | None:
    """The digest a ``Hubsnap-Artifact`` trailer names (a digest, or a reference by digest)."""
    if not trailer:
        return None
    try:
        return Digest.parse(trailer.rpartition("@")[2])
    except HubsnapError:
        return None


def _created(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _build(
    imported: list[ImportedFile], *, repo_id: str, revision: str, hub_url: str, created: str,
    named: Digest | None,
) -> ModelArtifact:  # fmt: skip
    small = {i.file.path: i.data for i in imported if i.data is not None}
    readme = small.get(CARD_PATH)
    layers = [
        LayerFile(
            i.file.path,
            i.digests.sha256,
            i.digests.size,
            i.digests.blake3,
            i.file.lfs,
            i.file.executable,
        )
        for i in imported
    ]
    first = None
    for mode in _SELECTIONS:
        source = describe_model(
            repo_id=repo_id, commit=revision, hub_url=hub_url, created=created,
            card=parse_card(readme) if readme is not None else {},
            config_json=small.get(CONFIG_PATH), paths=[i.file.path for i in imported],
            selection_mode=mode,
        )  # fmt: skip
        artifact = build_model_artifact(layers, source)
        if named is None or artifact.digest == named:
            return artifact
        first = first or artifact
    assert first is not None
    return first


def lfs_import(session: Session, target: str, *, source: str | None = None) -> LfsImportResult:
    """Import the commit ``target`` (``DIR[@REV]``) into the session's local store."""
    settings = session.settings
    directory, rev = split_repository_revision(target)
    repo = GitRepository(directory)
    commit = repo.commit(repo.resolve(rev))
    trailer = commit.trailers.get(TRAILER_SOURCE)
    trailer_url, _, trailer_revision = (trailer or "").rpartition("@")
    url = source or trailer_url
    if not url:
        raise UsageError(
            f"commit {commit.sha} has no {TRAILER_SOURCE} trailer",
            hint="pass --source https://huggingface.co/REPO",
        )
    hub_url, repo_id = split_source_url(url, settings.hub_url)
    revision = trailer_revision if trailer and trailer_revision else commit.sha
    files = plan_commit(repo, commit.sha)
    if not files:
        raise UsageError(f"commit {commit.sha} holds no files")
    fetched = fetch_objects(repo.root, repo.lfs_objects, commit.sha, files)
    store = LayoutStore(settings.store)
    existed = store.exists()
    try:
        imported = ingest_files(
            repo.root, repo.lfs_objects, files, store,
            keep=lambda f: f.path in (CARD_PATH, CONFIG_PATH) and f.size <= SMALL_FILE_LIMIT,
        )  # fmt: skip
    except BaseException:
        if not existed:
            store.discard_if_unused()
        raise
    named = _named(commit.trailers.get(TRAILER_ARTIFACT))
    artifact = _build(
        imported, repo_id=repo_id, revision=revision, hub_url=hub_url,
        created=_created(commit.committed), named=named,
    )  # fmt: skip
    store.put_bytes(artifact.config_bytes)
    digest = artifact.digest
    if not any(entry.descriptor.digest == digest for entry in store.entries()):
        store.put_manifest(artifact.manifest_bytes)
    reference = str(LayoutReference(store.root.resolve(), None, digest))
    return LfsImportResult(
        reference=reference,
        digest=digest,
        commit=commit.sha,
        source=f"{hub_url}/{repo_id}",
        revision=revision,
        files=len(imported),
        fetched=fetched,
        named=named,
    )
