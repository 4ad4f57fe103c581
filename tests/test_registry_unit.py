"""The registry client without a network: auth flows, redirects, retries, referrers, config.

httpx's MockTransport stands in for registries and token services whose behaviour the real
test registry cannot show (bearer tokens, redirects to storage, the referrers API).
"""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from hubsnap.digest import Digest, sha256_bytes
from hubsnap.errors import AuthError, IntegrityError, RemoteError
from hubsnap.models import (
    MAX_MANIFEST_BYTES,
    MEDIA_TYPE_EMPTY,
    MEDIA_TYPE_IMAGE_INDEX,
    MEDIA_TYPE_IMAGE_MANIFEST,
    Descriptor,
    Manifest,
)
from hubsnap.oci.auth import (
    IDENTITY_TOKEN_USER,
    Challenge,
    Credentials,
    load_credentials,
    store_credentials,
)
from hubsnap.oci.client import RegistryClient, TransportOptions
from hubsnap.oci.registry import RegistryRepository
from hubsnap.oci.sightings import MAX_CANDIDATES, BlobSightings
from hubsnap.retry import RetryPolicy
from support.registry import fake_credential_helper

Handler = Callable[[httpx.Request], httpx.Response]
BLOB = b"hello blob"
BLOB_DIGEST = sha256_bytes(BLOB)


def _repo(
    handler: Handler,
    *,
    credentials: Credentials | None = None,
    sleeps: list[float] | None = None,
    repository: str = "team/model",
) -> RegistryRepository:
    policy = RetryPolicy(
        attempts=3, sleep=(sleeps.append if sleeps is not None else lambda _: None)
    )
    options = TransportOptions(retry=policy, transport=httpx.MockTransport(handler))
    client = RegistryClient("reg.example", credentials=credentials, options=options)
    return RegistryRepository(client, repository)


def _manifest(subject: Digest | None = None) -> bytes:
    empty = Descriptor(MEDIA_TYPE_EMPTY, sha256_bytes(b"{}"), 2)
    manifest = Manifest(
        config=empty,
        layers=(empty,),
        artifact_type="application/vnd.example.sig",
        subject=Descriptor(MEDIA_TYPE_IMAGE_MANIFEST, subject, 100) if subject else None,
    )
    return manifest.to_bytes()


# -- auth ---------------------------------------------------------------------------------------


def test_bearer_challenge_fetches_a_token_once_and_refreshes_it_on_401() -> None:
    token_requests: list[httpx.Request] = []
    valid = {"t1"}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.example":
            token_requests.append(request)
            token = f"t{len(token_requests)}"
            return httpx.Response(200, json={"token": token})
        if request.headers.get("Authorization", "").removeprefix("Bearer ") not in valid:
            challenge = (
                'Bearer realm="https://auth.example/token",service="reg.example",'
                'scope="repository:team/model:pull"'
            )
            return httpx.Response(401, headers={"WWW-Authenticate": challenge})
        return httpx.Response(200, headers={"Content-Length": str(len(BLOB))})

    repo = _repo(handler, credentials=Credentials("alice", "s3cret"))
    assert repo.has_blob(BLOB_DIGEST)
    assert repo.has_blob(BLOB_DIGEST)
    assert len(token_requests) == 1  # cached for the scope
    first = token_requests[0]
    assert first.url.params.get_list("scope") == ["repository:team/model:pull"]
    assert first.url.params["service"] == "reg.example"
    assert first.headers["Authorization"] == "Basic " + base64.b64encode(b"alice:s3cret").decode()

    valid.clear()
    valid.add("t2")  # the first token expired
    assert repo.has_blob(BLOB_DIGEST)
    assert len(token_requests) == 2


def test_token_service_refusing_credentials_is_an_auth_error_without_the_secret() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.example":
            return httpx.Response(401, text="bad password s3cret")
        return httpx.Response(
            401, headers={"WWW-Authenticate": 'Bearer realm="https://auth.example/t"'}
        )

    with pytest.raises(AuthError) as info:
        _repo(handler, credentials=Credentials("alice", "s3cret")).has_blob(BLOB_DIGEST)
    assert info.value.message == "reg.example refused the credentials"
    assert info.value.exit_code == 4
    assert "s3cret" not in repr(info.value) + str(info.value.hint)


