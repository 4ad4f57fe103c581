"""One command's view of the world: :class:`Session`.

A session holds the settings, one registry client (connection pool, credentials, tokens) per
registry, the repositories opened through it and a cache of verified manifests keyed by
digest, so that one command opens each reference once, authenticates once per registry and
reads each manifest once however many steps use it. Every verb takes a session; composed
verbs (``push --sign``, ``snapshot --sign``) hand the repository and digest one step found to
the next, never a reference string to parse again.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from hubsnap.config import Settings
from hubsnap.digest import Digest
from hubsnap.errors import UsageError
from hubsnap.oci.layout import LayoutStore, check_store_path
from hubsnap.oci.options import TransportOptions
from hubsnap.oci.reference import LayoutReference, Reference, RegistryReference, parse_reference
from hubsnap.oci.repository import LayoutRepository, ManifestCache, Repository, VerifiedManifest
from hubsnap.oci.sightings import BlobSightings

if TYPE_CHECKING:
    from hubsnap.oci.client import RegistryClient
    from hubsnap.oci.registry import RegistryRepository

__all__ = ["Session", "TransportOptions", "blob_sightings", "transport_options"]

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


class Session:
    """Settings, registry connections and verified manifests for one command.

    Use it as a context manager: leaving it closes every connection it opened. ``transport``
    (plain HTTP, a CA file, a test transport) applies to every registry it talks to.
    """

    def __init__(self, settings: Settings, transport: TransportOptions | None = None) -> None:
        self.settings = settings
        self.transport = (
            transport if transport is not None else TransportOptions(timeout=settings.timeout)
        )
        self.sightings = blob_sightings(settings)
        self._cache = ManifestCache()
        self._clients: dict[str, RegistryClient] = {}
        self._layouts: dict[Path, LayoutRepository] = {}
        self._remotes: dict[tuple[str, str], RegistryRepository] = {}

    @classmethod
    def from_settings(
        cls, settings: Settings, *, transport: TransportOptions | None = None
    ) -> Session:
        return cls(settings, transport)

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close every registry connection pool this session opened and release its stores."""
        clients, self._clients = self._clients, {}
        layouts, self._layouts, self._remotes = self._layouts, {}, {}
        for layout in layouts.values():
            layout.store.lock.release()  # a store gc may now delete from
        for client in clients.values():
            client.close()

    # -- references -------------------------------------------------------------------------

    def parse(self, reference: str) -> Reference:
        """A reference as the user wrote it; a bare digest names the local store."""
        return parse_reference(reference, store=self.settings.store)

    def open(self, reference: str | Reference) -> Repository:
        """The repository ``reference`` names: the same object each time it is named again.

        Registry repositories share their registry's client; layouts are known by their
        absolute path (which provenance records and policy scopes match).
        """
        ref = self.parse(reference) if isinstance(reference, str) else reference
        if isinstance(ref, LayoutReference):
            return self._layout(ref.path)
        return self._registry(ref)

    def resolve(self, reference: str | Reference) -> tuple[Repository, Digest, str | None]:
        """The repository ``reference`` names, the manifest digest it names there (resolved
        by the repository itself, once) and the tag it was resolved from (``None`` for a
        reference by digest). The manifest read on the way is kept: reading it next is free.
        """
        ref = self.parse(reference) if isinstance(reference, str) else reference
        repository = self.open(ref)
        repository.require()
        if ref.digest is not None:
            return repository, repository.resolve(ref.digest).digest, None
        tag = ref.tag or "latest"
        return repository, repository.resolve(tag).digest, tag

    def manifest(self, repository: Repository, digest: Digest) -> VerifiedManifest:
        """The manifest ``digest`` in ``repository``, read at most once per session."""
        return repository.manifest(digest)

    def local_store(self, *, create: bool = False) -> LayoutRepository:
        """The local store (``settings.store``); without ``create`` it must exist already."""
        repository = self._layout(self.settings.store)
        if not create:
            repository.require()
        return repository

    # -- opening ----------------------------------------------------------------------------

    def _layout(self, path: Path) -> LayoutRepository:
        root = check_store_path(path.expanduser()).resolve()
        found = self._layouts.get(root)
        if found is None:
            own = root == check_store_path(self.settings.store.expanduser()).resolve()
            store = LayoutStore(root, foreign=not own)
            found = self._layouts[root] = LayoutRepository(store, self._cache)
        return found

    def _registry(self, ref: RegistryReference) -> Repository:
        # The HTTP stack loads with the first registry a command names, not for local layouts.
        from hubsnap.oci.registry import RegistryRepository  # noqa: PLC0415

        key = (ref.registry, ref.repository)
        found = self._remotes.get(key)
        if found is None:
            client = self.client(ref.registry, loopback=ref.is_loopback)
            found = RegistryRepository(client, ref.repository, cache=self._cache, owns_client=False)
            self._remotes[key] = found
        return found

    def client(self, registry: str, *, loopback: bool) -> RegistryClient:
        """The one client (connection pool, credentials, tokens) for ``registry``."""
        from hubsnap.oci.auth import load_credentials  # noqa: PLC0415
        from hubsnap.oci.client import RegistryClient  # noqa: PLC0415

        client = self._clients.get(registry)
        if client is None:
            options = self.transport
            plain = options.plain_http if options.plain_http is not None else loopback
            credentials = load_credentials(
                self.settings.docker_config, registry, timeout=self.settings.timeout
            )
            client = RegistryClient(
                registry, credentials=credentials, options=options, plain_http=plain
            )
            self._clients[registry] = client
        return client
