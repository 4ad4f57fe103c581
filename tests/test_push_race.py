"""Pushers of the same blobs at once: a manifest the registry refuses for them is checked again.

distribution 2.x rewrites a repository's blob link file (truncate, then write) each time an
upload of that blob completes, so a manifest PUT from another pusher may read an empty link
and be refused ``400 DIGEST_INVALID`` + ``MANIFEST_BLOB_UNKNOWN`` although the blob is there.
Against the real registry, eight pushers of one artifact start together, round after round,
and every push succeeds. Against a scripted registry: one refusal costs one re-check of each
blob and one more PUT; a blob the registry then lacks is sent again; a refusal that never
ends, or a blob that never arrives, is exit 5 with one line naming the blob; any other
refusal is not repeated.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.request
import uuid
from pathlib import Path

import pytest

from hubsnap.api.session import TransportOptions
from hubsnap.api.transfer import push
from hubsnap.config import Settings
from hubsnap.digest import Digest, sha256_bytes
from hubsnap.errors import HubsnapError
from hubsnap.models import MEDIA_TYPE_IMAGE_MANIFEST
from hubsnap.oci.layout import LayoutStore
from hubsnap.oci.manifestput import MANIFEST_PUT_ATTEMPTS
from hubsnap.retry import RetryPolicy
from support.hostile_registry import HonestRoutes, HostileServer, Reply, Seen, hostile_server
from support.registry import (
    CliRun,
    CountingTransport,
    RegistryServer,
    build_model,
    run_cli,
    session_for,
)

PUSHERS = 8
ROUNDS = 6
LAYERS = 16


# -- the real registry ----------------------------------------------------------------------


@pytest.mark.registry
def test_eight_pushers_of_one_artifact_at_once_all_succeed_round_after_round(
    registry: RegistryServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.undo()  # the real backoff between repeated PUTs
    files = {f"shard-{n}.bin": os.urandom(2048) for n in range(LAYERS)}
    digest = build_model(tmp_path / "src", files)
    source = f"oci:{tmp_path / 'src'}@{digest}"
    failures: list[str] = []
    counters: list[CountingTransport] = []
    for round_ in range(ROUNDS):
        repository = f"race/{uuid.uuid4().hex[:12]}"
        start = threading.Barrier(PUSHERS)

        def pusher(n: int, repository: str = repository, start: threading.Barrier = start) -> None:
            counter = CountingTransport()
            counters.append(counter)
            home = tmp_path / f"home-{round_}-{n}"  # noqa: B023 (read before the round ends)
            settings = Settings.from_env(
                {"HUBSNAP_HOME": str(home), "DOCKER_CONFIG": str(tmp_path / "docker")}
            )
            session = session_for(settings, TransportOptions(transport=counter))
            start.wait()
            try:
                result = push(session, source, f"{registry.host}/{repository}:v1")
                assert str(result.digest) == digest
            except HubsnapError as e:
                failures.append(e.message)

        threads = [threading.Thread(target=pusher, args=(n,)) for n in range(PUSHERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not any(t.is_alive() for t in threads)
        assert _tagged(registry, repository, "v1") == digest
    assert failures == []
    puts = [m for c in counters for m, path in c.requests if m == "PUT" and "/manifests/" in path]
    assert len(puts) >= ROUNDS * PUSHERS  # more where a refusal was checked and repeated


def _tagged(registry: RegistryServer, repository: str, tag: str) -> str:
    """The digest of the manifest ``tag`` names, computed from the bytes served."""
    request = urllib.request.Request(
        f"{registry.url}/v2/{repository}/manifests/{tag}",
        headers={"Accept": MEDIA_TYPE_IMAGE_MANIFEST},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(sha256_bytes(response.read()))


# -- a scripted registry --------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RetryPolicy, "delay", lambda self, attempt, retry_after=None: 0.0)


def _refusal(blob: str | None) -> Reply:
    """distribution's answer when the manifest check read an empty link for ``blob``; with
    ``None``, a registry that names no blob."""
    errors: list[dict[str, str]] = [
        {"code": "DIGEST_INVALID", "message": "provided digest did not match uploaded content"}
    ]
    if blob is not None:
        errors.append(
            {"code": "MANIFEST_BLOB_UNKNOWN", "message": "blob unknown to registry", "detail": blob}
        )
    body = {"errors": errors}
    return Reply(400, [("Content-Type", "application/json")], json.dumps(body).encode())


def _model(tmp_path: Path) -> tuple[str, list[str], str]:
    """A model of three files in ``tmp_path/src``: its digest, its blobs, one layer."""
    files = {f"w{n}.bin": os.urandom(1024) for n in range(3)}
    digest = build_model(tmp_path / "src", files)
    _, manifest = LayoutStore(tmp_path / "src").read_manifest(Digest.parse(digest))
    blobs = [str(b.digest) for b in (manifest.config, *manifest.layers)]
    return digest, blobs, str(manifest.layers[1].digest)


def _push(
    server: HostileServer, tmp_path: Path, digest: str, capsys: pytest.CaptureFixture[str]
) -> CliRun:
    return run_cli(
        ["push", f"oci:{tmp_path / 'src'}@{digest}", f"{server.host}/m/x:v1", "--json"], capsys
    )


def _manifest_puts(server: HostileServer) -> list[int]:
    """Indexes (in ``server.seen``) of the manifest PUTs."""
    return [n for n, s in enumerate(server.seen) if s.method == "PUT" and "/manifests/" in s.path]


def _heads(seen: list[Seen]) -> list[str]:
    return [s.path.rsplit("/", 1)[1] for s in seen if s.method == "HEAD"]


def _uploads(seen: list[Seen]) -> list[str]:
    return [s.query.split("digest=")[1].replace("%3A", ":") for s in seen if "digest=" in s.query]


@pytest.mark.usefixtures("transfer_env")
def test_one_refusal_rechecks_every_blob_once_and_puts_the_manifest_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digest, blobs, layer = _model(tmp_path)
    honest = HonestRoutes()
    refused: list[Seen] = []

    def route(seen: Seen) -> Reply:
        if seen.method == "PUT" and "/manifests/" in seen.path and not refused:
            refused.append(seen)
            return _refusal(layer)
        return honest(seen)

    with hostile_server(route) as server:
        run = _push(server, tmp_path, digest, capsys)
    assert run.code == 0, run.err
    assert json.loads(run.out)["blobs_sent"] == len(blobs)
    first, second = _manifest_puts(server)
    assert sorted(_heads(server.seen[first:second])) == sorted(blobs)  # each blob once
    assert _uploads(server.seen[first:]) == []  # the registry held them all: nothing re-sent
    assert digest in honest.manifests


@pytest.mark.usefixtures("transfer_env")
def test_a_blob_the_registry_then_lacks_is_sent_again_before_the_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digest, blobs, layer = _model(tmp_path)
    honest = HonestRoutes()
    refused: list[Seen] = []

    def route(seen: Seen) -> Reply:
        if seen.method == "PUT" and "/manifests/" in seen.path and not refused:
            refused.append(seen)
            del honest.blobs[layer]  # lost, as a registry that garbage-collected it would
            return _refusal(layer)
        return honest(seen)

    with hostile_server(route) as server:
        run = _push(server, tmp_path, digest, capsys)
    assert run.code == 0, run.err
    first, second = _manifest_puts(server)
    assert _uploads(server.seen[first:second]) == [layer]  # only the lost blob, once more
    assert layer in honest.blobs and digest in honest.manifests
    assert json.loads(run.out)["blobs_sent"] == len(blobs)


@pytest.mark.usefixtures("transfer_env")
@pytest.mark.parametrize("named", [True, False], ids=["blob-named", "no-blob-named"])
def test_a_refusal_that_never_ends_is_exit_5_in_one_line_naming_the_blob(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], named: bool
) -> None:
    digest, blobs, layer = _model(tmp_path)
    honest = HonestRoutes()

    def route(seen: Seen) -> Reply:
        if seen.method == "PUT" and "/manifests/" in seen.path:
            return _refusal(layer if named else None)
        return honest(seen)

    with hostile_server(route) as server:
        run = _push(server, tmp_path, digest, capsys)
    assert run.code == 5
    lines = run.err.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("hint: "), run.err
    assert f"refused manifest {digest} {MANIFEST_PUT_ATTEMPTS} times" in lines[0]
    # the blob the registry named; else the first (the config), and how many more
    blob = layer if named else f"{blobs[0]} (and {len(blobs) - 1} more)"
    assert lines[0].endswith(f"though it holds blob {blob}")
    assert len(_manifest_puts(server)) == MANIFEST_PUT_ATTEMPTS
    assert honest.manifests == {}


@pytest.mark.usefixtures("transfer_env")
def test_a_blob_that_never_arrives_is_exit_5_in_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digest, _, layer = _model(tmp_path)
    honest = HonestRoutes()

    def route(seen: Seen) -> Reply:
        if seen.method == "HEAD" and seen.path.endswith(layer):
            return Reply(404)  # accepted on upload, never there when asked
        if seen.method == "PUT" and "/manifests/" in seen.path:
            return _refusal(layer)
        return honest(seen)

    with hostile_server(route) as server:
        run = _push(server, tmp_path, digest, capsys)
    assert run.code == 5
    assert run.err.strip().splitlines() == [
        f"error: {server.host}/m/x refused manifest {digest}: it lacks blob {layer}"
    ]
    assert len(_manifest_puts(server)) == 2  # sent once more, then given up
    assert _uploads(server.seen).count(layer) == 2


@pytest.mark.usefixtures("transfer_env")
def test_another_refusal_of_a_manifest_is_not_repeated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digest, _, _ = _model(tmp_path)
    honest = HonestRoutes()

    def route(seen: Seen) -> Reply:
        if seen.method == "PUT" and "/manifests/" in seen.path:
            body = b'{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid"}]}'
            return Reply(400, body=body)
        return honest(seen)

    with hostile_server(route) as server:
        run = _push(server, tmp_path, digest, capsys)
    assert run.code == 5
    assert run.err.strip().splitlines() == [
        f"error: pushing manifest to {server.host}/m/x:v1: the registry answered 400 "
        "(MANIFEST_INVALID: manifest invalid)"
    ]
    assert len(_manifest_puts(server)) == 1
    assert MEDIA_TYPE_IMAGE_MANIFEST in server.seen[_manifest_puts(server)[0]].headers.values()
