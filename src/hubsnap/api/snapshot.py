"""``snapshot``: a Hub revision → verified files in the local store → ModelPack artifact.

The revision is resolved to its commit once; every later request names that commit. Files
are downloaded once, hashed while they arrive and verified against the Hub before anything
is kept (see :mod:`hubsnap.hubfiles`); the artifact is then built from those digests, its
config and manifest put into the store, and ``snapshot.yaml`` written last.

Store tags: a full snapshot is tagged readably, ``org/name:revision`` and ``org/name:commit``
(:func:`~hubsnap.oci.storeops.store_tag`; ``hubsnap store`` selects it as ``REPO@REV``, as it
does an artifact of an older store tagged with the bare commit sha); filtered and
metadata-only snapshots are indexed untagged, so they can never take the tag of the complete
artifact. Their manifests carry ``dev.hubsnap.selection`` naming the selection, and contain
only the downloaded files.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hubsnap.api.session import Session
from hubsnap.api.signing import Prompt, SignResult, sign_artifact
from hubsnap.config import Settings
from hubsnap.digest import Digest
from hubsnap.errors import UsageError
from hubsnap.hub import HubClient, HubFile
from hubsnap.hubfiles import FetchedFile, GitBlobMap, fetch_files
from hubsnap.modelcard import (
    ANNOTATION_SELECTION,
    CARD_PATH,
    CONFIG_PATH,
    SMALL_FILE_LIMIT,
    describe_model,
)
from hubsnap.oci.artifact import LayerFile, build_model_artifact
from hubsnap.oci.layout import LayoutStore
from hubsnap.oci.reference import LayoutReference
from hubsnap.oci.storeops import store_tag
from hubsnap.retry import RetryPolicy
from hubsnap.signing.keys import DEFAULT_PASSWORD_ENV, load_private_key
from hubsnap.snapshot import (
    Selection,
    SnapshotDocument,
    SnapshotFile,
    parse_card,
    select_files,
    write_snapshot,
)

__all__ = ["ANNOTATION_SELECTION", "SnapshotResult", "snapshot"]


@dataclass(frozen=True)
class SnapshotResult:
    """What a snapshot did. In a dry run ``reference`` and ``output`` are ``None`` and
    ``downloaded`` lists what would be downloaded; ``reused`` is then empty. ``signed`` is
    the signing of the artifact (``None`` when not asked to sign, and in a dry run)."""

    document: SnapshotDocument
    reference: str | None
    output: Path | None
    downloaded: tuple[str, ...]
    reused: tuple[str, ...]
    dry_run: bool
    signed: SignResult | None = None

    @property
    def digest(self) -> Digest | None:
        """The artifact's manifest digest (``None`` in a dry run)."""
        recorded = self.document.artifact_digest
        return Digest.parse(recorded) if recorded is not None else None

    def to_json(self) -> dict[str, Any]:
        out = {
            **self.document.to_json(),
            "reference": self.reference,
            "output": str(self.output) if self.output else None,
            "downloaded": list(self.downloaded),
            "reused": list(self.reused),
            "dry_run": self.dry_run,
        }
        if self.signed is not None:
            out["signed"] = self.signed.to_json()
        return out


def _recorded(file: HubFile) -> SnapshotFile:
    return SnapshotFile(
        path=file.path, size=file.size, lfs=file.lfs, git_blob_id=file.blob_id,
        sha256=file.lfs_sha256, blake3=None, downloaded=False,
    )  # fmt: skip


def _kept(fetched: FetchedFile) -> SnapshotFile:
    file, digests = fetched.file, fetched.digests
    return SnapshotFile(
        path=file.path, size=file.size, lfs=file.lfs, git_blob_id=file.blob_id,
        sha256=digests.sha256.hex, blake3=digests.blake3, downloaded=True,
    )  # fmt: skip


def _read_small(store: LayoutStore, fetched: list[FetchedFile], path: str) -> bytes | None:
    for item in fetched:
        if item.file.path == path and item.file.size <= SMALL_FILE_LIMIT:
            return store.read_blob(item.digests.sha256, limit=item.file.size)
    return None


