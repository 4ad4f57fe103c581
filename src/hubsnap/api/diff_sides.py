"""The two sides of a diff: each input found, then made a :class:`~hubsnap.diff.files.Side`.

An input is a store digest (``sha256:…``), an ``oci:PATH`` layout reference, a registry
reference or a ``snapshot.yaml`` (its artifact in the store; files it records only by hash
are compared by hash). A registry artifact is read one of two ways:

- pulled into the local store once, every blob verified (:func:`_pull`, the one place the
  diff verb fetches weights), when the tensor values are compared or loaded by a runner;
- remote-first otherwise: its manifest, then only what the levels read, each file as it is
  asked for (:class:`RegistryFiles`): small files (configs, tokenizer files, the card,
  index files) whole and verified by digest, safetensors headers as ``Range`` reads. Blobs
  the local store already holds are read from it instead, for nothing.

Every byte a registry sent for the diff is counted into ``bytes_received``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hubsnap.api.session import Session
from hubsnap.diff.files import ArtifactFile, Side
from hubsnap.digest import Digest
from hubsnap.errors import IntegrityError, NotFoundError
from hubsnap.models import ANNOTATION_REVISION, Manifest
from hubsnap.oci.artifact import model_files
from hubsnap.oci.layout import LayoutStore, check_store_path
from hubsnap.oci.reference import LayoutReference, RegistryReference, parse_reference
from hubsnap.oci.repository import Repository
from hubsnap.snapshot import SnapshotFile, read_artifact_reference, read_recorded_files

__all__ = ["Found", "RegistryFiles", "Resolved", "find", "pull_into", "resolve", "side_of"]


class RegistryFiles:
    """A registry artifact's files, read as the levels ask for them
    (:class:`~hubsnap.diff.files.RemoteFiles`); ``received`` counts every byte the registry
    sent, its manifest's included."""

    def __init__(self, repository: Repository, received: int = 0) -> None:
        self.repository = repository
        self.received = received

    def advance(self, nbytes: int) -> None:
        self.received += nbytes

    def read_whole(self, file: ArtifactFile, limit: int) -> bytes:
        assert file.digest is not None
        data = self.repository.get_blob_bytes(Digest.parse(file.digest), limit)  # verified
        self.received += len(data)
        return data

    def read_span(self, file: ArtifactFile, start: int, length: int) -> bytes:
        # Unverified bytes (see Repository.read_blob_range): only safetensors headers come
        # this way, and only the strict reader reads them.
        assert file.digest is not None
        return self.repository.read_blob_range(
            Digest.parse(file.digest), start, length, size=file.size, progress=self
        )


@dataclass(frozen=True)
class Found:
    """An input located, nothing of its files read yet: a snapshot document, a local
    artifact (``store``) or a registry one (``repository``, its manifest read; ``pinned``
    names it by that digest, so a tag moved since is not followed)."""

    reference: str
    digest: Digest
    store: LayoutStore | None = None
    repository: Repository | None = None
    document: Path | None = None
    pinned: str | None = None

    @property
    def remote(self) -> bool:
        return self.repository is not None


@dataclass(frozen=True)
class Resolved:
    """A side before its files are listed: its manifest and where its blobs are (the
    ``store``, or ``files`` for a registry read remote-first), the files a snapshot records
    by hash, and the bytes a pull fetched."""

    reference: str
    digest: Digest
    manifest: Manifest
    store: LayoutStore | None
    files: RegistryFiles | None = None
    recorded: tuple[SnapshotFile, ...] = ()
    pulled: int | None = None

    @property
    def bytes_received(self) -> int | None:
        """What a registry sent for this side so far; ``None`` for a local side."""
        if self.files is not None:
            return self.files.received
        return self.pulled

    @property
    def revision(self) -> str | None:
        return self.manifest.annotations.get(ANNOTATION_REVISION)


def _snapshot_document(text: str) -> Path | None:
    path = Path(text)
    if text.startswith("oci:") or path.suffix not in (".yaml", ".yml"):
        return None
    if not path.is_file():
        raise NotFoundError(f"snapshot file {text} not found")
    return path


def find(session: Session, text: str) -> Found:
    """Where ``text`` is and which manifest it names; a registry is asked once, here."""
    document = _snapshot_document(text)
    if document is not None:
        ref = parse_reference(read_artifact_reference(document))
        assert isinstance(ref, LayoutReference) and ref.digest is not None
        return Found(text, ref.digest, LayoutStore(check_store_path(ref.path)), None, document)
    ref = parse_reference(text, store=session.settings.store)
    if isinstance(ref, RegistryReference):
        repository, digest, _ = session.resolve(ref)
        return Found(text, digest, repository=repository, pinned=str(ref.with_digest(digest)))
    store = LayoutStore(check_store_path(ref.path)).require()
    digest = ref.digest if ref.digest is not None else store.resolve(tag=ref.tag).digest
    return Found(text, digest, store)


def pull_into(session: Session, reference: str, output: Path | None = None) -> tuple[Digest, int]:
    """The one call to the pull verb: a registry artifact into the local store, or an
    artifact's files into ``output`` (verified either way); its digest and the bytes that
    came over the wire."""
    from hubsnap.api.transfer import pull  # noqa: PLC0415 (only registry sides need it)

    result = pull(session, reference, output=output, allow_tag=True)
    return result.digest, result.bytes_fetched


def _local_store(session: Session) -> LayoutStore | None:
    store = LayoutStore(check_store_path(session.settings.store))
    return session.local_store().store if store.exists() else None


def resolve(session: Session, found: Found, *, weights: bool) -> Resolved:
    """``found`` ready to list: a registry artifact pulled when ``weights`` are needed,
    else read remote-first."""
    if found.repository is None:
        assert found.store is not None
        store = found.store.require()
        _, manifest = store.read_manifest(found.digest)
        recorded = read_recorded_files(found.document) if found.document else ()
        return Resolved(found.reference, found.digest, manifest, store, recorded=recorded)
    if weights:
        digest, received = pull_into(session, found.pinned or found.reference)
        store = session.local_store().store
        _, manifest = store.read_manifest(digest)
        return Resolved(found.reference, digest, manifest, store, pulled=received)
    verified = session.manifest(found.repository, found.digest)
    files = RegistryFiles(found.repository, received=verified.size)
    return Resolved(found.reference, found.digest, verified.manifest, _local_store(session), files)


def side_of(resolved: Resolved) -> Side:
    """The side's files by path: each from the store when it holds the blob, else (remote-
    first) from the registry, else (a snapshot's hash-only files) known by hash alone."""
    store = resolved.store
    files: dict[str, ArtifactFile] = {}
    git_ids = {f.path: f.git_blob_id or None for f in resolved.recorded}
    for path, layer in model_files(resolved.manifest):
        local = None
        if store is not None and store.has_blob(layer.digest, layer.size):
            local = store.blob_path(layer.digest)
            if local.is_symlink():
                raise IntegrityError(f"blob {layer.digest} ({path}) in {store.root} is a symlink")
        elif resolved.files is None:
            where = store.root if store is not None else "the local store"
            raise NotFoundError(
                f"{path} ({layer.digest}) of {resolved.reference} is missing from {where}"
            )
        files[path] = ArtifactFile(path, str(layer.digest), layer.size, local, git_ids.get(path))
    for f in resolved.recorded:
        digest = f"sha256:{f.sha256}" if f.sha256 else None
        files.setdefault(f.path, ArtifactFile(f.path, digest, f.size, None, f.git_blob_id or None))
    return Side(resolved.reference, resolved.digest, files, remote=resolved.files)
