"""``git clone`` with git-lfs against the Hub emulator gives the Hub's exact commits.

Real git and git-lfs talk to the emulator's smart HTTP and LFS batch endpoints; every id in
the clone (commit, folder trees, file blobs) and every smudged file's sha256 is compared
with what the emulator's Hub API reports for the same revision.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.hub import (
    BASE,
    COMMITS,
    FINETUNED,
    GATED,
    PRIVATE,
    QUANTIZED,
    HubEmulator,
    isolated_git_env,
)

pytestmark = [pytest.mark.hub, pytest.mark.interop]
LFS_JSON = "application/vnd.git-lfs+json"
GIT_TIMEOUT = 300  # generous: only proves that nothing hangs


def git(env: dict[str, str], *args: str | Path, cwd: Path | None = None) -> str:
    result = subprocess.run(
        ["git", *map(str, args)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=GIT_TIMEOUT,
    )
    assert result.returncode == 0, f"git {args[0]}: {result.stderr}"
    return result.stdout


def git_fails(env: dict[str, str], *args: str | Path, cwd: Path | None = None) -> str:
    result = subprocess.run(
        ["git", *map(str, args)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=GIT_TIMEOUT,
    )
    assert result.returncode != 0, f"git {args[0]} should have failed: {result.stdout}"
    return result.stderr


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def api(hub: HubEmulator, path: str, **params: str) -> Any:
    response = httpx.get(
        f"{hub.url}/api/models/{path}",
        params=params,
        headers={"Authorization": f"Bearer {hub.token}"},
        timeout=60,
    )
    response.raise_for_status()
    return response.json()


def assert_matches_hub(
    hub: HubEmulator, env: dict[str, str], clone: Path, repo_id: str, rev: str
) -> None:
    """HEAD, every tree and blob id, and every smudged LFS file equal the Hub's listing."""
    expected_sha = api(hub, f"{repo_id}/revision/{rev}")["sha"]
    assert git(env, "rev-parse", "HEAD", cwd=clone).strip() == expected_sha
    listing = api(hub, f"{repo_id}/tree/{expected_sha}", recursive="1")
    hub_files = {e["path"]: e for e in listing if e["type"] == "file"}
    hub_dirs = {e["path"]: e["oid"] for e in listing if e["type"] == "directory"}
    git_blobs: dict[str, str] = {}
    git_trees: dict[str, str] = {}
    for line in git(env, "ls-tree", "-r", "-t", "-z", "HEAD", cwd=clone).split("\0"):
        if line:
            meta, path = line.split("\t", 1)
            _, kind, oid = meta.split()
            (git_blobs if kind == "blob" else git_trees)[path] = oid
    assert git_blobs == {p: e["oid"] for p, e in hub_files.items()}
    assert git_trees == hub_dirs
    git(env, "lfs", "fsck", cwd=clone)
    lfs_files = {p: e["lfs"]["oid"] for p, e in hub_files.items() if "lfs" in e}
    assert lfs_files, "the fixture repositories all hold LFS files"
    assert {p: sha256_of(clone / p) for p in lfs_files} == lfs_files


@pytest.fixture(scope="module")
def git_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return isolated_git_env(tmp_path_factory.mktemp("git-home"))


