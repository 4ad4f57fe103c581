"""A hostile registry cannot exhaust memory or disk, outlast --timeout, or collect credentials.

Each test scripts :class:`support.hostile_registry.HostileServer` to misbehave one way and
checks the exact exit code (or error class), that reading stopped near its cap, that nothing
reached a final path, and that no credential reached another origin.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from hubsnap.canonical import canonical_json
from hubsnap.digest import Digest, sha256_bytes
from hubsnap.errors import AuthError, HubsnapError, IntegrityError, RemoteError
from hubsnap.http import TLSFailure
from hubsnap.models import MEDIA_TYPE_IMAGE_INDEX, MEDIA_TYPE_IMAGE_MANIFEST
from hubsnap.oci.auth import Credentials, load_credentials
from hubsnap.oci.client import RegistryClient, TransportOptions
from hubsnap.oci.layout import LayoutStore
from hubsnap.oci.reference import RegistryReference
from hubsnap.oci.registry import RegistryRepository
from hubsnap.oci.repository import VerifiedManifest
from hubsnap.oci.transfer import copy_artifact
from hubsnap.retry import RetryPolicy
from support.hostile_registry import (
    HonestRoutes,
    HostileServer,
    Reply,
    Seen,
    endless,
    hostile_server,
    self_signed,
    trickle,
)
from support.registry import build_model, run_cli

SECRET = "pw-" + "s3cr3t" * 4
CREDENTIALS = Credentials("alice", SECRET)
BASIC = "Basic " + base64.b64encode(f"alice:{SECRET}".encode()).decode()
# Generous: proves "does not hang", not a speed.
NO_HANG = 30.0


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RetryPolicy, "delay", lambda self, attempt, retry_after=None: 0.0)


@pytest.fixture
def honest() -> HonestRoutes:
    return HonestRoutes()


@pytest.fixture
def server(honest: HonestRoutes) -> Iterator[HostileServer]:
    with hostile_server(honest) as running:
        yield running


@pytest.fixture
def other() -> Iterator[HostileServer]:
    """Another origin (another port), which must never see a credential."""
    with hostile_server(lambda seen: Reply(200, body=b"{}")) as running:
        yield running


def _repo(
    server: HostileServer, *, credentials: Credentials | None = None, timeout: float = 5.0
) -> RegistryRepository:
    options = TransportOptions(timeout=timeout, retry=RetryPolicy(attempts=3))
    client = RegistryClient(server.host, credentials=credentials, options=options, plain_http=True)
    return RegistryRepository(client, "m/x")


def _with(honest: HonestRoutes, special: Callable[[Seen], Reply | None]) -> Callable[[Seen], Reply]:
    def route(seen: Seen) -> Reply:
        return special(seen) or honest(seen)

    return route


def _home() -> Path:
    return Path(os.environ["HUBSNAP_HOME"])


def _login(server: HostileServer) -> None:
    """Store CREDENTIALS for ``server`` in the test's docker config."""
    config = Path(os.environ["DOCKER_CONFIG"])
    config.mkdir(parents=True, exist_ok=True)
    auth = base64.b64encode(f"alice:{SECRET}".encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {server.host: {"auth": auth}}}))


def _require_basic(honest: HonestRoutes) -> Callable[[Seen], Reply]:
    def route(seen: Seen) -> Reply:
        if seen.authorization != BASIC:
            return Reply(401, [("WWW-Authenticate", 'Basic realm="hostile"')])
        return honest(seen)

    return route


def _pull(server: HostileServer, digest: str, out: Path, capsys: pytest.CaptureFixture[str],
          timeout: str = "5s") -> tuple[int, str, float]:  # fmt: skip
    started = time.monotonic()
    run = run_cli(
        ["pull", f"{server.host}/m/x@{digest}", "-o", str(out), "--timeout", timeout], capsys
    )
    return run.code, run.err, time.monotonic() - started