def test_credentials_repr_hides_the_password() -> None:
    assert "s3cret" not in repr(Credentials("alice", "s3cret"))


def test_authorization_is_dropped_on_redirect_to_another_host() -> None:
    seen: dict[str, str | None] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen[request.url.host] = request.headers.get("Authorization")
        if request.url.host == "reg.example":
            if "Authorization" not in request.headers:
                return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'})
            return httpx.Response(307, headers={"Location": "https://storage.example/b?sig=1"})
        return httpx.Response(200, content=BLOB)

    repo = _repo(handler, credentials=Credentials("alice", "s3cret"))
    assert repo.get_blob_bytes(BLOB_DIGEST, 100) == BLOB
    assert seen["reg.example"] is not None
    assert seen["storage.example"] is None


def test_challenge_parsing() -> None:
    challenge = Challenge.parse(
        'Bearer realm="https://a/t",service="r",scope="repository:x:pull,push"'
    )
    assert challenge is not None
    assert challenge.scheme == "bearer"
    assert challenge.realm == "https://a/t"
    assert challenge.params["scope"] == "repository:x:pull,push"
    assert Challenge.parse(None) is None


# -- retries ------------------------------------------------------------------------------------


def test_429_is_retried_honouring_retry_after() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(429, headers={"Retry-After": "2"})
        return httpx.Response(200, headers={"Content-Length": "10"})

    sleeps: list[float] = []
    assert _repo(handler, sleeps=sleeps).has_blob(BLOB_DIGEST, 10)
    assert sleeps == [2.0]


def test_persistent_5xx_is_a_remote_error() -> None:
    repo = _repo(lambda request: httpx.Response(503))
    with pytest.raises(RemoteError) as info:
        repo.has_blob(BLOB_DIGEST)
    assert info.value.exit_code == 5
    assert "answered 503" in info.value.message


# -- manifests ----------------------------------------------------------------------------------


def test_manifest_from_a_lying_registry_is_refused_before_parsing() -> None:
    wanted = sha256_bytes(_manifest())
    repo = _repo(lambda request: httpx.Response(200, content=b"not even json"))
    with pytest.raises(IntegrityError) as info:
        repo.manifest(wanted)
    assert info.value.message.startswith(f"manifest digest mismatch: asked for {wanted}")


def test_manifest_reads_stop_after_the_cap() -> None:
    served = []

    def handler(request: httpx.Request) -> httpx.Response:
        def body() -> object:
            for _ in range(MAX_MANIFEST_BYTES // 65536 + 100):
                served.append(65536)
                yield b" " * 65536

        return httpx.Response(200, content=body())  # type: ignore[arg-type]

    with pytest.raises(IntegrityError) as info:
        _repo(handler).manifest(sha256_bytes(b"x"))
    assert "larger than the 4 MiB manifest limit" in info.value.message
    assert sum(served) <= MAX_MANIFEST_BYTES + 2 * 1024 * 1024


def test_tags_are_listed_with_a_limit_and_a_missing_repository_has_none() -> None:
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        if "/v2/missing/" in str(request.url):
            return httpx.Response(404, json={"errors": [{"code": "NAME_UNKNOWN"}]})
        return httpx.Response(200, json={"name": "models/m", "tags": ["v1", 7, "v2", "v3"]})

    assert _repo(handler).tags(2) == ["v1", "v2"]
    assert asked[-1].endswith("/tags/list?n=2")
    assert _repo(handler, repository="missing").tags(5) == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [(b"[]", "malformed tag list"), (b'{"tags": "v1"}', "malformed tag list")],
)
def test_malformed_tag_lists_are_refused(body: bytes, reason: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body)

    with pytest.raises(IntegrityError, match=reason):
        _repo(handler).tags(5)


def test_tag_list_reads_stop_after_a_mebibyte() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'{"tags": [' + b'"t",' * 400_000 + b'"t"]}')

    with pytest.raises(IntegrityError, match="larger than 1 MiB"):
        _repo(handler).tags(5)


# -- referrers ----------------------------------------------------------------------------------


