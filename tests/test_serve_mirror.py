"""What a mirror job leaves behind, end to end with the embedded queue: a crash mid-push
re-sends no blob the registry had, every ref on a commit gets its tag, a commit with nothing
to sign leaves nothing in the registry, and ``--lfs-repo`` commits each artifact once."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support.hub import HubEmulator
from support.lfs import git
from support.registry import RegistryServer
from support.registry_proxy import CountingProxy, counting_proxy
from support.serve import SECRET, Served, ServeEnv, most_holders_at_once, wait_for
from test_serve_webhook import (
    OWNER,
    files,
    model_manifests,
    new_repo,
    payload,
    registry_json,
    repository_exists,
    signature_count,
    verify,
)

pytestmark = [pytest.mark.registry]


@pytest.fixture
def proxy(registry: RegistryServer) -> Iterator[CountingProxy]:
    with counting_proxy(registry.host) as running:
        yield running


def _start(serve: Callable[..., Served], registry_host: str, *extra: str) -> Served:
    server = serve(
        "--registry", f"{registry_host}/mirror", "--watch", f"{OWNER}/*",
        "--poll-interval", "1h", *extra,
    )  # fmt: skip
    server.wait_reconciled()
    return server


def refs_payload(repo_id: str, refs: dict[str, str]) -> bytes:
    """A delivery that moved several refs at once."""
    data: dict[str, Any] = {
        "event": {"action": "update", "scope": "repo.content"},
        "repo": {"type": "model", "name": repo_id, "private": False},
        "updatedRefs": [{"ref": ref, "oldSha": None, "newSha": sha} for ref, sha in refs.items()],
        "webhook": {"id": "6565656565656565656565ee", "version": 3},
    }
    return json.dumps(data).encode()


def test_kill_9_mid_push_then_restart_sends_no_blob_twice(
    serve: Callable[..., Served],
    serve_env: ServeEnv,
    registry: RegistryServer,
    proxy: CountingProxy,
    hub: HubEmulator,
) -> None:
    server = _start(serve, proxy.host)
    repo_id = new_repo(hub)
    extra: dict[str, bytes | str] = {f"tokenizer-{n}.json": json.dumps({"n": n}) for n in range(3)}
    sha = hub.publish_commit(repo_id, files("mid-push") | extra)
    proxy.hold_uploads_after(2)
    assert server.post(payload(repo_id, sha))[0] == 202
    wait_for(proxy.holding.is_set, timeout=60, what="the push to reach its third blob")
    assert server.stop(signal.SIGKILL) == -signal.SIGKILL
    wait_for(proxy.settled, timeout=30, what="the uploads let through to finish")
    before = proxy.uploads()
    assert len(before) == 2  # two blobs reached the registry, then the server died
    assert [state for _, _, state in server.jobs()] == ["running"]
    proxy.release(drop=True)  # the held upload never reaches the registry

    again = _start(serve, proxy.host)
    again.wait_done(1)
    after = proxy.uploads()[len(before) :]
    assert not set(before) & set(after), "a blob the registry had was sent again"
    assert len(set(before + after)) == len(before + after)  # and none twice in one run
    dest = f"mirror/{repo_id}"
    manifest, digest = registry_json(registry, f"{dest}/manifests/{sha}")
    blobs = {layer["digest"] for layer in manifest["layers"]} | {manifest["config"]["digest"]}
    assert set(before) <= blobs <= set(before + after)
    assert again.metric('hubsnap_blobs_skipped_total{reason="present"}') >= 2
    assert [state for _, _, state in again.jobs()] == ["done"]
    checked = verify(serve_env, f"{registry.host}/{dest}@{digest}")
    assert checked.returncode == 0, checked.stderr


def test_two_refs_on_one_commit_both_get_their_tag(
    serve: Callable[..., Served], registry: RegistryServer, hub: HubEmulator
) -> None:
    server = _start(serve, registry.host)
    repo_id = new_repo(hub)
    sha = hub.publish_commit(repo_id, files("two-refs"))
    hub.set_ref(repo_id, "v1", sha)
    status, body = server.post(refs_payload(repo_id, {"refs/heads/main": sha,
                                                      "refs/tags/v1": sha}))  # fmt: skip
    assert (status, len(body["jobs"]), len(set(body["jobs"]))) == (202, 2, 1)
    server.wait_done(1)
    dest = f"mirror/{repo_id}"
    _, digest = registry_json(registry, f"{dest}/manifests/{sha}")
    for tag in ("main", "v1"):
        assert registry_json(registry, f"{dest}/manifests/{tag}")[1] == digest

    # A ref made later on the mirrored commit: the job runs again, only to tag it.
    hub.set_ref(repo_id, "stable", sha, kind="heads")
    assert server.post(payload(repo_id, sha, ref="refs/heads/stable")) == (
        202, {"jobs": body["jobs"][:1], "duplicate": False},
    )  # fmt: skip
    server.wait_done(2)
    assert registry_json(registry, f"{dest}/manifests/stable")[1] == digest
    assert signature_count(registry, dest, digest) == 2  # no second signature
    assert model_manifests(registry, dest) == [digest]
    # now tagged: the same event adds nothing
    assert server.post(payload(repo_id, sha, ref="refs/heads/stable"))[1]["duplicate"] is True

    # A new commit on one ref moves that ref's tag only.
    newer = hub.publish_commit(repo_id, files("newer"), branch="stable")
    assert server.post(payload(repo_id, newer, ref="refs/heads/stable"))[0] == 202
    server.wait_done(3)
    _, newer_digest = registry_json(registry, f"{dest}/manifests/{newer}")
    assert registry_json(registry, f"{dest}/manifests/stable")[1] == newer_digest
    assert registry_json(registry, f"{dest}/manifests/main")[1] == digest


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ((), "no model files to sign"),  # the initial commit holds only .gitattributes
        (("--include", "weights/*.bin"), "no file matches the selection"),
    ],
)
def test_a_commit_with_nothing_to_sign_is_skipped_and_nothing_pushed(
    serve: Callable[..., Served],
    registry: RegistryServer,
    hub: HubEmulator,
    extra: tuple[str, ...],
    reason: str,
) -> None:
    server = _start(serve, registry.host, *extra)
    repo_id = new_repo(hub)
    sha = hub.repo_state(repo_id)["branches"]["main"]
    if extra:
        sha = hub.publish_commit(repo_id, files("no-match"))
    status, body = server.post(payload(repo_id, sha))
    assert (status, body["duplicate"]) == (202, False)
    wait_for(lambda: server.events("job.skipped"), timeout=60, what="the job to be skipped")
    [skipped] = server.events("job.skipped")
    assert (skipped["commit"], skipped["reason"]) == (sha, reason)
    assert [state for _, _, state in server.jobs()] == ["skipped"]
    assert server.metric('hubsnap_jobs_total{result="skipped",stage="job"}') == 1
    assert server.metric('hubsnap_jobs_total{result="ok",stage="push"}') == 0
    assert not repository_exists(registry, f"mirror/{repo_id}")
    assert server.post(payload(repo_id, sha))[1]["duplicate"] is True  # final: not reopened
    assert server.metric("hubsnap_queue_depth") == 0


def _branch_log(repo: Path, branch: str) -> list[str]:
    return git(repo, "log", "--format=%H %(trailers:key=Hubsnap-Artifact,valueonly)",
               f"refs/heads/{branch}").split("\n")  # fmt: skip


def test_lfs_repo_gets_one_commit_per_ref_and_none_again(
    serve: Callable[..., Served],
    serve_env: ServeEnv,
    registry: RegistryServer,
    hub: HubEmulator,
) -> None:
    lfs_repo = serve_env.root / "mirror.git-repo"
    server = _start(serve, registry.host, "--lfs-repo", str(lfs_repo))
    repo_id = new_repo(hub)
    hub.add_webhook(server.url + "/webhook", SECRET)
    sha = hub.publish_commit(repo_id, files("lfs"))
    server.wait_done(1)
    _, digest = registry_json(registry, f"mirror/{repo_id}/manifests/{sha}")
    [line] = [x for x in _branch_log(lfs_repo, f"{repo_id}/main") if x.strip()]
    assert line.split()[1] == digest
    assert server.events("job.done")[0]["lfs_commits"] == [line.split()[0]]

    hub.set_ref(repo_id, "v1", sha)
    assert server.post(payload(repo_id, sha, ref="refs/tags/v1"))[1]["duplicate"] is False
    server.wait_done(2)
    [again] = [x for x in _branch_log(lfs_repo, f"{repo_id}/main") if x.strip()]
    assert again == line  # the job ran again: main got no second commit
    [tagged] = [x for x in _branch_log(lfs_repo, f"{repo_id}/v1") if x.strip()]
    assert tagged.split()[1] == digest
    pointer = git(lfs_repo, "show", f"refs/heads/{repo_id}/v1:model.safetensors")
    assert pointer.startswith("version https://git-lfs.github.com/spec/v1")
    assert server.events("job.done")[1]["lfs_commits"] == [tagged.split()[0]]


def test_lfs_repo_commits_verify_with_the_servers_key(
    serve: Callable[..., Served], serve_env: ServeEnv, registry: RegistryServer, hub: HubEmulator
) -> None:
    import subprocess
    import sys

    from support.keys import FIXED_PUB

    lfs_repo = serve_env.root / "mirror.git-repo"
    server = _start(serve, registry.host, "--lfs-repo", str(lfs_repo))
    repo_id = new_repo(hub)
    sha = hub.publish_commit(repo_id, files("lfs-verify"))
    assert server.post(payload(repo_id, sha))[0] == 202
    server.wait_done(1)
    checked = subprocess.run(
        [sys.executable, "-m", "hubsnap", "lfs", "verify", f"{lfs_repo}@{repo_id}/main",
         "--key", str(FIXED_PUB)],
        env=serve_env.env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    assert "signatures verified" in checked.stdout


def test_the_lfs_repository_lock_is_exclusive(tmp_path: Path) -> None:
    from hubsnap.api.serve_lfs import repository_lock

    directory = tmp_path / "shared"
    most = most_holders_at_once(
        lambda _name: repository_lock(directory), "repo", threads=6, join_timeout=30
    )
    assert most == 1
    assert list(directory.iterdir()) == []  # the lock writes nothing into the repository


def test_lfs_repo_that_is_a_file_is_one_line_exit_2(tmp_path: Path) -> None:
    from hubsnap.api.serve_lfs import repository_lock
    from hubsnap.errors import UsageError

    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(UsageError, match="is not a directory"), repository_lock(target):
        pass
    assert target.read_text() == "x"


def test_a_restart_queues_again_what_failed_before_though_the_hub_did_not_change(
    serve: Callable[..., Served], registry: RegistryServer, hub: HubEmulator
) -> None:
    repo_id = new_repo(hub)
    sha = hub.publish_commit(repo_id, files("failed-then-restarted"))
    hub.add_fault(f"{repo_id}/resolve/", "403", count=100)  # exit 4: not retried
    first = _start(serve, registry.host)
    wait_for(lambda: bool(first.events("job.failed")), timeout=90, what="the job to fail")
    assert [state for _, _, state in first.jobs()] == ["failed"]
    assert first.stop() == 0
    hub.clear_faults()
    # Nothing changed on the Hub since the first server listed it: the restarted server's
    # first pass still polls the repository, finds the failed job's commit and mirrors it.
    second = _start(serve, registry.host)
    second.wait_done(1)
    assert [(commit, state) for _, commit, state in second.jobs()] == [(sha, "done")]
    assert len(model_manifests(registry, f"mirror/{repo_id}")) == 1