def _model_with_layer_body(
    server: HostileServer, honest: HonestRoutes, size: int, body: Callable[[], Iterator[bytes]]
) -> tuple[str, str]:
    """A model whose one layer of ``size`` bytes is served as ``body()``; both digests."""
    weights = os.urandom(size)
    digest = honest.add_model({"model.bin": weights})
    layer = str(sha256_bytes(weights))
    server.route = _with(
        honest, lambda s: Reply(200, body=body()) if s.path.endswith(layer) else None
    )
    return digest, layer


def _token_service(
    server: HostileServer,
    body: Callable[[], bytes | Iterator[bytes]],
    content_type: str | None = None,
) -> None:
    """Challenge every request for a bearer token from ``/token``, which answers ``body()``."""
    realm = f"{server.url}/token"
    headers: list[tuple[str, str | bytes]] = (
        [("Content-Type", content_type)] if content_type else []
    )

    def route(seen: Seen) -> Reply:
        if seen.path == "/token":
            return Reply(200, headers, body())
        return Reply(401, [("WWW-Authenticate", f'Bearer realm="{realm}",service="s"')])

    server.route = route


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if not line.startswith("hint:")]
    assert len(lines) == 1, err
    return lines[0]


def _assert_nothing_kept(home: Path, out: Path, *digests: str) -> None:
    """No output directory, no partial download, none of ``digests`` in the local store."""
    assert not out.exists()
    ingest = home / "store" / "ingest"
    assert not ingest.exists() or list(ingest.iterdir()) == []
    store = LayoutStore(home / "store")
    for digest in digests:
        assert not store.has_blob(Digest.parse(digest))


# -- bodies that never end ---------------------------------------------------------------------


@dataclass(frozen=True)
class ManifestCase:
    body: Callable[[], Iterator[bytes]]
    timeout: str
    code: int
    says: str


@pytest.mark.usefixtures("transfer_env")
@pytest.mark.parametrize(
    "case",
    [
        ManifestCase(endless, "5s", 6, "is larger than the 4 MiB manifest limit"),
        ManifestCase(lambda: trickle(2), "1s", 5, "not done within 1s"),
    ],
    ids=["endless", "trickled"],
)
@pytest.mark.registry
def test_a_manifest_body_stops_at_its_cap_or_the_timeout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], server: HostileServer,
    honest: HonestRoutes, case: ManifestCase,
) -> None:  # fmt: skip
    digest = "sha256:" + "a" * 64
    server.route = _with(
        honest, lambda s: Reply(200, body=case.body()) if "/manifests/" in s.path else None
    )
    code, err, took = _pull(server, digest, tmp_path / "out", capsys, timeout=case.timeout)
    assert code == case.code
    assert _one_line(err).endswith(case.says)
    assert took < NO_HANG
    _assert_nothing_kept(_home(), tmp_path / "out", digest)


@pytest.mark.parametrize(("status", "code"), [(404, 3), (500, 5), (401, 4), (403, 4)])
@pytest.mark.registry
def test_an_endless_error_body_is_read_to_16_kib_at_most(
    server: HostileServer, status: int, code: int
) -> None:
    server.route = lambda seen: Reply(status, [("Content-Type", "application/json")], endless())
    tracemalloc.start()
    try:
        with pytest.raises(HubsnapError) as info:
            _repo(server).manifest(Digest.parse("sha256:" + "b" * 64))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.value.exit_code == code
    assert peak < 8 << 20