def test_referrers_api_is_used_and_filtered_client_side() -> None:
    subject = sha256_bytes(b"subject")
    sig = Descriptor(
        MEDIA_TYPE_IMAGE_MANIFEST, sha256_bytes(b"a"), 10, {}, "application/vnd.example.sig"
    )
    prov = Descriptor(
        MEDIA_TYPE_IMAGE_MANIFEST, sha256_bytes(b"b"), 10, {}, "application/vnd.example.prov"
    )
    index = {
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_IMAGE_INDEX,
        "manifests": [sig.to_json(), prov.to_json()],
    }
    paths = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return httpx.Response(200, json=index, headers={"Content-Type": MEDIA_TYPE_IMAGE_INDEX})

    repo = _repo(handler)
    assert repo.referrers(subject) == [sig, prov]
    assert repo.referrers(subject, "application/vnd.example.prov") == [prov]
    assert paths[0] == f"/v2/team/model/referrers/{subject}"


def test_manifest_with_subject_on_a_referrers_aware_registry_writes_no_fallback_tag() -> None:
    subject = sha256_bytes(b"subject")
    puts = []

    def handler(request: httpx.Request) -> httpx.Response:
        puts.append((request.method, request.url.path))
        return httpx.Response(201, headers={"OCI-Subject": str(subject)})

    data = _manifest(subject)
    assert _repo(handler).put_manifest(data) == sha256_bytes(data)
    assert puts == [("PUT", f"/v2/team/model/manifests/{sha256_bytes(data)}")]


# -- the docker config --------------------------------------------------------------------------


def test_credentials_from_auths_base64(tmp_path: Path) -> None:
    auth = base64.b64encode(b"bob:pa:ss").decode()
    (tmp_path / "config.json").write_text(
        json.dumps({"auths": {"https://reg.example": {"auth": auth}}})
    )
    assert load_credentials(tmp_path, "reg.example") == Credentials("bob", "pa:ss")
    assert load_credentials(tmp_path, "other.example") is None
    assert load_credentials(tmp_path / "missing", "reg.example") is None


def test_store_credentials_is_atomic_0600_and_keeps_other_settings(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(
        json.dumps({"auths": {"a.example": {"auth": "eDp5"}}, "psFormat": "x"})
    )
    where = store_credentials(tmp_path, "reg.example:5000", Credentials("carol", "pw"))
    assert where == str(tmp_path / "config.json")
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["psFormat"] == "x"
    assert config["auths"]["a.example"] == {"auth": "eDp5"}
    assert stat.S_IMODE((tmp_path / "config.json").stat().st_mode) == 0o600
    assert load_credentials(tmp_path, "reg.example:5000") == Credentials("carol", "pw")
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]


