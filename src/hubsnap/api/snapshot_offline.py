"""``snapshot`` with ``HF_HUB_OFFLINE=1``: the answer the local store already holds.

A full snapshot of ``REPO@REV`` is found by its readable store tag (``org/name:rev``, also
``org/name:commit``) or, as ``hubsnap store`` selects, by its commit; its files are re-hashed
from the store (as an online run re-checks what it reuses) and the same result and
``snapshot.yaml`` an online run would give are produced, with every file reused. Anything else
(a file selection, ``--dry-run``, a revision the store has no full snapshot of) needs the Hub:
one line, exit 2, as for every Hub command offline.
"""

from __future__ import annotations

from pathlib import Path

from hubsnap.api.snapshot import SnapshotResult
from hubsnap.config import Settings, hub_base_url
from hubsnap.digest import Digest, FileDigests, git_blob_sha1, hash_file
from hubsnap.errors import IntegrityError, NotFoundError, UsageError
from hubsnap.lfs.pointer import encode_pointer
from hubsnap.modelcard import ANNOTATION_SELECTION, CARD_PATH, SMALL_FILE_LIMIT
from hubsnap.models import (
    ANNOTATION_CREATED,
    ANNOTATION_LFS,
    ANNOTATION_REVISION,
    Descriptor,
    Manifest,
)
from hubsnap.oci.artifact import model_files
from hubsnap.oci.layout import LayoutStore, damaged_blob
from hubsnap.oci.reference import LayoutReference
from hubsnap.oci.storeops import select, store_tag
from hubsnap.snapshot import Selection, SnapshotDocument, SnapshotFile, parse_card, write_snapshot

__all__ = ["snapshot_from_store"]

_HINT = "unset HF_HUB_OFFLINE to reach the Hub"


def _needs_hub(what: str) -> UsageError:
    return UsageError(f"HF_HUB_OFFLINE is set and {what}: this needs the Hub", hint=_HINT)


def _find(store: LayoutStore, repo_id: str, revision: str, hub_url: str) -> tuple[Digest, Manifest]:
    """The full snapshot of ``repo_id@revision`` the store holds (tagged ones first)."""
    missing = _needs_hub(f"the local store holds no snapshot of {repo_id}@{revision}")
    if not store.exists():
        raise missing
    try:
        found = select(store, f"{repo_id}@{revision}", hub_url)
    except NotFoundError:
        raise missing from None
    for digest in found:
        _, manifest = store.read_manifest(digest)
        complete = ANNOTATION_SELECTION not in manifest.annotations
        if complete and manifest.annotations.get(ANNOTATION_REVISION):
            return digest, manifest
    raise missing


def _hashed(store: LayoutStore, path: str, layer: Descriptor, lfs: bool) -> FileDigests:
    """The layer's file re-hashed from the store, as an online run checks what it reuses."""
    try:
        digests = hash_file(store.blob_path(layer.digest), git_sha1=not lfs)
    except FileNotFoundError:
        raise _needs_hub(f"the local store lacks {path} ({layer.digest})") from None
    if digests.sha256 != layer.digest or digests.size != layer.size:
        raise IntegrityError(
            f"{path}: blob {layer.digest} is damaged" + damaged_blob(store, layer.digest)
        )
    return digests


def snapshot_from_store(
    settings: Settings,
    repo_id: str,
    revision: str,
    selection: Selection,
    *,
    output: Path | None,
    dry_run: bool,
) -> SnapshotResult:
    """What ``snapshot`` gives for a full snapshot the local store holds, offline."""
    if selection.mode != "full":
        raise _needs_hub(f"--include/--exclude/--metadata-only select files of {repo_id}")
    if dry_run:
        raise _needs_hub("--dry-run asks the Hub what it would download")
    store = LayoutStore(settings.store)
    digest, manifest = _find(store, repo_id, revision, settings.hub_url)
    files = []
    card: dict[str, object] = {}
    for path, layer in model_files(manifest):
        lfs = layer.annotations.get(ANNOTATION_LFS) == "true"
        digests = _hashed(store, path, layer, lfs)
        blob_id = git_blob_sha1(encode_pointer(layer.digest.hex, layer.size)) if lfs else None
        files.append(
            SnapshotFile(
                path=path, size=layer.size, lfs=lfs, git_blob_id=blob_id or digests.git_sha1 or "",
                sha256=layer.digest.hex, blake3=digests.blake3, downloaded=True,
            )
        )  # fmt: skip
        if path == CARD_PATH and layer.size <= SMALL_FILE_LIMIT:
            card = parse_card(store.read_blob(layer.digest, limit=layer.size))
    commit = manifest.annotations[ANNOTATION_REVISION]
    tag = store_tag(repo_id, revision)
    reference = str(LayoutReference(store.root.resolve(), None, digest))
    document = SnapshotDocument(
        model_id=repo_id, source=f"{settings.hub_url}/{repo_id}",
        endpoint=hub_base_url(settings.hf_endpoint, "HF_ENDPOINT"), revision=revision,
        commit=commit, commit_date=manifest.annotations.get(ANNOTATION_CREATED, ""),
        selection=selection, files=tuple(sorted(files, key=lambda f: f.path)),
        artifact_digest=str(digest), artifact_reference=reference, artifact_tag=tag, card=card,
    )  # fmt: skip
    if output is not None:
        write_snapshot(output, document)
    paths = tuple(f.path for f in document.files)
    return SnapshotResult(document, reference, output, (), paths, dry_run=False)