@pytest.mark.registry
def test_an_endless_token_answer_is_refused_near_32_kib(server: HostileServer) -> None:
    _token_service(server, lambda: endless(b'{"t":' * 4096), content_type="application/json")
    tracemalloc.start()
    try:
        with pytest.raises(RemoteError) as info:
            _repo(server, credentials=CREDENTIALS).has_blob(sha256_bytes(b"x"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.value.exit_code == 5
    assert info.value.message == f"the token service of {server.host} is larger than 32 KiB"
    assert peak < 8 << 20


@pytest.mark.registry
def test_an_oversize_token_is_refused(server: HostileServer) -> None:
    big = canonical_json({"token": "t" * (40 << 10)})
    _token_service(server, lambda: big)
    with pytest.raises(RemoteError, match="larger than 32 KiB"):
        _repo(server).has_blob(sha256_bytes(b"x"))


@pytest.mark.registry
def test_an_endless_blob_stops_at_its_descriptor_size_and_exits_6(
    transfer_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    server: HostileServer, honest: HonestRoutes,
) -> None:  # fmt: skip
    digest, layer = _model_with_layer_body(server, honest, 2 << 20, endless)
    code, err, took = _pull(server, digest, tmp_path / "out", capsys)
    assert code == 6, err
    assert f"the server sent more than the {2 << 20} bytes expected" in _one_line(err)
    assert server.bytes_sent < 64 << 20  # it stopped reading, not the disk
    assert took < NO_HANG
    _assert_nothing_kept(transfer_env, tmp_path / "out", layer)


@pytest.mark.registry
def test_a_copy_stops_an_endless_blob_at_its_descriptor_even_with_a_cached_manifest(
    server: HostileServer, honest: HonestRoutes
) -> None:
    """The manifest came from elsewhere (a session's cache), so the source repository never
    saw the layer's size: the copy passes the descriptor's size, and the stream stops there
    before the target is sent more than the descriptor promised."""
    digest, layer = _model_with_layer_body(server, honest, 1 << 20, endless)
    found = VerifiedManifest.parse(honest.manifests[digest], Digest.parse(digest))
    receiver = HonestRoutes()
    expected = f"more than the {1 << 20} bytes expected"
    with hostile_server(receiver) as target, pytest.raises(IntegrityError, match=expected):
        copy_artifact(_repo(server), _repo(target), found.digest, manifest=found)
    assert layer not in receiver.blobs and digest not in receiver.manifests
    assert server.bytes_sent < 64 << 20


@pytest.mark.registry
def test_a_blob_read_stops_at_the_size_it_is_given(server: HostileServer) -> None:
    server.route = lambda seen: Reply(200, body=endless())
    digest = sha256_bytes(b"small")
    with pytest.raises(IntegrityError, match="more than the 5 bytes expected"):
        b"".join(_repo(server).iter_blob(digest, size=5))


@pytest.mark.registry
def test_a_blob_labelled_gzip_is_taken_as_sent_and_never_inflated(server: HostileServer) -> None:
    stored = gzip.compress(b"\0" * (64 << 20))  # a 64 MiB bomb in about 64 KiB
    server.route = lambda seen: Reply(200, [("Content-Encoding", "gzip")], stored)
    tracemalloc.start()
    try:
        data = _repo(server).get_blob_bytes(sha256_bytes(stored), len(stored))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert data == stored
    assert peak < 8 << 20
    assert server.seen[0].headers["accept-encoding"] == "identity"


# -- bodies that trickle -----------------------------------------------------------------------


@pytest.mark.registry
def test_a_trickled_token_answer_fails_at_the_timeout_even_for_a_blob_stream(
    server: HostileServer,
) -> None:
    _token_service(server, lambda: trickle(2))
    started = time.monotonic()
    with pytest.raises(RemoteError) as info:
        b"".join(_repo(server, timeout=1).iter_blob(sha256_bytes(b"x")))
    assert info.value.message == f"the token service of {server.host}: not done within 1s"
    assert time.monotonic() - started < NO_HANG


@pytest.mark.registry
def test_a_trickled_blob_fails_under_the_rate_floor(
    transfer_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    server: HostileServer, honest: HonestRoutes,
) -> None:  # fmt: skip
    digest, layer = _model_with_layer_body(server, honest, 64 << 10, lambda: trickle(2))
    code, err, took = _pull(server, digest, tmp_path / "out", capsys, timeout="1s")
    assert code == 5
    assert "the transfer stalled" in _one_line(err)
    assert took < NO_HANG
    _assert_nothing_kept(transfer_env, tmp_path / "out", layer)


# -- credentials stay home ---------------------------------------------------------------------


@pytest.mark.usefixtures("transfer_env")
@pytest.mark.registry
def test_a_foreign_upload_location_gets_no_credentials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
    server: HostileServer, other: HostileServer, honest: HonestRoutes,
) -> None:  # fmt: skip
    honest.upload_base = f"{other.url}/upload"
    other.route = lambda seen: honest.upload(seen, seen.path.removeprefix("/upload/"))
    server.route = _require_basic(honest)
    _login(server)
    digest = build_model(tmp_path / "src", {"model.bin": os.urandom(4096)})
    run = run_cli(["push", f"oci:{tmp_path / 'src'}@{digest}", f"{server.host}/m/x"], capsys)
    assert run.code == 0, run.err
    assert any(s.method == "PUT" for s in other.seen)  # the blobs went there...
    assert other.authorizations() == []  # ...without the registry's credentials
    assert BASIC in server.authorizations()
    assert SECRET not in run.out + run.err


@pytest.mark.usefixtures("transfer_env")
@pytest.mark.registry
def test_a_401_from_a_redirect_target_is_not_answered_with_the_registrys_credentials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
    server: HostileServer, other: HostileServer, honest: HonestRoutes,
) -> None:  # fmt: skip
    weights = os.urandom(4096)
    digest = honest.add_model({"model.bin": weights})
    layer = str(sha256_bytes(weights))
    realm = f"{other.url}/token"
    other.route = lambda seen: Reply(401, [("WWW-Authenticate", f'Bearer realm="{realm}"')])
    guarded = _require_basic(honest)

    def route(seen: Seen) -> Reply:
        if seen.path.endswith(layer) and seen.authorization == BASIC:
            return Reply(307, [("Location", f"{other.url}/storage/{layer}")])
        return guarded(seen)

    server.route = route
    _login(server)
    code, err, _ = _pull(server, digest, tmp_path / "out", capsys)
    assert code == 4
    assert _one_line(err) == (
        f"error: {other.host}, where {server.host} redirected the request, refused access"
    )
    assert other.authorizations() == []
    assert [s.path for s in other.seen] == [f"/storage/{layer}"]  # never its token realm
    _assert_nothing_kept(_home(), tmp_path / "out", layer)