def test_credential_helper_store_and_get(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_credential_helper(tmp_path / "bin", tmp_path / "helper.json", monkeypatch)
    config = tmp_path / "docker"
    config.mkdir()
    (config / "config.json").write_text(json.dumps({"credsStore": "test"}))

    assert load_credentials(config, "reg.example") is None
    assert (
        store_credentials(config, "reg.example", Credentials("dan", "tok"))
        == "docker-credential-test"
    )
    assert load_credentials(config, "reg.example") == Credentials("dan", "tok")
    assert json.loads((config / "config.json").read_text()) == {"credsStore": "test"}


def test_missing_credential_helper_is_an_auth_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(
        json.dumps({"credHelpers": {"reg.example": "nonexistent-xyz"}})
    )
    with pytest.raises(AuthError) as info:
        load_credentials(tmp_path, "reg.example")
    assert (
        info.value.message == "credential helper docker-credential-nonexistent-xyz is not installed"
    )


# -- where blobs were seen ------------------------------------------------------------------------


def test_sightings_are_newest_first_per_registry_and_bounded(tmp_path: Path) -> None:
    sightings = BlobSightings(tmp_path / "home" / "sightings.sqlite")
    assert sightings.repositories("reg.example", BLOB_DIGEST) == []  # no file yet
    for name in ("a", "b", "c", "d"):
        sightings.record("reg.example", f"team/{name}", [BLOB_DIGEST])
    sightings.record("other.example", "team/z", [BLOB_DIGEST])
    found = sightings.repositories("reg.example", BLOB_DIGEST, exclude="team/d")
    assert found == ["team/c", "team/b", "team/a"][:MAX_CANDIDATES]
    sightings.forget("reg.example", "team/c", BLOB_DIGEST)
    assert sightings.repositories("reg.example", BLOB_DIGEST)[:2] == ["team/d", "team/b"]
    assert sightings.repositories("other.example", BLOB_DIGEST) == ["team/z"]


def test_an_unusable_sightings_file_is_an_empty_cache_not_an_error(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"this is not a database" * 100)
    blocked = tmp_path / "file-not-dir"
    blocked.write_bytes(b"")
    for path in (corrupt, blocked / "sightings.sqlite"):
        sightings = BlobSightings(path)
        sightings.record("reg.example", "team/a", [BLOB_DIGEST])
        sightings.forget("reg.example", "team/a", BLOB_DIGEST)
        assert sightings.repositories("reg.example", BLOB_DIGEST) == []
    assert corrupt.read_bytes() == b"this is not a database" * 100


def _racing_registry(
    subject: Digest, theirs: Descriptor, clobbers: int
) -> tuple[Handler, list[bytes]]:
    """A registry holding only the referrers tag of ``subject``; after each of our first
    ``clobbers`` writes of it, another writer's stale index (``theirs`` alone) replaces ours."""
    tag_path = f"/v2/team/model/manifests/sha256-{subject.hex}"
    stored: list[bytes] = []
    stale = {
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_IMAGE_INDEX,
        "manifests": [theirs.to_json()],
    }

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path != tag_path:
            return httpx.Response(201)  # the referrer manifest itself; no OCI-Subject header
        if request.method == "GET":
            if not stored:
                return httpx.Response(404)
            return httpx.Response(
                200, content=stored[-1], headers={"Content-Type": MEDIA_TYPE_IMAGE_INDEX}
            )
        stored.append(request.read())
        if len(stored) <= 2 * clobbers:
            stored.append(json.dumps(stale).encode())
        return httpx.Response(201)

    return handler, stored


def test_a_referrer_dropped_by_a_concurrent_writer_is_merged_back() -> None:
    subject = sha256_bytes(b"subject")
    theirs = Descriptor(MEDIA_TYPE_IMAGE_MANIFEST, sha256_bytes(b"theirs"), 10, {}, "x/sig")
    handler, stored = _racing_registry(subject, theirs, clobbers=1)
    data = _manifest(subject)
    _repo(handler).put_manifest(data)
    final = json.loads(stored[-1])["manifests"]
    assert [m["digest"] for m in final] == [str(theirs.digest), str(sha256_bytes(data))]
    assert len(stored) == 3  # ours, their stale write, ours merged with theirs


def test_a_referrer_lost_on_every_write_is_a_remote_error_after_three_tries() -> None:
    subject = sha256_bytes(b"subject")
    theirs = Descriptor(MEDIA_TYPE_IMAGE_MANIFEST, sha256_bytes(b"theirs"), 10, {}, "x/sig")
    handler, stored = _racing_registry(subject, theirs, clobbers=100)
    with pytest.raises(RemoteError) as info:
        _repo(handler).put_manifest(_manifest(subject))
    assert info.value.exit_code == 5
    assert "kept losing" in info.value.message
    assert len(stored) == 2 * 3  # three writes of ours, each clobbered


def test_an_identity_token_is_exchanged_with_a_refresh_token_grant() -> None:
    forms: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.example":
            assert request.method == "POST"
            assert "Authorization" not in request.headers
            forms.append(request.read())
            return httpx.Response(200, json={"access_token": "t1"})
        if request.headers.get("Authorization") != "Bearer t1":
            challenge = 'Bearer realm="https://auth.example/token",service="reg.example"'
            return httpx.Response(401, headers={"WWW-Authenticate": challenge})
        return httpx.Response(200, headers={"Content-Length": str(len(BLOB))})

    credentials = Credentials(IDENTITY_TOKEN_USER, "refresh-abc")
    assert _repo(handler, credentials=credentials).has_blob(BLOB_DIGEST)
    form = dict(pair.split("=", 1) for pair in forms[0].decode().split("&"))
    assert form["grant_type"] == "refresh_token"
    assert form["refresh_token"] == "refresh-abc"
    assert form["service"] == "reg.example"
    assert form["scope"] == "repository%3Ateam%2Fmodel%3Apull"
