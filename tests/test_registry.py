"""RegistryRepository and copy_artifact against the real distribution registry."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from hubsnap.api.inspect import inspect
from hubsnap.api.session import blob_sightings
from hubsnap.api.transfer import push
from hubsnap.canonical import canonical_json
from hubsnap.config import Settings
from hubsnap.digest import Digest, sha256_bytes
from hubsnap.models import (
    MEDIA_TYPE_EMPTY,
    MEDIA_TYPE_IMAGE_INDEX,
    MEDIA_TYPE_IMAGE_MANIFEST,
    Descriptor,
    Manifest,
)
from hubsnap.oci.client import RegistryClient, TransportOptions
from hubsnap.oci.layout import LayoutStore
from hubsnap.oci.registry import RegistryRepository, referrers_tag
from hubsnap.oci.repository import LayoutRepository
from hubsnap.oci.sightings import BlobSightings
from hubsnap.oci.transfer import copy_artifact
from support.registry import CountingTransport, RegistryServer, build_model, session_for

pytestmark = pytest.mark.registry

SIG_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"


def _remote(
    registry: RegistryServer,
    repo: str,
    *,
    chunk_size: int | None = None,
    transport: httpx.BaseTransport | None = None,
) -> RegistryRepository:
    options = TransportOptions(chunk_size=chunk_size, transport=transport)
    client = RegistryClient(registry.host, options=options, plain_http=True)
    return RegistryRepository(client, repo)


def _local(path: Path) -> LayoutRepository:
    return LayoutRepository(LayoutStore(path))


def _files() -> dict[str, bytes]:
    return {
        "config.json": b'{"layers": 2}\n',
        "model-00001.safetensors": os.urandom(2 << 20),
        "model-00002.safetensors": os.urandom(2 << 20),
        "README.md": b"# card\n",
    }


def _referrer(
    repo: RegistryRepository | LayoutRepository, subject: Digest, payload: bytes
) -> Digest:
    """Attach a signature-like referrer (empty config, one layer) to ``subject``."""
    empty = repo.put_blob_bytes(b"{}")
    layer = repo.put_blob_bytes(payload)
    manifest = Manifest(
        config=Descriptor(MEDIA_TYPE_EMPTY, empty, 2),
        layers=(Descriptor("application/vnd.dev.sigstore.bundle.v0.3+json", layer, len(payload)),),
        artifact_type=SIG_TYPE,
        subject=Descriptor(MEDIA_TYPE_IMAGE_MANIFEST, subject, 1),
        annotations={"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
    )
    return repo.put_manifest(manifest.to_bytes())


def test_repush_after_one_small_change_sends_only_that_file(
    registry: RegistryServer, repo_name: str, tmp_path: Path
) -> None:
    files = _files()
    first = Digest.parse(build_model(tmp_path / "v1", files))
    copy_artifact(_local(tmp_path / "v1"), _remote(registry, repo_name), first)

    files["config.json"] = b'{"layers": 3}\n'
    second = Digest.parse(build_model(tmp_path / "v2", files))
    counter = CountingTransport()
    result = copy_artifact(
        _local(tmp_path / "v2"), _remote(registry, repo_name, transport=counter), second
    )
    assert result.blobs_sent == 2  # config.json and the model config blob
    _, manifest = LayoutStore(tmp_path / "v2").read_manifest(second)
    model_config = manifest.config.size
    manifest_size = len(manifest.to_bytes())
    assert counter.bytes_sent == len(files["config.json"]) + model_config + manifest_size


def test_chunked_upload_round_trip(
    registry: RegistryServer, repo_name: str, tmp_path: Path
) -> None:
    digest = Digest.parse(build_model(tmp_path / "src", _files()))
    counter = CountingTransport()
    remote = _remote(registry, repo_name, chunk_size=1 << 20, transport=counter)
    copy_artifact(_local(tmp_path / "src"), remote, digest)
    assert sum(1 for method, _ in counter.requests if method == "PATCH") >= 4

    back = _local(tmp_path / "back")
    copy_artifact(_remote(registry, repo_name), back, digest)
    assert sha256_bytes(back.store.read_manifest(digest)[0]) == digest


def test_blobs_are_mounted_across_repositories(
    registry: RegistryServer, repo_name: str, tmp_path: Path
) -> None:
    digest = Digest.parse(build_model(tmp_path / "src", _files()))
    copy_artifact(_local(tmp_path / "src"), _remote(registry, repo_name), digest)
    counter = CountingTransport()
    result = copy_artifact(
        _remote(registry, repo_name), _remote(registry, f"{repo_name}-mirror", transport=counter),
        digest,
    )  # fmt: skip
    assert result.blobs_mounted == result.blobs_total == 5
    assert result.bytes_sent == 0
    assert counter.bytes_sent == len(LayoutStore(tmp_path / "src").read_manifest(digest)[0])


def test_referrers_fall_back_to_the_tag_schema(
    registry: RegistryServer, repo_name: str, tmp_path: Path
) -> None:
    digest = Digest.parse(build_model(tmp_path / "src", _files()))
    remote = _remote(registry, repo_name)
    copy_artifact(_local(tmp_path / "src"), remote, digest)
    assert remote.referrers(digest) == []

    sig = _referrer(remote, digest, b"signature one")
    prov = _referrer(remote, digest, b"signature two")
    found = remote.referrers(digest)
    assert [d.digest for d in found] == [sig, prov]
    assert {d.artifact_type for d in found} == {SIG_TYPE}
    assert remote.referrers(digest, "application/vnd.other") == []
    # The index lives under the sha256-<hex> tag, as the tag schema says.
    index = remote.resolve(referrers_tag(digest))
    assert index.media_type == "application/vnd.oci.image.index.v1+json"
    # Putting the same referrer again does not duplicate it.
    _referrer(remote, digest, b"signature one")
    assert [d.digest for d in remote.referrers(digest)] == [sig, prov]


def test_copy_carries_referrers_and_inspect_shows_the_tree(
    registry: RegistryServer, repo_name: str, tmp_path: Path
) -> None:
    digest = Digest.parse(build_model(tmp_path / "src", _files()))
    local = _local(tmp_path / "src")
    sig = _referrer(local, digest, b"local signature")
    countersig = _referrer(local, sig, b"signature of the signature")

    result = copy_artifact(local, _remote(registry, repo_name), digest)
    assert result.referrers == (sig, countersig)

    settings = Settings.from_env({"HUBSNAP_HOME": str(tmp_path / "home")})
    shown = inspect(session_for(settings), f"{registry.host}/{repo_name}@{digest}")
    assert [node.descriptor.digest for node in shown.referrers] == [sig]
    assert [node.descriptor.digest for node in shown.referrers[0].referrers] == [countersig]


def test_open_repository_gives_either_kind(registry: RegistryServer, tmp_path: Path) -> None:
    from hubsnap.oci.reference import parse_reference

    settings = Settings.from_env({"HUBSNAP_HOME": str(tmp_path / "home")})
    session = session_for(settings)
    remote = session.open(parse_reference(f"{registry.host}/a/b:v1"))
    local = session.open(parse_reference(f"oci:{tmp_path / 'layout'}"))
    assert isinstance(remote, RegistryRepository)
    assert remote.describe() == f"{registry.host}/a/b"
    assert isinstance(local, LayoutRepository)
    assert local.describe() == f"oci:{tmp_path / 'layout'}"
    data = b"some bytes"
    assert remote.put_blob_bytes(data) == sha256_bytes(data)
    assert remote.get_blob_bytes(sha256_bytes(data), 100) == data
    remote.close()


def test_blob_seen_in_another_repository_is_mounted_not_sent(
    registry: RegistryServer, repo_name: str, tmp_path: Path
) -> None:
    files = _files()
    first = build_model(tmp_path / "a", files)
    settings = Settings.from_env(
        {"HUBSNAP_HOME": str(tmp_path / "home"), "DOCKER_CONFIG": str(tmp_path / "docker")}
    )
    push(session_for(settings), f"oci:{tmp_path / 'a'}@{first}", f"{registry.host}/{repo_name}")

    # Another artifact, from another local store, sharing the weights and the card.
    files["config.json"] = b'{"layers": 5}\n'
    second = Digest.parse(build_model(tmp_path / "b", files))
    counter = CountingTransport()
    result = push(
        session_for(settings, TransportOptions(plain_http=True, transport=counter)),
        f"oci:{tmp_path / 'b'}@{second}",
        f"{registry.host}/{repo_name}-b",
    )
    assert (result.blobs_mounted, result.blobs_sent) == (3, 2)
    _, manifest = LayoutStore(tmp_path / "b").read_manifest(second)
    sent = len(files["config.json"]) + manifest.config.size + len(manifest.to_bytes())
    assert counter.bytes_sent == sent
    mounts = [path for method, path in counter.requests if method == "POST"]
    assert len(mounts) == 3 + 2  # three mounts, then two ordinary uploads
    # What was just pushed is recorded too: the next push can mount from either repository.
    weights = sha256_bytes(files["model-00001.safetensors"])
    assert blob_sightings(settings).repositories(registry.host, weights) == [
        f"{repo_name}-b",
        repo_name,
    ]


def test_a_stale_sighting_falls_back_to_upload_and_is_forgotten(
    registry: RegistryServer, repo_name: str, tmp_path: Path
) -> None:
    files = _files()
    digest = Digest.parse(build_model(tmp_path / "src", files))
    sightings = BlobSightings(tmp_path / "sightings.sqlite")
    _, manifest = LayoutStore(tmp_path / "src").read_manifest(digest)
    blobs = [manifest.config.digest, *(layer.digest for layer in manifest.layers)]
    sightings.record(registry.host, f"{repo_name}-gone", blobs)

    result = copy_artifact(
        _local(tmp_path / "src"), _remote(registry, repo_name), digest, sightings=sightings
    )
    assert (result.blobs_mounted, result.blobs_sent) == (0, 5)
    assert sha256_bytes(_remote(registry, repo_name).manifest(digest).data) == digest
    assert all(sightings.repositories(registry.host, b) == [repo_name] for b in blobs)


class _AfterIndexWrite(httpx.BaseTransport):
    """Runs ``then`` once, right after the first write of a referrers tag: another writer."""

    def __init__(self, then: Callable[[], None]) -> None:
        self._inner = httpx.HTTPTransport()
        self._then: Callable[[], None] | None = then

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if request.method == "PUT" and "/manifests/sha256-" in request.url.path and self._then:
            then, self._then = self._then, None
            then()
        return response

    def close(self) -> None:
        self._inner.close()


def test_two_signers_racing_on_the_fallback_index_both_end_up_in_it(
    registry: RegistryServer, repo_name: str, tmp_path: Path
) -> None:
    digest = Digest.parse(build_model(tmp_path / "src", _files()))
    copy_artifact(_local(tmp_path / "src"), _remote(registry, repo_name), digest)
    other = _remote(registry, repo_name)

    def stale_write_by_the_other_signer() -> None:
        # It read the index while it was still empty, so it writes back only its own entry.
        theirs = _referrer(_local(tmp_path / "other"), digest, b"their signature")
        data, manifest = LayoutStore(tmp_path / "other").read_manifest(theirs)
        for blob in (manifest.config, *manifest.layers):
            other.put_blob_bytes(LayoutStore(tmp_path / "other").read_blob(blob.digest))
        other._puts.put_bytes(data, manifest.media_type, None)
        stale = Descriptor(manifest.media_type, theirs, len(data), {}, SIG_TYPE)
        index = {"schemaVersion": 2, "mediaType": MEDIA_TYPE_IMAGE_INDEX,
                 "manifests": [stale.to_json()]}  # fmt: skip
        other._puts.put_bytes(canonical_json(index), MEDIA_TYPE_IMAGE_INDEX, f"sha256-{digest.hex}")
        found.append(theirs)

    found: list[Digest] = []
    ours = _referrer(
        _remote(registry, repo_name, transport=_AfterIndexWrite(stale_write_by_the_other_signer)),
        digest,
        b"our signature",
    )
    assert [d.digest for d in _remote(registry, repo_name).referrers(digest)] == [*found, ours]