def _https_client(handler: Callable[[httpx.Request], httpx.Response]) -> RegistryClient:
    options = TransportOptions(
        retry=RetryPolicy(attempts=2, sleep=lambda _: None), transport=httpx.MockTransport(handler)
    )
    return RegistryClient("reg.example", credentials=CREDENTIALS, options=options)


def test_an_http_token_realm_for_an_https_registry_gets_nothing() -> None:
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        challenge = 'Bearer realm="http://auth.example/token",service="reg"'
        return httpx.Response(401, headers={"WWW-Authenticate": challenge})

    with pytest.raises(AuthError) as info:
        _https_client(handler).ping()
    assert info.value.exit_code == 4
    assert "over plain HTTP (http://auth.example)" in info.value.message
    assert all(url.startswith("https://reg.example/") for url in asked)


def test_an_https_registry_may_not_send_an_upload_to_plain_http() -> None:
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(f"{request.method} {request.url}")
        if request.method == "HEAD":
            return httpx.Response(404)
        return httpx.Response(202, headers={"Location": "http://storage.example/u/1"})

    repo = RegistryRepository(_https_client(handler), "m/x")
    with pytest.raises(RemoteError) as info:
        repo.put_blob_bytes(b"private weights")
    assert info.value.message == (
        "upload to reg.example/m/x: the registry sent an upload Location over plain HTTP"
    )
    assert not any("storage.example" in line for line in asked)


@pytest.mark.parametrize("realm", ["http://[bad", "/relative/token", "ftp://auth.example/t"])
def test_a_token_realm_that_is_not_an_http_url_is_a_remote_error(realm: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, headers={"WWW-Authenticate": f'Bearer realm="{realm}"'})

    with pytest.raises(RemoteError, match="named a token service that is not a URL"):
        _https_client(handler).ping()


@pytest.mark.registry
def test_a_non_ascii_bearer_token_is_refused_cleanly(server: HostileServer) -> None:
    _token_service(server, lambda: json.dumps({"token": "tök\u00e9n"}).encode())
    with pytest.raises(AuthError, match="token that is not printable ASCII"):
        _repo(server).has_blob(sha256_bytes(b"x"))


