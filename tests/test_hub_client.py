"""The Hub client and the file fetcher over a scripted transport: no network, exact answers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from hubsnap.api.discover import DiscoverQuery
from hubsnap.digest import git_blob_sha1
from hubsnap.errors import AuthError, IntegrityError, NotFoundError, RemoteError
from hubsnap.hub import HubClient, HubFile, hub_timestamp
from hubsnap.hubfiles import GitBlobMap, fetch_files
from hubsnap.hublist import ListedModel, ModelQuery, list_models
from hubsnap.oci.layout import LayoutStore
from hubsnap.retry import RetryPolicy

ENDPOINT = "https://hub.test"
COMMIT = "a" * 40
TOKEN = "hf_secret_token_value"
Handler = Callable[[httpx.Request], httpx.Response]


def client(
    handler: Handler, *, token: str | None = None, sleeps: list[float] | None = None
) -> HubClient:
    policy = RetryPolicy(attempts=3, sleep=(sleeps if sleeps is not None else []).append)
    session = httpx.Client(transport=httpx.MockTransport(handler))
    return HubClient(ENDPOINT, token, timeout=5.0, retry=policy, session=session)


def revision_answer(siblings: list[dict[str, object]], sha: str = COMMIT) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/models/org/model/revision/main"
        assert request.url.params["blobs"] == "true"
        return httpx.Response(200, json={"sha": sha, "siblings": siblings})

    return handler


def sibling(name: str, data: bytes = b"x") -> dict[str, object]:
    return {"rfilename": name, "size": len(data), "blobId": git_blob_sha1(data)}


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("/etc/passwd", "is absolute"),
        ("../up", "has an empty, '.' or '..' component"),
        ("a/./b", "has an empty, '.' or '..' component"),
        ("a\\b", "contains a backslash"),
        ("C:/x", "is absolute"),
        ("", "is empty or has control characters"),
    ],
)
def test_escaping_file_names_are_refused(name: str, problem: str) -> None:
    hub = client(revision_answer([sibling("config.json"), sibling(name)]))
    with pytest.raises(IntegrityError) as caught:
        hub.resolve_revision("org/model", "main")
    assert str(caught.value) == f"refusing Hub file name {name!r}: it {problem}"
    assert caught.value.exit_code == 6


def test_listing_twice_the_same_name_is_refused() -> None:
    hub = client(revision_answer([sibling("a.json"), sibling("a.json")]))
    with pytest.raises(IntegrityError, match=r"lists 'a\.json' twice"):
        hub.resolve_revision("org/model", "main")


def test_revision_resolves_to_commit_and_typed_files() -> None:
    lfs = {"sha256": "b" * 64, "size": 10, "pointerSize": 130}
    hub = client(revision_answer([
        sibling("z.json"),
        {"rfilename": "w.safetensors", "size": 10, "blobId": "c" * 40, "lfs": lfs},
    ]))  # fmt: skip
    resolved = hub.resolve_revision("org/model", "main")
    assert resolved.commit == COMMIT
    assert [f.path for f in resolved.files] == ["w.safetensors", "z.json"]
    weights = resolved.files[0]
    assert weights.lfs and weights.lfs_sha256 == "b" * 64 and weights.size == 10
    assert not resolved.files[1].lfs


@pytest.mark.parametrize("sha", ["main", "A" * 40, "a" * 39, None])
def test_an_answer_without_a_commit_sha_is_refused(sha: str | None) -> None:
    hub = client(lambda r: httpx.Response(200, json={"sha": sha, "siblings": []}))
    with pytest.raises(RemoteError, match="did not name a commit"):
        hub.resolve_revision("org/model", "main")


@pytest.mark.parametrize(
    ("status", "headers", "token", "error", "text"),
    [
        (404, {"X-Error-Code": "RepoNotFound"}, TOKEN, NotFoundError, "not found on"),
        (404, {"X-Error-Code": "RevisionNotFound"}, None, NotFoundError, "revision not found"),
        (401, {"X-Error-Code": "RepoNotFound"}, None, NotFoundError, "not found on"),
        (401, {"X-Error-Code": "GatedRepo"}, None, AuthError, "gated"),
        (401, {}, None, AuthError, "requires authentication"),
        (401, {}, TOKEN, AuthError, "token was refused"),
        (403, {"X-Error-Code": "GatedRepo"}, TOKEN, AuthError, "gated"),
        (403, {"X-Error-Message": "Access to this resource is disabled."}, None, NotFoundError,
         "disabled"),
        (400, {}, None, RemoteError, "answered 400"),
    ],
)  # fmt: skip
def test_hub_errors_map_to_exit_codes_and_never_show_the_token(
    status: int, headers: dict[str, str], token: str | None, error: type[Exception], text: str
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, headers=headers, json={"error": "nope"})

    with pytest.raises(error) as caught:
        client(handler, token=token).resolve_revision("org/model", "main")
    assert text in str(caught.value)
    assert TOKEN not in str(caught.value) and TOKEN not in str(getattr(caught.value, "hint", ""))
    assert len(seen) == 1  # 4xx answers are not retried
    expected = f"Bearer {token}" if token else None
    assert seen[0].headers.get("authorization") == expected


@pytest.mark.parametrize(("status", "token"), [(401, None), (404, TOKEN)])
def test_repo_not_found_hints_at_a_token_only_without_one(status: int, token: str | None) -> None:
    # The Hub's RepoNotFound: 401 to anonymous callers (missing or private), 404 with a token.
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers={"X-Error-Code": "RepoNotFound"}, json={})

    with pytest.raises(NotFoundError) as caught:
        client(handler, token=token).resolve_revision("org/model", "main")
    assert caught.value.exit_code == 3
    expected = "if the repository is private, set HF_TOKEN" if token is None else None
    assert caught.value.hint == expected


def test_retries_honour_retry_after_and_transport_errors() -> None:
    answers: list[Callable[[], httpx.Response]] = [
        lambda: httpx.Response(429, headers={"Retry-After": "7"}),
        lambda: (_ for _ in ()).throw(httpx.ConnectError("refused")),
        lambda: httpx.Response(200, json={"sha": COMMIT, "siblings": []}),
    ]
    sleeps: list[float] = []
    hub = client(lambda r: answers.pop(0)(), sleeps=sleeps)
    assert hub.resolve_revision("org/model", "main").files == ()
    assert sleeps[0] == 7.0 and len(sleeps) == 2


def test_timeouts_are_retried_then_reported() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    sleeps: list[float] = []
    with pytest.raises(RemoteError) as caught:
        client(handler, sleeps=sleeps).resolve_revision("org/model", "main")
    assert str(caught.value) == f"org/model@main: no answer from {ENDPOINT} within 5s"
    assert len(sleeps) == 2


def test_listing_is_lazy_and_parses_entries() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        page = int(request.url.params.get("cursor", "0"))
        items = [{"id": f"org/m{page}-{i}", "lastModified": "2024-01-02T03:04:05.000Z",
                  "downloads": i, "gated": "auto" if i else False} for i in range(2)]  # fmt: skip
        link = f'<{ENDPOINT}/api/models?cursor={page + 1}>; rel="next"'
        return httpx.Response(200, json=items, headers={"Link": link})

    models = list_models(client(handler), ModelQuery(task="t", page_size=2))
    first = next(iter(models))
    assert calls and len(calls) == 1
    assert first == ListedModel("org/m0-0", "2024-01-02T03:04:05Z", None, 0, 0, None,
                                False, False, False)  # fmt: skip
    assert "pipeline_tag=t" in calls[0] and "sort=lastModified" in calls[0]
    # range first: zip must not pull a fourth model (and so a third page) from the listing.
    assert [m.repo_id for _, m in zip(range(3), models, strict=False)] == [
        "org/m0-1",
        "org/m1-0",
        "org/m1-1",
    ]
    assert len(calls) == 2


def test_an_endless_run_of_fresh_pages_stops_at_the_page_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("hubsnap.hublist.MAX_PAGES", 7)
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        link = f'<{ENDPOINT}/api/models?cursor={len(calls)}>; rel="next"'
        return httpx.Response(200, json=[{"id": f"org/m{len(calls)}"}], headers={"Link": link})

    with pytest.raises(RemoteError, match="more than 7 pages") as caught:
        list(list_models(client(handler), ModelQuery()))
    assert caught.value.exit_code == 5 and len(calls) == 7


def test_query_filters_flags() -> None:
    model = ListedModel("a/b", None, None, 0, 0, None, private=False, gated=False, disabled=True)
    assert not DiscoverQuery().wants(model)
    assert DiscoverQuery(include_disabled=True).wants(model)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-02T03:04:05.123Z", "2024-01-02T03:04:05Z"),
        ("2024-01-02", "2024-01-02T00:00:00Z"),
        ("2024-01-02T05:04:05+02:00", "2024-01-02T03:04:05Z"),
        ("yesterday", None),
        (None, None),
    ],
)
def test_hub_timestamps_are_normalised(text: str | None, expected: str | None) -> None:
    assert hub_timestamp(text) == expected


# -- fetching files ---------------------------------------------------------------------------


class BrokenStream(httpx.SyncByteStream):
    """A body that sends ``data[:cut]`` and then loses the connection."""

    def __init__(self, data: bytes, cut: int) -> None:
        self.data, self.cut = data, cut

    def __iter__(self) -> Iterator[bytes]:
        yield self.data[: self.cut]
        raise httpx.ReadError("connection reset")


def file_server(files: dict[str, bytes], script: list[str]) -> tuple[Handler, list[httpx.Request]]:
    """Serve ``/org/model/resolve/COMMIT/PATH``; ``script`` says how to answer each request:
    ``ok``, ``cut`` (break off midway), ``norange`` (ignore Range: send everything)."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        prefix = f"/org/model/resolve/{COMMIT}/"
        assert request.url.path.startswith(prefix)
        data = files[request.url.path[len(prefix) :]]
        how = script.pop(0) if script else "ok"
        if how == "cut":
            headers = {"Content-Length": str(len(data))}
            return httpx.Response(200, headers=headers, stream=BrokenStream(data, len(data) // 3))
        start = request.headers.get("Range", "bytes=0-")[6:-1]
        if how == "norange" or not start:
            return httpx.Response(200, content=data)
        return httpx.Response(206, content=data[int(start) :])

    return handler, seen


@pytest.mark.parametrize("second", ["ok", "norange"])
def test_broken_body_is_resumed_and_verified(tmp_path: Path, second: str) -> None:
    data = bytes(range(256)) * 50
    handler, seen = file_server({"w.bin": data}, ["cut", second])
    file = HubFile("w.bin", len(data), "d" * 40, hashlib.sha256(data).hexdigest())
    store = LayoutStore(tmp_path / "store")
    fetched = fetch_files(client(handler), "org/model", COMMIT, [file], store=store,
                          blobs=GitBlobMap(tmp_path / "gitblobs"))  # fmt: skip
    assert fetched[0].digests.sha256.hex == file.lfs_sha256
    assert store.blob_path(fetched[0].digests.sha256).read_bytes() == data
    assert seen[1].headers["Range"] == f"bytes={len(data) // 3}-"


def test_one_bad_file_keeps_none_of_the_snapshot(tmp_path: Path) -> None:
    good, bad = b'{"a": 1}', b"tampered"
    handler, _ = file_server({"a.json": good, "b.json": bad}, [])
    files = [
        HubFile("a.json", len(good), git_blob_sha1(good)),
        HubFile("b.json", len(bad), git_blob_sha1(b"original")),
    ]
    store = LayoutStore(tmp_path / "store")
    with pytest.raises(IntegrityError, match=r"org/model/b\.json: git blob id"):
        fetch_files(client(handler), "org/model", COMMIT, files, store=store,
                    blobs=GitBlobMap(tmp_path / "gitblobs"))  # fmt: skip
    assert list((tmp_path / "store" / "blobs" / "sha256").iterdir()) == []
    assert list((tmp_path / "store" / "ingest").iterdir()) == []
    assert not (tmp_path / "gitblobs").exists()


def test_more_bytes_than_listed_are_refused(tmp_path: Path) -> None:
    handler, _ = file_server({"a.txt": b"0123456789"}, [])
    file = HubFile("a.txt", 4, git_blob_sha1(b"0123"))
    store, blobs = LayoutStore(tmp_path / "s"), GitBlobMap(tmp_path / "g")
    with pytest.raises(IntegrityError, match="more than the 4 bytes"):
        fetch_files(client(handler), "org/model", COMMIT, [file], store=store, blobs=blobs)


def test_known_git_files_are_reused_without_a_request(tmp_path: Path) -> None:
    data = b"vocab\n"
    handler, seen = file_server({"vocab.txt": data}, [])
    file = HubFile("vocab.txt", len(data), git_blob_sha1(data))
    store, blobs = LayoutStore(tmp_path / "s"), GitBlobMap(tmp_path / "g")
    hub = client(handler)
    first = fetch_files(hub, "org/model", COMMIT, [file], store=store, blobs=blobs)
    again = fetch_files(hub, "org/model", COMMIT, [file], store=store, blobs=blobs)
    assert len(seen) == 1
    assert (first[0].downloaded, again[0].downloaded) == (True, False)
    assert first[0].digests == again[0].digests
    # A map entry that lies costs a download, never a wrong file.
    (tmp_path / "g" / file.blob_id).write_text(json.dumps("0" * 64))
    third = fetch_files(hub, "org/model", COMMIT, [file], store=store, blobs=blobs)
    assert third[0].downloaded and len(seen) == 2


def test_a_json_body_cut_short_is_retried() -> None:
    body = json.dumps({"sha": COMMIT, "siblings": []}).encode()
    answers = ["cut", "ok"]

    def handler(request: httpx.Request) -> httpx.Response:
        if answers.pop(0) == "cut":
            headers = {"Content-Length": str(len(body))}
            return httpx.Response(200, headers=headers, stream=BrokenStream(body, 5))
        return httpx.Response(200, content=body)

    sleeps: list[float] = []
    assert client(handler, sleeps=sleeps).resolve_revision("org/model", "main").commit == COMMIT
    assert len(sleeps) == 1 and answers == []


def test_a_deep_or_broken_cached_listing_page_reads_as_no_page() -> None:
    from hubsnap.hublist import CachedPage, _cached_items

    assert _cached_items(CachedPage('"etag"', b"[" * 200_000, None)) is None
    assert _cached_items(CachedPage('"etag"', b"[1,", None)) is None
    assert _cached_items(CachedPage('"etag"', b'[{"id": "a/b"}]', None)) == [{"id": "a/b"}]