@pytest.fixture(scope="module")
def minilm_clone(
    hub_emulator: HubEmulator, git_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """One full clone of MiniLM (90 MB of weights), shared by the module's tests."""
    hub_emulator.reset()
    target = tmp_path_factory.mktemp("clones") / "minilm"
    git(git_env, "clone", "--quiet", hub_emulator.git_url(BASE), target)
    yield target


def test_clone_of_main_is_the_hubs_commit(
    hub_emulator: HubEmulator, git_env: dict[str, str], minilm_clone: Path
) -> None:
    assert_matches_hub(hub_emulator, git_env, minilm_clone, BASE, "main")
    history = git(git_env, "rev-list", "--first-parent", "HEAD", cwd=minilm_clone).split()
    assert history == [c["id"] for c in api(hub_emulator, f"{BASE}/commits/main")]
    assert history[0] == COMMITS[BASE]["main"]
    assert history[-1] == COMMITS[BASE]["initial"]


def test_remote_refs_are_the_hubs_branches_tags_and_pull_requests(
    hub_emulator: HubEmulator, git_env: dict[str, str]
) -> None:
    refs = api(hub_emulator, f"{BASE}/refs", include_prs="1")
    expected = {r["ref"]: r["targetCommit"] for kind in refs.values() for r in kind}
    expected["HEAD"] = COMMITS[BASE]["main"]
    listed = git(git_env, "ls-remote", hub_emulator.git_url(BASE, suffix=".git"))
    pairs = (line.split("\t") for line in listed.splitlines())
    assert {ref: sha for sha, ref in pairs} == expected
    assert expected["refs/pr/1"] == COMMITS[BASE]["refs/pr/1"]
    assert expected["refs/tags/v1.0"] == COMMITS[BASE]["v1.0"]


@pytest.mark.parametrize(
    "case",
    [(BASE, "v2", ".git"), (FINETUNED, "main", ""), (QUANTIZED, "main", ".git")],
    ids=["minilm-v2", "finetuned", "quantized"],
)
def test_shallow_clone_of_a_revision_is_the_hubs(
    hub_emulator: HubEmulator, git_env: dict[str, str], tmp_path: Path, case: tuple[str, str, str]
) -> None:
    repo_id, revision, suffix = case
    url = hub_emulator.git_url(repo_id, suffix=suffix)
    git(git_env, "clone", "--quiet", "--depth", "1", "--branch", revision, url, tmp_path / "c")
    assert_matches_hub(hub_emulator, git_env, tmp_path / "c", repo_id, revision)
    head = git(git_env, "rev-parse", "HEAD", cwd=tmp_path / "c").strip()
    assert head == COMMITS[repo_id][revision]


def test_private_repo_needs_the_token(
    hub_emulator: HubEmulator, git_env: dict[str, str], tmp_path: Path
) -> None:
    stderr = git_fails(git_env, "clone", hub_emulator.git_url(PRIVATE), tmp_path / "anon")
    assert "could not read Username" in stderr
    assert not (tmp_path / "anon").exists()
    stderr = git_fails(
        git_env, "clone", hub_emulator.git_url(PRIVATE, "hf_wrong"), tmp_path / "wrong"
    )
    assert "Authentication failed" in stderr
    # An authenticated user who is not in the owning organisation does not see it either.
    outsider = hub_emulator.git_url(PRIVATE, hub_emulator.outsider_token)
    assert "not found" in git_fails(git_env, "clone", outsider, tmp_path / "outsider")
    clone = tmp_path / "ok"
    git(git_env, "clone", "--quiet", hub_emulator.git_url(PRIVATE, hub_emulator.token), clone)
    assert_matches_hub(hub_emulator, git_env, clone, PRIVATE, "main")


def test_gated_repo_needs_granted_access(
    hub_emulator: HubEmulator, git_env: dict[str, str], tmp_path: Path
) -> None:
    assert "could not read Username" in git_fails(
        git_env, "clone", hub_emulator.git_url(GATED), tmp_path / "anon"
    )
    outsider = hub_emulator.git_url(GATED, hub_emulator.outsider_token)
    assert "403" in git_fails(git_env, "clone", outsider, tmp_path / "outsider")
    env = git_env | {"GIT_LFS_SKIP_SMUDGE": "1"}
    clone = tmp_path / "ok"
    git(
        env,
        "clone",
        "--quiet",
        "--depth",
        "1",
        hub_emulator.git_url(GATED, hub_emulator.token),
        clone,
    )
    assert git(env, "rev-parse", "HEAD", cwd=clone).strip() == COMMITS[GATED]["main"]


def lfs_batch(
    hub: HubEmulator, repo_id: str, body: dict[str, Any], token: str | None
) -> httpx.Response:
    headers = {"Accept": LFS_JSON, "Content-Type": LFS_JSON}
    auth = ("git", token) if token else None
    return httpx.post(
        f"{hub.url}/{repo_id}.git/info/lfs/objects/batch",
        json=body,
        headers=headers,
        auth=auth,
        timeout=60,
    )


def test_lfs_batch_api(hub: HubEmulator) -> None:
    weights = next(
        e for e in api(hub, f"{BASE}/tree/main", recursive="1") if e["path"] == "model.safetensors"
    )
    known = {"oid": weights["lfs"]["oid"], "size": weights["size"]}
    unknown = {"oid": "0" * 64, "size": 3}
    request = {"operation": "download", "transfers": ["basic"], "objects": [known, unknown]}
    response = lfs_batch(hub, BASE, request, None)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == LFS_JSON
    answer = response.json()
    assert answer["transfer"] == "basic"
    first, second = answer["objects"]
    assert second["error"]["code"] == 404 and "actions" not in second
    download = first["actions"]["download"]
    assert download["expires_in"] > 0 and "header" not in download
    # The link points off-Hub (another host name) and streams exactly the object.
    assert not download["href"].startswith(hub.url)
    data = httpx.get(download["href"], timeout=60).content
    assert hashlib.sha256(data).hexdigest() == known["oid"]
    # A wrong size is an object error; an upload is refused outright.
    wrong = lfs_batch(hub, BASE, {**request, "objects": [{**known, "size": 1}]}, None)
    assert wrong.json()["objects"][0]["error"]["code"] == 422
    upload = lfs_batch(hub, BASE, {**request, "operation": "upload"}, hub.token)
    assert upload.status_code == 403
    # Private and gated repositories challenge anonymous callers, for git-lfs to retry.
    for repo_id in (PRIVATE, GATED):
        refused = lfs_batch(hub, repo_id, request, None)
        assert refused.status_code == 401
        assert refused.headers["LFS-Authenticate"].startswith("Basic")
        assert lfs_batch(hub, repo_id, request, hub.token).status_code == 200
    assert lfs_batch(hub, GATED, request, hub.outsider_token).status_code == 403
    # Objects of other repositories are not reachable through this one.
    other = lfs_batch(hub, FINETUNED, {**request, "objects": [known]}, None)
    assert other.json()["objects"][0]["error"]["code"] == 404


def test_published_commits_and_moved_refs_reach_clones(
    hub: HubEmulator, git_env: dict[str, str], tmp_path: Path
) -> None:
    weights = b"\x08\x00\x00\x00\x00\x00\x00\x00{}      "
    sha = hub.publish_commit(
        BASE,
        {"extra.bin": weights, "notes/readme.txt": "published at run time\n"},
        branch="git-test",
        title="Add extra weights",
        message="Published through the control API.",
    )
    hub.set_ref(BASE, "v9", sha)
    listed = git(git_env, "ls-remote", hub.git_url(BASE))
    assert f"{sha}\trefs/heads/git-test" in listed
    assert f"{sha}\trefs/tags/v9" in listed
    clone = tmp_path / "c"
    git(
        git_env,
        "clone",
        "--quiet",
        "--depth",
        "1",
        "--branch",
        "git-test",
        hub.git_url(BASE),
        clone,
    )
    assert_matches_hub(hub, git_env, clone, BASE, "git-test")
    assert (clone / "extra.bin").read_bytes() == weights
    pointer = git(git_env, "cat-file", "-p", "HEAD:extra.bin", cwd=clone)
    assert pointer.startswith("version https://git-lfs.github.com/spec/v1\n")
    assert git(git_env, "log", "-1", "--format=%B", cwd=clone).strip() == (
        "Add extra weights\n\nPublished through the control API."
    )
    hub.reset()
    listed = git(git_env, "ls-remote", hub.git_url(BASE))
    assert "git-test" not in listed and "v9" not in listed


def test_push_is_refused(hub: HubEmulator, git_env: dict[str, str], tmp_path: Path) -> None:
    env = git_env | {"GIT_LFS_SKIP_SMUDGE": "1"}
    clone = tmp_path / "c"
    git(env, "clone", "--quiet", "--depth", "1", hub.git_url(FINETUNED, hub.token), clone)
    (clone / "notes.txt").write_text("a change\n")
    git(env, "add", "notes.txt", cwd=clone)
    git(env, "commit", "--quiet", "-m", "a change", cwd=clone)
    assert "403" in git_fails(env, "push", "origin", "HEAD:main", cwd=clone)
    assert hub.repo_state(FINETUNED)["branches"]["main"] == COMMITS[FINETUNED]["main"]


def test_a_mirror_whose_ids_differ_from_the_store_is_refused(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from hubemu.gitrepo import GitMirrorError, GitMirrors
    from hubemu.store import Store

    blobs = tmp_path / "fixtures" / "blobs"
    blobs.mkdir(parents=True)
    data = b"hello\n"
    sha256 = hashlib.sha256(data).hexdigest()
    (blobs / sha256).write_bytes(data)
    blob = hashlib.sha1(b"blob 6\0" + data, usedforsecurity=False).hexdigest()
    commit = {
        "sha": "1" * 40,  # not what git computes for this commit
        "parents": [],
        "title": "initial commit",
        "body": "",
        "author": "someone",
        "email": "someone@users.noreply.huggingface.co",
        "epoch": 1700000000,
        "files": {"hello.txt": [sha256, len(data), blob, False]},
    }
    repo = {"id": "ns/broken", "created_epoch": 1700000000, "commits": [commit]}
    repo |= {"branches": {"main": "1" * 40}, "tags": {}, "prs": {}}
    (tmp_path / "fixtures" / "repos.json").write_text(json.dumps({"repos": [repo]}))
    store = Store(tmp_path / "fixtures")
    mirrors = GitMirrors(store, tmp_path / "git")
    broken = store.get("ns/broken")
    assert broken is not None
    with pytest.raises(GitMirrorError, match="refusing to serve"):
        mirrors.sync(broken)
    refs = subprocess.run(
        ["git", "-C", str(tmp_path / "git" / "ns" / "broken.git"), "show-ref"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert refs.stdout == ""


def test_lfs_downloads_go_through_the_emulators_file_serving(
    hub: HubEmulator, git_env: dict[str, str], tmp_path: Path
) -> None:
    weights = b"\x08\x00\x00\x00\x00\x00\x00\x00{}      " * 64
    hub.publish_commit(QUANTIZED, {"tiny.bin": weights}, branch="faulty")
    # One corrupted download: git-lfs checks the sha256 and keeps the pointer; a retry works.
    fault = hub.add_fault(
        f"^/_cdn/lfs/{QUANTIZED}/{hashlib.sha256(weights).hexdigest()}/", "corrupt"
    )
    env = git_env | {"GIT_LFS_SKIP_SMUDGE": "1"}
    clone = tmp_path / "c"
    git(
        env, "clone", "--quiet", "--depth", "1", "--branch", "faulty", hub.git_url(QUANTIZED), clone
    )
    stderr = git_fails(env, "lfs", "pull", "--include", "tiny.bin", cwd=clone)
    assert f"expected OID {hashlib.sha256(weights).hexdigest()}" in stderr
    assert (clone / "tiny.bin").read_bytes().startswith(b"version https://git-lfs")
    git(env, "lfs", "pull", "--include", "tiny.bin", cwd=clone)
    assert (clone / "tiny.bin").read_bytes() == weights
    assert [f["remaining"] for f in hub.faults() if f["id"] == fault] == [0]
    assert hub.request_count("/tiny.bin") == 2


def test_upload_pack_accepts_gzip_and_chunked_request_bodies(hub: HubEmulator) -> None:
    request = b"0014command=ls-refs\n0000"
    url = f"{hub.url}/{BASE}.git/git-upload-pack"
    headers = {
        "Content-Type": "application/x-git-upload-pack-request",
        "Git-Protocol": "version=2",
    }

    def chunks() -> Iterator[bytes]:
        yield request[:10]
        yield request[10:]

    plain = httpx.post(url, content=request, headers=headers, timeout=60)
    assert plain.status_code == 200
    assert plain.headers["Content-Type"] == "application/x-git-upload-pack-result"
    assert f"{COMMITS[BASE]['main']} refs/heads/main".encode() in plain.content
    gzipped = httpx.post(
        url,
        content=gzip.compress(request),
        headers=headers | {"Content-Encoding": "gzip"},
        timeout=60,
    )
    assert gzipped.content == plain.content
    chunked = httpx.post(url, content=chunks(), headers=headers, timeout=60)
    assert chunked.content == plain.content
    broken = httpx.post(
        url, content=b"not gzip", headers=headers | {"Content-Encoding": "gzip"}, timeout=60
    )
    assert broken.status_code == 400


def test_the_emulator_removes_its_git_repositories_when_stopped(
    git_env: dict[str, str], tmp_path: Path
) -> None:
    from support.hub import SCRIPT, _await_ready, _data_dir

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--port", "0", "--data", str(_data_dir())],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ | {"TMPDIR": str(scratch)},
    )
    try:
        url = _await_ready(proc)
        git(git_env, "ls-remote", f"{url}/{FINETUNED}")
        (served,) = scratch.iterdir()
        assert (served / f"{FINETUNED}.git" / "HEAD").is_file()
    finally:
        proc.terminate()
        assert proc.wait(timeout=60) == 0
        if proc.stdout:
            proc.stdout.close()
    assert list(scratch.iterdir()) == []