# -- malformed answers -------------------------------------------------------------------------


@pytest.mark.registry
def test_retry_after_with_a_superscript_digit_is_retried_by_backoff(
    server: HostileServer, honest: HonestRoutes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.undo()  # the real delay, which reads Retry-After
    honest.blobs[str(sha256_bytes(b"blob"))] = b"blob"
    calls: list[Seen] = []

    def route(seen: Seen) -> Reply:
        calls.append(seen)
        if len(calls) == 1:
            return Reply(503, [("Retry-After", "²".encode("latin-1"))])
        return honest(seen)

    server.route = route
    slept: list[float] = []
    options = TransportOptions(retry=RetryPolicy(attempts=3, base_delay=0.01, sleep=slept.append))
    client = RegistryClient(server.host, options=options, plain_http=True)
    assert RegistryRepository(client, "m/x").has_blob(sha256_bytes(b"blob"), 4)
    assert len(calls) == 2
    assert len(slept) == 1 and slept[0] <= 0.01  # backoff, not the unreadable header


@pytest.mark.registry
def test_a_bad_content_length_on_head_is_a_remote_error(server: HostileServer) -> None:
    # Over a socket, h11 refuses the header itself; behind a proxy or another transport it
    # reaches hubsnap, which must not crash on it either.
    server.route = lambda seen: Reply(200, [("Content-Length", "12abc")])
    with pytest.raises(RemoteError) as info:
        _repo(server).has_blob(sha256_bytes(b"x"), 12)
    assert info.value.exit_code == 5
    client = _https_client(lambda request: httpx.Response(200, headers={"Content-Length": "12abc"}))
    with pytest.raises(RemoteError) as info:
        RegistryRepository(client, "m/x").has_blob(sha256_bytes(b"x"), 12)
    assert info.value.message.endswith("the registry sent an invalid Content-Length")


@pytest.mark.registry
def test_a_malformed_digest_inside_a_remote_manifest_exits_6(
    transfer_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    server: HostileServer, honest: HonestRoutes,
) -> None:  # fmt: skip
    manifest = canonical_json({
        "schemaVersion": 2, "mediaType": MEDIA_TYPE_IMAGE_MANIFEST,
        "config": {"mediaType": "application/json", "digest": "sha256:zz", "size": 2},
        "layers": [],
    })  # fmt: skip
    digest = str(sha256_bytes(manifest))
    honest.manifests[digest] = manifest
    code, err, _ = _pull(server, digest, tmp_path / "out", capsys)
    assert code == 6
    assert "malformed manifest" in _one_line(err)
    _assert_nothing_kept(transfer_env, tmp_path / "out")


def _index(entries: list[dict[str, object]]) -> bytes:
    return canonical_json(
        {"schemaVersion": 2, "mediaType": MEDIA_TYPE_IMAGE_INDEX, "manifests": entries}
    )


def _entry(digest: Digest, **extra: object) -> dict[str, object]:
    return {"mediaType": MEDIA_TYPE_IMAGE_MANIFEST, "digest": str(digest), "size": 10, **extra}


@pytest.mark.registry
def test_a_referrers_index_of_5000_distinct_entries_is_refused(server: HostileServer) -> None:
    subject = sha256_bytes(b"subject")
    entries = [_entry(sha256_bytes(str(i).encode())) for i in range(5000)]
    server.route = lambda seen: Reply(200, body=_index(entries))
    with pytest.raises(IntegrityError) as info:
        _repo(server).referrers(subject)
    assert info.value.message == f"referrers index lists more than 1000 referrers of {subject}"


@pytest.mark.registry
def test_a_malformed_digest_in_a_referrers_index_exits_6(server: HostileServer) -> None:
    bad = {"mediaType": MEDIA_TYPE_IMAGE_MANIFEST, "digest": "sha256:zz", "size": 1}
    server.route = lambda seen: Reply(200, body=_index([bad]))
    with pytest.raises(IntegrityError) as info:
        _repo(server).referrers(sha256_bytes(b"subject"))
    assert info.value.message == "malformed referrers index: invalid digest sha256:zz"


@pytest.mark.registry
def test_referrers_drop_self_references_other_subjects_and_duplicates(
    server: HostileServer,
) -> None:
    subject, other_subject = sha256_bytes(b"subject"), sha256_bytes(b"other")
    good, stray = sha256_bytes(b"sig"), sha256_bytes(b"stray")
    entries = [
        _entry(subject),  # the subject as its own referrer: a loop
        _entry(good),
        _entry(good),
        _entry(stray, subject={"digest": str(other_subject)}),
        _entry(sha256_bytes(b"sig2"), subject={"digest": str(subject)}),
    ]
    server.route = lambda seen: Reply(200, body=_index(entries))
    found = [d.digest for d in _repo(server).referrers(subject)]
    assert found == [good, sha256_bytes(b"sig2")]


# -- transport, config and helpers -------------------------------------------------------------


@pytest.mark.registry
def test_tls_against_a_plain_http_server_is_not_retried_and_says_so(server: HostileServer) -> None:
    options = TransportOptions(timeout=5, retry=RetryPolicy(attempts=3))
    client = RegistryClient(server.host, options=options, plain_http=False)
    with pytest.raises(TLSFailure) as info:
        client.ping()
    assert info.value.exit_code == 5
    assert info.value.message == f"TLS to {server.host} failed: the server answers plain HTTP"
    assert info.value.hint == "pass --plain-http if the server has no TLS"


@pytest.mark.parametrize(
    ("trust", "says", "hint"),
    [
        (False, "its certificate is signed by an unknown authority", "pass --ca-file"),
        (True, "its certificate is for another host name", "connect by the name"),
    ],
)
@pytest.mark.registry
def test_certificate_failures_name_their_cause_and_are_not_retried(
    tmp_path: Path, trust: bool, says: str, hint: str
) -> None:
    cert, context = self_signed(tmp_path, "other.example")
    with hostile_server(lambda seen: Reply(200, body=b"{}"), tls=context) as server:
        options = TransportOptions(
            timeout=5, retry=RetryPolicy(attempts=3), ca_file=cert if trust else None
        )
        client = RegistryClient(server.host, options=options, plain_http=False)
        with pytest.raises(TLSFailure) as info:
            client.ping()
    assert info.value.message == f"TLS to {server.host} failed: {says}"
    assert (info.value.hint or "").startswith(hint)
    assert server.seen == []  # no request went out over the untrusted connection


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost:5000", True),
        ("127.0.0.1:5000", True),
        ("127.4.5.6", True),
        ("[::1]:5000", True),
        ("127.attacker.example:5000", False),
        ("127.0.0.1.nip.io", False),
        ("[fe80::1]:5000", False),
        ("[2001:db8::1]", False),
        ("registry.example", False),
    ],
)
def test_only_real_loopback_hosts_get_plain_http(host: str, loopback: bool) -> None:
    assert RegistryReference(host, "m").is_loopback is loopback


@pytest.mark.registry
def test_a_non_ascii_auth_in_the_docker_config_exits_2(
    transfer_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], server: HostileServer,
) -> None:  # fmt: skip
    config = Path(os.environ["DOCKER_CONFIG"])
    config.mkdir(parents=True)
    (config / "config.json").write_text(
        json.dumps({"auths": {server.host: {"auth": "äliçe:pässwörd"}}})
    )
    code, err, _ = _pull(server, "sha256:" + "d" * 64, tmp_path / "out", capsys)
    assert code == 2
    assert (
        _one_line(err) == f"error: the docker config's auth entry for {server.host} is not base64"
    )
    assert server.seen == []


def test_a_credential_helper_that_never_answers_times_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-stuck"
    helper.write_text("#!/bin/sh\nexec sleep 600\n")
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "config.json").write_text(json.dumps({"credsStore": "stuck"}))
    started = time.monotonic()
    with pytest.raises(AuthError) as info:
        load_credentials(tmp_path, "registry.example", timeout=0.5)
    assert time.monotonic() - started < NO_HANG
    assert (
        info.value.message == "credential helper docker-credential-stuck did not answer within 0.5s"
    )