def snapshot(
    session: Session,
    repo_id: str,
    revision: str,
    selection: Selection,
    *,
    output: Path | None,
    dry_run: bool = False,
    retry: RetryPolicy | None = None,
    sign_key: Path | None = None,
    password_env: str = DEFAULT_PASSWORD_ENV,
    prompt: Prompt | None = None,
) -> SnapshotResult:
    """Snapshot ``repo_id@revision`` into the session's local store and write ``output``;
    with ``sign_key``, then sign the artifact (the provenance records ``revision`` as the
    one requested). The key is loaded before anything is downloaded.

    ``output`` ``None`` writes no ``snapshot.yaml``. With ``HF_HUB_OFFLINE`` the answer comes
    from a full snapshot the local store holds (:mod:`hubsnap.api.snapshot_offline`).
    Raises :class:`~hubsnap.errors.HubsnapError` subclasses with the documented exit codes; on
    failure no document is written and nothing is added to the store, except what an
    interrupted run keeps to resume (see :mod:`hubsnap.hubfiles`).
    """
    settings = session.settings
    if output is not None and output.is_dir():
        raise UsageError(f"{output} is a directory", hint="give -o a file name")
    key = None
    if sign_key is not None and not dry_run:
        key = load_private_key(sign_key, password_env=password_env, prompt=prompt)
    if settings.hf_offline:
        from hubsnap.api.snapshot_offline import snapshot_from_store  # noqa: PLC0415 - cycle

        result = snapshot_from_store(
            settings, repo_id, revision, selection, output=output, dry_run=dry_run
        )
    else:
        with HubClient.from_settings(settings, retry) as client:
            result = _snapshot(
                client, settings, repo_id, revision, selection, output=output, dry_run=dry_run
            )
    if key is None or result.digest is None:
        return result
    signed = sign_artifact(
        session.local_store(),
        result.digest,
        key,
        requested_revision=revision,
        hf_endpoint=settings.hub_url,
    )
    return replace(result, signed=signed)


def _snapshot(
    client: HubClient, settings: Settings, repo_id: str, revision: str, selection: Selection,
    *, output: Path | None, dry_run: bool,
) -> SnapshotResult:  # fmt: skip
    resolved = client.resolve_revision(repo_id, revision)
    download, record_only = select_files(resolved.files, selection)
    if not download:
        raise UsageError(
            f"no files of {repo_id}@{resolved.commit[:12]} match the selection",
            hint="check --include/--exclude",
        )
    source_url = client.repo_url(repo_id)
    if dry_run:
        files = sorted(map(_recorded, (*download, *record_only)), key=lambda f: f.path)
        document = SnapshotDocument(
            model_id=repo_id, source=source_url, endpoint=client.endpoint, revision=revision,
            commit=resolved.commit, commit_date="", selection=selection, files=tuple(files),
            artifact_digest=None, artifact_reference=None, artifact_tag=None,
            card=dict(resolved.card_data),
        )  # fmt: skip
        return SnapshotResult(
            document, None, None, tuple(f.path for f in download), (), dry_run=True
        )

    date = client.commit_date(repo_id, resolved.commit)
    store = LayoutStore(settings.store)
    fetched = fetch_files(
        client, repo_id, resolved.commit, download,
        store=store, blobs=GitBlobMap(settings.home / "gitblobs"),
    )  # fmt: skip
    readme = _read_small(store, fetched, CARD_PATH)
    card = parse_card(readme) if readme is not None else dict(resolved.card_data)
    source = describe_model(
        repo_id=repo_id, commit=resolved.commit, hub_url=client.hub_url, created=date,
        card=card, config_json=_read_small(store, fetched, CONFIG_PATH),
        paths=[f.file.path for f in fetched], selection_mode=selection.mode,
    )  # fmt: skip
    layers = [
        LayerFile(f.file.path, f.digests.sha256, f.file.size, f.digests.blake3, f.file.lfs)
        for f in fetched
    ]
    artifact = build_model_artifact(layers, source)
    tag = store_tag(repo_id, revision) if selection.mode == "full" else None
    store.put_bytes(artifact.config_bytes)
    if tag is not None and revision != resolved.commit:
        # The commit's own tag keeps this artifact named when the branch tag moves on.
        store.put_manifest(artifact.manifest_bytes, tag=store_tag(repo_id, resolved.commit))
    descriptor = store.put_manifest(artifact.manifest_bytes, tag=tag)
    reference = str(LayoutReference(store.root.resolve(), None, descriptor.digest))
    files = sorted([*map(_kept, fetched), *map(_recorded, record_only)], key=lambda f: f.path)
    document = SnapshotDocument(
        model_id=repo_id, source=source_url, endpoint=client.endpoint, revision=revision,
        commit=resolved.commit, commit_date=date, selection=selection, files=tuple(files),
        artifact_digest=str(descriptor.digest), artifact_reference=reference, artifact_tag=tag,
        card=card,
    )  # fmt: skip
    if output is not None:
        write_snapshot(output, document)
    return SnapshotResult(
        document,
        reference,
        output,
        tuple(f.file.path for f in fetched if f.downloaded),
        tuple(f.file.path for f in fetched if not f.downloaded),
        dry_run=False,
    )
