"""The Hub emulator behaves like the Hub for the real ``huggingface_hub`` client.

Every check goes through ``huggingface_hub``'s own calls (or plain HTTP where the client
hides the detail, e.g. ETags and ranges), so hubsnap's tests against the emulator exercise
the same code paths they would against huggingface.co.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from huggingface_hub import HfApi, __version__, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    DisabledRepoError,
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from safetensors import safe_open

from support.hub import (
    BASE,
    BULK_AUTHOR,
    COMMITS,
    DISABLED,
    FINETUNED,
    GATED,
    PRIVATE,
    QUANTIZED,
    SENTIMENT,
    SENTIMENT_PROBES,
    CopyFrom,
    HfEnv,
)
from support.minilm import MiniLM

# huggingface_hub's own client features, which the emulator must serve once a release has them
# (hubsnap supports releases from before them: the lowest-versions run uses 1.0).
HF_HUB = tuple(int(part) for part in __version__.split(".")[:2])
LISTING_RETRIES_429 = HF_HUB >= (2, 1)
RESUMES_DOWNLOADS = HF_HUB >= (1, 20)

pytestmark = pytest.mark.hub


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git_blob_sha1(path: str | Path) -> str:
    data = Path(path).read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def tensors(path: str | Path) -> dict[str, bytes]:
    with safe_open(str(path), "np") as f:
        return {k: f.get_tensor(k).tobytes() for k in f.keys()}  # noqa: SIM118


def test_commit_shas_are_golden(hf_env: HfEnv) -> None:
    api = HfApi(token=hf_env.hub.token)
    for repo_id, revisions in COMMITS.items():
        for revision, sha in revisions.items():
            if revision == "initial":  # not a ref: the root of main's history
                assert api.list_repo_commits(repo_id)[-1].commit_id == sha
            elif repo_id == DISABLED:  # the Hub API refuses it; ask the control API
                assert hf_env.hub.repo_state(repo_id)["branches"][revision] == sha
            else:
                assert api.model_info(repo_id, revision=revision).sha == sha, (repo_id, revision)


def test_list_models_filters_and_sorts(hf_env: HfEnv) -> None:
    api = HfApi()
    ours = {m.id for m in api.list_models(author="hubsnap-fixtures")}
    # Gated repos are listed publicly, as on the Hub; private and disabled ones are not.
    assert ours == {FINETUNED, QUANTIZED, SENTIMENT, GATED}
    classifiers = list(api.list_models(filter="text-classification", sort="downloads", limit=20))
    assert len(classifiers) == 20
    assert all(m.pipeline_tag == "text-classification" for m in classifiers)
    downloads = [m.downloads or 0 for m in classifiers]
    assert downloads == sorted(downloads, reverse=True)
    found = list(api.list_models(search="minilm-sent", cardData=True))
    assert [m.id for m in found] == [SENTIMENT]
    assert found[0].card_data is not None and found[0].card_data["license"] == "apache-2.0"
    by_task = list(api.list_models(pipeline_tag="sentence-similarity", author="hubsnap-fixtures"))
    assert {m.id for m in by_task} == {FINETUNED, QUANTIZED, GATED}
    newest = list(api.list_models(sort="last_modified", limit=3, expand=["lastModified", "sha"]))
    dates = [m.last_modified for m in newest if m.last_modified is not None]
    assert len(dates) == len(newest) and dates == sorted(dates, reverse=True)
    lineage = list(api.list_models(filter=f"base_model:finetune:{BASE}"))
    assert {m.id for m in lineage} == {FINETUNED, SENTIMENT, GATED}


def test_listing_paginates_with_link_headers(hf_env: HfEnv) -> None:
    models = list(HfApi().list_models(author=BULK_AUTHOR))
    assert len(models) == len({m.id for m in models}) == 1100
    assert hf_env.hub.request_count("/api/models") == 2  # 1000 + 100, through rel="next"


def test_private_listing_needs_a_token(hf_env: HfEnv) -> None:
    mine = {m.id for m in HfApi(token=hf_env.hub.token).list_models(author="hubsnap-fixtures")}
    assert PRIVATE in mine and DISABLED not in mine
    outsider = HfApi(token=hf_env.hub.outsider_token).list_models(author="hubsnap-fixtures")
    assert PRIVATE not in {m.id for m in outsider}


def test_listing_direction_and_full(hf_env: HfEnv) -> None:
    url = f"{hf_env.endpoint}/api/models"
    query = {"author": "hubsnap-fixtures", "sort": "downloads"}
    down = httpx.get(url, params={**query, "direction": "-1"}).json()
    up = httpx.get(url, params={**query, "direction": "1"}).json()
    assert [m["downloads"] for m in up] == sorted(m["downloads"] for m in down)
    assert [m["downloads"] for m in down] == sorted((m["downloads"] for m in down), reverse=True)
    assert {m["id"] for m in up} == {m["id"] for m in down}
    full = httpx.get(url, params={**query, "full": "true"}).json()
    assert all("siblings" in m and "sha" in m for m in full)
    assert not any("siblings" in m for m in down)


def test_listing_etag_gives_304(hf_env: HfEnv) -> None:
    url = f"{hf_env.endpoint}/api/models"
    first = httpx.get(url, params={"author": "hubsnap-fixtures"})
    etag = first.headers["ETag"]
    again = httpx.get(url, params={"author": "hubsnap-fixtures"}, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""


def test_model_info_with_files_metadata(hf_env: HfEnv) -> None:
    api = HfApi()
    info = api.model_info(BASE, files_metadata=True)
    assert info.sha == COMMITS[BASE]["main"]
    assert info.pipeline_tag == "sentence-similarity"
    assert info.library_name == "sentence-transformers"
    assert info.safetensors is not None and info.safetensors.total == 22_713_728
    siblings = {s.rfilename: s for s in info.siblings or []}
    weights = siblings["model.safetensors"]
    assert weights.lfs is not None and weights.size == weights.lfs.size == 90_868_376
    assert weights.lfs.pointer_size == 133
    assert siblings["config.json"].lfs is None and siblings["config.json"].blob_id
    assert "1_Pooling/config.json" in siblings
    child = api.model_info(QUANTIZED)
    assert child.card_data is not None
    assert child.card_data["base_model"] == FINETUNED
    assert child.card_data["base_model_relation"] == "quantized"
    assert child.config is not None
    assert child.config["quantization_config"]["format"] == "int-quantized"
    # Revisions: tag, branch, short sha, and an encoded pull-request ref.
    assert api.model_info(BASE, revision="v1.0").sha == COMMITS[BASE]["v1.0"]
    assert api.model_info(BASE, revision=COMMITS[BASE]["v2"][:10]).sha == COMMITS[BASE]["v2"]
    assert api.model_info(BASE, revision="refs/pr/1").sha == COMMITS[BASE]["refs/pr/1"]
    old = api.model_info(BASE, revision="v1.0")
    assert old.card_data is not None and old.card_data.get("pipeline_tag") is None


def test_list_repo_refs(hf_env: HfEnv) -> None:
    refs = HfApi().list_repo_refs(BASE, include_pull_requests=True)
    assert {b.name: b.target_commit for b in refs.branches} == {
        "main": COMMITS[BASE]["main"],
        "v2": COMMITS[BASE]["v2"],
    }
    assert [(t.name, t.ref) for t in refs.tags] == [("v1.0", "refs/tags/v1.0")]
    assert refs.pull_requests is not None
    assert refs.pull_requests[0].ref == "refs/pr/1"


def test_list_repo_tree_recursive_and_expanded(hf_env: HfEnv) -> None:
    api = HfApi()
    top = list(api.list_repo_tree(BASE))
    assert top[0].path == "1_Pooling"  # folders first
    assert "1_Pooling/config.json" not in {e.path for e in top}
    entries = {e.path: e for e in api.list_repo_tree(BASE, recursive=True, expand=True)}
    weights = entries["model.safetensors"]
    assert getattr(weights, "lfs", None) is not None
    readme = entries["README.md"]
    assert readme.last_commit is not None and readme.last_commit.oid == COMMITS[BASE]["main"]
    config = entries["config.json"]
    assert config.last_commit is not None and config.last_commit.oid == COMMITS[BASE]["v1.0"]
    inner = list(api.list_repo_tree(BASE, path_in_repo="1_Pooling"))
    assert [e.path for e in inner] == ["1_Pooling/config.json"]
    with pytest.raises(EntryNotFoundError):
        list(api.list_repo_tree(BASE, path_in_repo="no-such-dir"))


def test_list_repo_commits(hf_env: HfEnv) -> None:
    commits = HfApi().list_repo_commits(BASE, revision="v2")
    assert [c.commit_id for c in commits] == [
        COMMITS[BASE]["v2"],
        COMMITS[BASE]["main"],
        COMMITS[BASE]["v1.0"],
        COMMITS[BASE]["initial"],
    ]
    assert commits[0].title.startswith("Add domain special tokens")
    assert commits[-1].title == "initial commit"
    assert commits[0].created_at > commits[1].created_at


def test_downloads_match_the_advertised_digests(hf_env: HfEnv) -> None:
    info = HfApi().model_info(BASE, files_metadata=True)
    siblings = {s.rfilename: s for s in info.siblings or []}
    weights = hf_hub_download(BASE, "model.safetensors")
    assert siblings["model.safetensors"].lfs is not None
    assert sha256_of(weights) == siblings["model.safetensors"].lfs.sha256
    config = hf_hub_download(BASE, "config.json")
    assert git_blob_sha1(config) == siblings["config.json"].blob_id
    pooling = hf_hub_download(BASE, "config.json", subfolder="1_Pooling")
    assert json.loads(Path(pooling).read_text())["pooling_mode_mean_tokens"] is True
    # A second download is served from the local cache: the CDN is hit once.
    hf_hub_download(BASE, "model.safetensors")
    assert hf_env.hub.request_count("/_cdn/lfs/") == 1


def test_lfs_redirects_off_host_and_cdn_refuses_tokens(hf_env: HfEnv) -> None:
    url = f"{hf_env.endpoint}/{BASE}/resolve/main/model.safetensors"
    head = httpx.head(url, headers={"Authorization": f"Bearer {hf_env.hub.token}"})
    assert head.status_code == 302
    assert head.headers["X-Repo-Commit"] == COMMITS[BASE]["main"]
    assert head.headers["X-Linked-Size"] == "90868376"
    info = HfApi().model_info(BASE, files_metadata=True)
    weights = {s.rfilename: s for s in info.siblings or []}["model.safetensors"]
    assert weights.lfs is not None and weights.blob_id
    assert head.headers["X-Linked-Etag"] == f'"{weights.lfs.sha256}"'
    assert head.headers["ETag"] == f'"{weights.blob_id}"'
    location = head.headers["Location"]
    assert httpx.URL(location).host == "localhost" != httpx.URL(url).host
    leaked = httpx.get(location, headers={"Authorization": f"Bearer {hf_env.hub.token}"})
    assert leaked.status_code == 400
    part = httpx.get(location, headers={"Range": "bytes=0-7"})
    assert part.status_code == 206 and len(part.content) == 8
    assert part.headers["Content-Range"] == "bytes 0-7/90868376"


def test_range_requests_on_regular_files(hf_env: HfEnv) -> None:
    url = f"{hf_env.endpoint}/{BASE}/resolve/main/config.json"
    whole = httpx.get(url)
    assert whole.status_code == 200
    assert whole.headers["ETag"].strip('"') == git_blob_sha1_bytes(whole.content)
    tail = httpx.get(url, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == whole.content[-10:]
    past = httpx.get(url, headers={"Range": f"bytes={len(whole.content)}-"})
    assert past.status_code == 416


def git_blob_sha1_bytes(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def test_snapshot_at_a_revision(hf_env: HfEnv) -> None:
    main = Path(snapshot_download(BASE, allow_patterns=["*.json", "*.safetensors"]))
    v2 = Path(snapshot_download(BASE, revision="v2", allow_patterns=["*.json", "*.safetensors"]))
    assert v2.name == COMMITS[BASE]["v2"]
    added = json.loads((v2 / "tokenizer.json").read_text())["added_tokens"]
    assert [t["content"] for t in added[-3:]] == ["[DOC]", "[QRY]", "[ENT]"]
    assert json.loads((v2 / "config.json").read_text())["vocab_size"] == 30525
    before, after = tensors(main / "model.safetensors"), tensors(v2 / "model.safetensors")
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {
        "embeddings.word_embeddings.weight",
        "encoder.layer.5.output.dense.weight",
        "encoder.layer.5.output.dense.bias",
        "pooler.dense.weight",
    }


def test_lineage_weights(hf_env: HfEnv) -> None:
    base = tensors(hf_hub_download(BASE, "model.safetensors"))
    tuned = tensors(hf_hub_download(FINETUNED, "model.safetensors"))
    assert base["embeddings.word_embeddings.weight"] == tuned["embeddings.word_embeddings.weight"]
    query = "encoder.layer.0.attention.self.query.weight"
    assert base[query] != tuned[query]
    with safe_open(hf_hub_download(QUANTIZED, "model.safetensors"), "np") as f:
        q = f.get_tensor(query)
        scale = f.get_tensor(query + "_scale")
    assert q.dtype == np.int8 and scale.dtype == np.float32 and scale.shape == (1,)
    original = np.frombuffer(tuned[query], np.float32)
    assert np.abs(q.astype(np.float32).ravel() * scale[0] - original).max() <= scale[0] / 2 + 1e-7


def test_sentiment_revisions_change_some_predictions(hf_env: HfEnv) -> None:
    files = ["config.json", "tokenizer.json", "model.safetensors"]
    v1 = MiniLM.from_dir(snapshot_download(SENTIMENT, revision="v1", allow_patterns=files))
    v2 = MiniLM.from_dir(snapshot_download(SENTIMENT, revision="v2", allow_patterns=files))
    assert v1.config["architectures"] == ["BertForSequenceClassification"]
    before, after = v1.predict(SENTIMENT_PROBES), v2.predict(SENTIMENT_PROBES)
    flipped = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert flipped == [0, 7]
    assert set(before) == set(after) == {"NEGATIVE", "POSITIVE"}


def test_errors_map_to_huggingface_hub_exceptions(hf_env: HfEnv) -> None:
    api = HfApi()
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("nobody/nothing")
    with pytest.raises(RepositoryNotFoundError):
        api.model_info(PRIVATE)
    with pytest.raises(RevisionNotFoundError):
        api.model_info(BASE, revision="no-such-branch")
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(BASE, "missing.bin")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(BASE, "config.json", revision="deadbeef" * 5)
    with pytest.raises(GatedRepoError) as anonymous:
        hf_hub_download(GATED, "config.json")
    assert anonymous.value.response is not None and anonymous.value.response.status_code == 401
    with pytest.raises(GatedRepoError) as outsider:
        hf_hub_download(GATED, "config.json", token=hf_env.hub.outsider_token)
    assert outsider.value.response is not None and outsider.value.response.status_code == 403
    with pytest.raises(DisabledRepoError):
        api.model_info(DISABLED)
    assert api.model_info(GATED).gated == "auto"  # metadata stays public
    assert api.model_info(PRIVATE, token=hf_env.hub.token).private is True
    assert Path(hf_hub_download(GATED, "config.json", token=hf_env.hub.token)).is_file()


@pytest.mark.parametrize("repo", ["nobody/nothing", PRIVATE])
def test_missing_and_private_look_alike(hf_env: HfEnv, repo: str) -> None:
    # As on the Hub: 401 RepoNotFound to anonymous callers, 404 to authenticated ones, so
    # that nobody learns a private repository exists.
    url = f"{hf_env.endpoint}/api/models/{repo}"
    bearer = {"Authorization": f"Bearer {hf_env.hub.outsider_token}"}
    for answer, status in ((httpx.get(url), 401), (httpx.get(url, headers=bearer), 404)):
        assert answer.status_code == status
        assert answer.headers["X-Error-Code"] == "RepoNotFound"
        assert answer.headers["X-Error-Message"] == "Repository not found"
        assert answer.json() == {"error": "Repository not found"}


def test_publish_commit_moves_main_and_reset_undoes_it(hf_env: HfEnv) -> None:
    hub, api = hf_env.hub, HfApi()
    sha = hub.publish_commit(
        FINETUNED,
        {"notes.txt": "hello\n", "data_card.md": CopyFrom(BASE, "README.md"), "vocab.txt": None},
        title="Add notes",
    )
    info = api.model_info(FINETUNED, files_metadata=True)
    assert info.sha == sha != COMMITS[FINETUNED]["main"]
    names = {s.rfilename for s in info.siblings or []}
    assert {"notes.txt", "data_card.md"} <= names and "vocab.txt" not in names
    assert Path(hf_hub_download(FINETUNED, "notes.txt")).read_text() == "hello\n"
    commits = api.list_repo_commits(FINETUNED)
    assert commits[0].title == "Add notes" and commits[1].commit_id == COMMITS[FINETUNED]["main"]
    # Same change, same parent, default date: the same sha again (reproducible publishes).
    hub.reset()
    assert api.model_info(FINETUNED).sha == COMMITS[FINETUNED]["main"]
    again = hub.publish_commit(
        FINETUNED,
        {"notes.txt": "hello\n", "data_card.md": CopyFrom(BASE, "README.md"), "vocab.txt": None},
        title="Add notes",
    )
    assert again == sha


def test_status_faults(hf_env: HfEnv) -> None:
    hub, api = hf_env.hub, HfApi()
    hub.add_fault(r"^/api/models/hubsnap-fixtures/minilm-finetuned$", "503")
    with pytest.raises(HfHubHTTPError) as failed:
        api.model_info(FINETUNED)
    assert failed.value.response is not None and failed.value.response.status_code == 503
    assert api.model_info(FINETUNED).sha == COMMITS[FINETUNED]["main"]  # one shot only
    if LISTING_RETRIES_429:  # listing retries 429 after Retry-After, as the Hub client does
        hub.add_fault(r"^/api/models$", "429", retry_after=1)
        assert len(list(api.list_models(author="hubsnap-fixtures"))) == 4
        assert hub.request_count("/api/models", method="GET") >= 2
    raw = httpx.get(f"{hf_env.endpoint}/api/models", params={"limit": 1})
    assert raw.status_code == 200
    hub.add_fault(r"^/api/models$", "429", retry_after=7)
    limited = httpx.get(f"{hf_env.endpoint}/api/models")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    hub.add_fault("/resolve/", "500", count=5)
    assert hub.faults()[-1]["remaining"] == 5
    hub.clear_faults()
    assert hub.faults() == []


@pytest.mark.skipif(not RESUMES_DOWNLOADS, reason="huggingface_hub resumes from 1.20 on")
def test_truncated_body_is_resumed_by_the_client(hf_env: HfEnv) -> None:
    hub = hf_env.hub
    hub.add_fault("/_cdn/lfs/", "truncate")
    path = hf_hub_download(FINETUNED, "model.safetensors")
    info = HfApi().model_info(FINETUNED, files_metadata=True)
    lfs = next(s.lfs for s in info.siblings or [] if s.rfilename == "model.safetensors")
    assert lfs is not None and sha256_of(path) == lfs.sha256
    assert hub.request_count("/_cdn/lfs/") == 2  # the cut response, then a ranged resume


def test_corrupted_body_keeps_its_size(hf_env: HfEnv) -> None:
    hub = hf_env.hub
    hub.add_fault(r"/resolve/main/config\.json$", "corrupt")
    url = f"{hf_env.endpoint}/{FINETUNED}/resolve/main/config.json"
    bad, good = httpx.get(url), httpx.get(url)
    assert len(bad.content) == len(good.content) and bad.content != good.content
    assert git_blob_sha1_bytes(good.content) == good.headers["ETag"].strip('"')


def test_truncated_raw_response_closes_early(hf_env: HfEnv) -> None:
    hf_env.hub.add_fault(r"/resolve/main/vocab\.txt$", "truncate", truncate_at=100)
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"{hf_env.endpoint}/{BASE}/resolve/main/vocab.txt")


def test_tree_pages_follow_link_headers(hf_env: HfEnv) -> None:
    many = {f"shards/part-{i:03d}.txt": f"{i}\n" for i in range(60)}
    hf_env.hub.publish_commit(FINETUNED, many, title="Add 60 shards")
    # Expanded listings come 50 entries a page, as on the Hub.
    listed = list(HfApi().list_repo_tree(FINETUNED, path_in_repo="shards", expand=True))
    assert [e.path for e in listed] == sorted(many)
    assert hf_env.hub.request_count("/tree/main/shards") == 2


def test_missing_file_is_remembered_per_commit(hf_env: HfEnv) -> None:
    with pytest.raises(RemoteEntryNotFoundError) as missing:
        hf_hub_download(BASE, "not-there.txt")
    assert missing.value.response is not None
    assert missing.value.response.headers["X-Repo-Commit"] == COMMITS[BASE]["main"]


def test_publish_delivers_a_webhook(hf_env: HfEnv) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received: list[tuple[str | None, dict[str, Any]]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers.get("X-Webhook-Secret"), json.loads(body)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        hf_env.hub.add_webhook(f"http://127.0.0.1:{server.server_port}/hook", secret="s3cret")
        sha = hf_env.hub.publish_commit(FINETUNED, {"notes.txt": "v2\n"}, title="Notes")
    finally:
        server.shutdown()
    secret, payload = received[0]
    assert secret == "s3cret"
    assert payload["event"] == {"action": "update", "scope": "repo.content"}
    assert payload["repo"]["name"] == FINETUNED and payload["repo"]["headSha"] == sha
    assert payload["updatedRefs"] == [
        {"ref": "refs/heads/main", "oldSha": COMMITS[FINETUNED]["main"], "newSha": sha}
    ]
