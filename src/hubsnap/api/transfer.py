"""The transfer verbs: push, pull and login, and :func:`open_repository`.

``open_repository`` turns a parsed reference into a :class:`Repository` (a registry
repository with credentials from the docker config, or an OCI image layout), so that every
verb works the same against a registry and the local store. Pulls go through the local store:
an artifact is fetched once, then re-pushed, signed, diffed or written out from there.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubsnap.config import Settings
from hubsnap.digest import Digest
from hubsnap.errors import NotFoundError, UsageError
from hubsnap.models import Manifest
from hubsnap.oci.auth import Credentials, load_credentials, store_credentials
from hubsnap.oci.client import RegistryClient, TransportOptions
from hubsnap.oci.directory import os_error, plan_destinations
from hubsnap.oci.layout import LayoutStore, check_store_path
from hubsnap.oci.materialise import PulledFile, file_layers, linked_here, materialise
from hubsnap.oci.reference import LayoutReference, Reference, RegistryReference, parse_reference
from hubsnap.oci.registry import RegistryRepository
from hubsnap.oci.repository import LayoutRepository, Repository
from hubsnap.oci.sightings import BlobSightings
from hubsnap.oci.transfer import copy_artifact
from hubsnap.snapshot import read_artifact_reference

__all__ = [
    "LoginResult",
    "PullResult",
    "PushResult",
    "TransportOptions",
    "blob_sightings",
    "login",
    "open_repository",
    "pull",
    "push",
    "snapshot_source",
    "transport_options",
]

_REGISTRY = re.compile(r"^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9a-fA-F:]+\](?::\d{1,5})?$")
_SIGHTINGS_FILE = "blob-sightings.sqlite"


def blob_sightings(settings: Settings) -> BlobSightings:
    """The record of which registry repositories held which blobs (mount hints)."""
    return BlobSightings(settings.home / _SIGHTINGS_FILE)


def transport_options(
    settings: Settings, *, plain_http: bool | None = None, ca_file: Path | None = None
) -> TransportOptions:
    """Transport options from the settings (timeout) and the command line overrides."""
    if ca_file is not None and not ca_file.is_file():
        raise UsageError(f"CA file {ca_file} not found")
    return TransportOptions(plain_http=plain_http, ca_file=ca_file, timeout=settings.timeout)


def _options(settings: Settings, transport: TransportOptions | None) -> TransportOptions:
    return transport if transport is not None else TransportOptions(timeout=settings.timeout)


def _client(
    registry: str,
    settings: Settings,
    transport: TransportOptions | None,
    credentials: Credentials | None,
    loopback: bool,
) -> RegistryClient:
    options = _options(settings, transport)
    plain = options.plain_http if options.plain_http is not None else loopback
    return RegistryClient(registry, credentials=credentials, options=options, plain_http=plain)


def open_repository(
    ref: Reference, settings: Settings, *, transport: TransportOptions | None = None
) -> Repository:
    """The repository ``ref`` names: a :class:`RegistryRepository` or a
    :class:`LayoutRepository`. Registry credentials come from the docker config; the
    returned registry repository holds a connection pool (call ``close()`` when done).
    """
    if isinstance(ref, LayoutReference):
        return LayoutRepository(LayoutStore(check_store_path(ref.path)))
    credentials = load_credentials(settings.docker_config, ref.registry)
    client = _client(ref.registry, settings, transport, credentials, ref.is_loopback)
    return RegistryRepository(client, ref.repository)


@contextlib.contextmanager
def _opened(
    ref: Reference, settings: Settings, transport: TransportOptions | None
) -> Iterator[Repository]:
    repo = open_repository(ref, settings, transport=transport)
    try:
        yield repo
    finally:
        if isinstance(repo, RegistryRepository):
            repo.close()


def _digest_of(repo: Repository, ref: Reference) -> Digest:
    if ref.digest is not None:
        return ref.digest
    return repo.resolve(ref.tag or "latest").digest


def _with_digest(ref: Reference, digest: Digest) -> str:
    return str(ref.with_digest(digest))


# -- push -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PushResult:
    """A push: ``destination`` is ``DEST@sha256:…``; counts as in ``CopyResult``."""

    source: str
    destination: str
    digest: Digest
    blobs_total: int
    blobs_sent: int
    blobs_mounted: int
    bytes_sent: int
    referrers: tuple[Digest, ...]
    dry_run: bool
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "destination": self.destination,
            "digest": str(self.digest),
            "blobs": self.blobs_total,
            "blobsSent": self.blobs_sent,
            "blobsMounted": self.blobs_mounted,
            "bytesSent": self.bytes_sent,
            "referrers": [str(d) for d in self.referrers],
            "dryRun": self.dry_run,
        }


def snapshot_source(text: str) -> Path | None:
    """The ``snapshot.yaml`` a push source names, or ``None`` when it is a reference."""
    path = Path(text)
    if path.suffix in (".yaml", ".yml") and not text.startswith("oci:"):
        if not path.is_file():
            raise NotFoundError(f"snapshot file {text} not found")
        return path
    return None


def _source_reference(text: str, settings: Settings) -> Reference:
    """A push source: a ``snapshot.yaml`` (the artifact it records) or a reference."""
    document = snapshot_source(text)
    if document is not None:
        return parse_reference(read_artifact_reference(document))
    return parse_reference(text, store=settings.store)


def push(
    settings: Settings,
    source: str,
    destination: str,
    *,
    dry_run: bool = False,
    transport: TransportOptions | None = None,
) -> PushResult:
    """Copy an artifact (with its referrers) from ``source`` to ``destination``."""
    src_ref = _source_reference(source, settings)
    dst_ref = parse_reference(destination, store=settings.store)
    if isinstance(dst_ref, LayoutReference):
        check_store_path(dst_ref.path)
    if dst_ref.digest is not None:
        raise UsageError(
            f"push destination {destination!r} names a digest",
            hint="give a repository, optionally with a tag; the digest is the source's",
        )
    with (
        _opened(src_ref, settings, transport) as src,
        _opened(dst_ref, settings, transport) as dst,
    ):
        if isinstance(src, LayoutRepository):
            src.store.require()
        digest = _digest_of(src, src_ref)
        with _writing(dst):
            result = copy_artifact(
                src,
                dst,
                digest,
                tag=dst_ref.tag,
                dry_run=dry_run,
                sightings=blob_sightings(settings),
            )
    return PushResult(
        source=_with_digest(src_ref, digest),
        destination=_with_digest(dst_ref, digest),
        digest=digest,
        blobs_total=result.blobs_total,
        blobs_sent=result.blobs_sent,
        blobs_mounted=result.blobs_mounted,
        bytes_sent=result.bytes_sent,
        referrers=result.referrers,
        dry_run=dry_run,
        warnings=result.warnings,
    )


# -- pull -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PullResult:
    """A pull. ``tag`` is the tag the digest was resolved from (``None`` when pulled by
    digest); ``directory`` is ``None`` when the artifact went only into the local store.
    """

    reference: str
    digest: Digest
    tag: str | None
    store: Path
    directory: Path | None
    files: tuple[PulledFile, ...]
    blobs_fetched: int
    bytes_fetched: int
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "digest": str(self.digest),
            "tag": self.tag,
            "store": str(self.store),
            "directory": str(self.directory) if self.directory else None,
            "files": [
                {"path": f.path, "digest": str(f.digest), "size": f.size} for f in self.files
            ],
            "blobsFetched": self.blobs_fetched,
            "bytesFetched": self.bytes_fetched,
        }


def pull(
    settings: Settings,
    reference: str,
    *,
    output: Path | None = None,
    allow_tag: bool = False,
    link: bool = False,
    force: bool = False,
    from_cache: bool = False,
    transport: TransportOptions | None = None,
) -> PullResult:
    """Fetch an artifact and, with ``output``, write its files into that directory.

    The manifest always comes from the repository ``reference`` names (so a repository that
    lacks the artifact is an error even when the local store has it), unless ``from_cache``
    allows the store to answer. Without ``output`` the artifact goes into the local store.
    With ``output`` the files are independent copies, each streamed once (from the store
    when it holds the blob, else from the source) and nothing is added to the store; ``link``
    fills the store instead and hard-links the files to its blobs (sharing their bytes).
    Every destination is checked before the first write and a failure leaves ``output`` as
    it was; ``force`` lets files that differ from the artifact's be replaced.
    """
    ref = parse_reference(reference, store=settings.store)
    if ref.digest is None and not allow_tag:
        raise UsageError(
            f"{reference} names no digest",
            hint="pull by digest (REF@sha256:…), or pass --allow-tag to resolve the tag",
        )
    store = LayoutStore(check_store_path(settings.store))
    local = LayoutRepository(store)
    with _opened(ref, settings, transport) as src:
        digest, data = _pull_manifest(src, ref, local, from_cache)
        manifest = Manifest.from_bytes(data, digest)
        layers = file_layers(manifest)  # every path checked before a blob is fetched
        plan = (
            plan_destinations(
                output, layers, force=force, same_file=linked_here(store) if link else None
            )
            if output is not None
            else None
        )
        if plan is not None and not link:
            written = materialise(plan, store, src, check=manifest.config, label=digest.hex[:12])
            fetched, sent, warnings = written.blobs_fetched, written.bytes_fetched, []
            files = written.files
        else:
            with _writing(local):
                result = copy_artifact(
                    src, local, digest, manifest_bytes=data, sightings=blob_sightings(settings)
                )
            fetched, sent, warnings = result.blobs_sent, result.bytes_sent, list(result.warnings)
            files = ()
            if plan is not None:
                files = materialise(plan, store, None, link=True, verified=result.sent).files
    return PullResult(
        reference=_with_digest(ref, digest),
        digest=digest,
        tag=ref.tag if ref.digest is None else None,
        store=settings.store,
        directory=output,
        files=files,
        blobs_fetched=fetched,
        bytes_fetched=sent,
        warnings=tuple((plan.warnings if plan is not None else ()) + tuple(warnings)),
    )


def _pull_manifest(
    src: Repository, ref: Reference, local: LayoutRepository, from_cache: bool
) -> tuple[Digest, bytes]:
    """The digest ``ref`` names and its manifest bytes, from the source unless the store may
    answer (``from_cache``) and holds them."""
    if from_cache and ref.digest is not None and local.store.has_blob(ref.digest):
        return ref.digest, local.store.read_blob(ref.digest)
    if isinstance(src, LayoutRepository):
        src.store.require()
    digest = _digest_of(src, ref)
    return digest, src.get_manifest(digest)[0]


@contextlib.contextmanager
def _writing(repo: Repository) -> Iterator[None]:
    """Guard a copy into ``repo``: when it is a layout, a filesystem failure becomes one line
    (exit 2, e.g. "No space left on device") and a layout this copy created but left empty
    is removed again, so a failed command leaves no empty store behind."""
    store = repo.store if isinstance(repo, LayoutRepository) else None
    existed = store is None or store.root.exists()
    try:
        yield
    except BaseException as e:
        if store is not None and not existed:
            store.discard_if_unused()
        if store is not None and isinstance(e, OSError):
            raise os_error(Path(e.filename or store.root), e) from e
        raise


# -- login ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginResult:
    """A successful login: where the credentials were stored (file path or helper name)."""

    registry: str
    stored_in: str


def login(
    settings: Settings,
    registry: str,
    username: str,
    password: str,
    *,
    transport: TransportOptions | None = None,
) -> LoginResult:
    """Check the credentials against the registry, then store them in the docker config."""
    host = registry.removeprefix("https://").removeprefix("http://").rstrip("/")
    if not _REGISTRY.match(host):
        raise UsageError(f"invalid registry {registry!r}", hint="use HOST[:PORT]")
    if not username or not password:
        raise UsageError("login needs a user name and a non-empty password")
    credentials = Credentials(username, password)
    loopback = RegistryReference(host, "x").is_loopback
    client = _client(host, settings, transport, credentials, loopback)
    try:
        client.ping()
    finally:
        client.close()
    stored = store_credentials(settings.docker_config, host, credentials)
    return LoginResult(host, stored)
