"""``hubsnap serve`` end to end: the Hub emulator publishes and delivers, the real registry
receives, and ``verify`` checks what the server signed."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from support.hub import HubEmulator
from support.keys import FIXED_PUB
from support.registry import RegistryServer
from support.serve import SECRET, Served, ServeEnv, wait_for

pytestmark = [pytest.mark.registry]

OWNER = "serve-fixtures"


def new_repo(hub: HubEmulator) -> str:
    repo_id = f"{OWNER}/tiny-{uuid.uuid4().hex[:8]}"
    hub.create_repo(repo_id)
    return repo_id


def _weights(tag: str) -> bytes:
    import numpy as np
    from safetensors.numpy import save

    seed = int.from_bytes(tag.encode()[:4].ljust(4, b"."), "big")
    return save({"w": np.random.default_rng(seed).standard_normal(256).astype(np.float32)})


def files(tag: str) -> dict[str, bytes | str]:
    return {
        "config.json": json.dumps({"model_type": "bert", "note": tag}),
        "model.safetensors": _weights(tag),
        "README.md": f"---\nlicense: apache-2.0\n---\n# {tag}\n",
    }


def payload(repo_id: str, sha: str | None, *, scope: str = "repo.content",
            ref: str = "refs/heads/main", kind: str = "model") -> bytes:  # fmt: skip
    data: dict[str, Any] = {
        "event": {"action": "update", "scope": scope},
        "repo": {
            "type": kind, "name": repo_id, "id": "6565656565656565656565aa",
            "private": False, "headSha": sha, "url": {"web": f"https://hf.co/{repo_id}"},
        },
        "updatedRefs": [{"ref": ref, "oldSha": None, "newSha": sha}],
        "webhook": {"id": "6565656565656565656565ee", "version": 3},
    }  # fmt: skip
    return json.dumps(data).encode()


def registry_json(registry: RegistryServer, path: str) -> tuple[dict[str, Any], str]:
    import urllib.request

    request = urllib.request.Request(
        f"{registry.url}/v2/{path}",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read()), response.headers.get("Docker-Content-Digest", "")


def repository_exists(registry: RegistryServer, repository: str) -> bool:
    """Whether the registry holds anything (an upload, a blob link, a manifest) for it."""
    return (registry.root / "docker/registry/v2/repositories" / repository).exists()


def model_manifests(registry: RegistryServer, repository: str) -> list[str]:
    """Digests of the model manifests (not signatures, indexes) stored in ``repository``,
    read from the registry's storage: every manifest ever put, tagged or not."""
    from hubsnap.models import MEDIA_TYPE_MODEL_CONFIG

    revisions = registry.root / "docker/registry/v2/repositories" / repository
    found = []
    for link in (revisions / "_manifests/revisions/sha256").glob("*/link"):
        digest = link.read_text().strip()
        data = json.loads(registry.blob_data(digest).read_bytes())
        if data.get("config", {}).get("mediaType") == MEDIA_TYPE_MODEL_CONFIG:
            found.append(digest)
    return found


def verify(senv: ServeEnv, reference: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hubsnap", "verify", reference, "--key", str(FIXED_PUB)],
        env=senv.env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def signature_count(registry: RegistryServer, repository: str, digest: str) -> int:
    from hubsnap.digest import Digest
    from hubsnap.oci.client import RegistryClient
    from hubsnap.oci.registry import RegistryRepository
    from hubsnap.signing.attach import scan_signature_referrers

    repo = RegistryRepository(RegistryClient(registry.host, plain_http=True), repository)
    try:
        scan = scan_signature_referrers(repo, Digest.parse(digest))
    finally:
        repo.close()
    return len(scan.referrers)


@pytest.fixture
def mirror(serve: Callable[..., Served], registry: RegistryServer) -> Callable[..., Served]:
    def start(*extra: str) -> Served:
        return serve("--registry", f"{registry.host}/mirror", "--watch", f"{OWNER}/*", *extra)

    return start


def test_published_commit_is_mirrored_signed_and_counted(
    mirror: Callable[..., Served], registry: RegistryServer, serve_env: ServeEnv, hub: HubEmulator
) -> None:
    server = mirror("--poll-interval", "1h")
    server.wait_reconciled()
    repo_id = new_repo(hub)
    hub.add_webhook(server.url + "/webhook", SECRET)
    sha = hub.publish_commit(repo_id, files("one"))

    server.wait_done(1)
    dest = f"mirror/{repo_id}"
    manifest, digest = registry_json(registry, f"{dest}/manifests/{sha}")
    assert manifest["annotations"]["org.opencontainers.image.revision"] == sha
    _, main_digest = registry_json(registry, f"{dest}/manifests/main")
    assert main_digest == digest
    checked = verify(serve_env, f"{registry.host}/{dest}@{digest}")
    assert checked.returncode == 0, checked.stderr
    assert [commit for _, commit, state in server.jobs() if state == "done"] == [sha]
    metrics = server.metrics()
    assert metrics['hubsnap_webhook_deliveries_total{result="accepted"}'] == 1
    assert metrics['hubsnap_jobs_total{result="ok",stage="sign"}'] == 1
    assert metrics['hubsnap_transfer_bytes_total{direction="sent"}'] > 0
    assert metrics['hubsnap_transfer_bytes_total{direction="received"}'] > 0
    assert metrics["hubsnap_queue_depth"] == 0
    assert 'hubsnap_build_info{version="' in "".join(metrics)
    assert SECRET not in server.log()
    assert server.stop() == 0


def _raw_post(server: Served, headers: str, chunks: list[bytes]) -> int:
    """POST with a raw socket: the server may answer (and close) before the body is sent."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        head = f"POST /webhook HTTP/1.1\r\nHost: x\r\nX-Webhook-Secret: {SECRET}\r\n{headers}\r\n"
        sock.sendall(head.encode())
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for chunk in chunks:
                sock.sendall(chunk)
        status_line = sock.recv(64).split(b"\r\n", 1)[0]
    return int(status_line.split()[1])


def _chunked(data: bytes, size: int) -> list[bytes]:
    parts = [data[i : i + size] for i in range(0, len(data), size)]
    return [b"%x\r\n%s\r\n" % (len(p), p) for p in parts] + [b"0\r\n\r\n"]


def _oversized(server: Served) -> list[int]:
    big = b"{" + b" " * (2**20)
    return [
        # declared too large: refused before a byte is read
        _raw_post(server, f"Content-Length: {len(big)}\r\n", [big]),
        # declared 100 MiB, sent slowly: the answer comes at once, not after the body
        _raw_post(server, f"Content-Length: {100 * 2**20}\r\n", [b'{"event":']),
        # no length declared: the cap applies while the chunks arrive
        _raw_post(server, "Transfer-Encoding: chunked\r\n", _chunked(big, 64 * 1024)),
    ]


def test_refused_and_ignored_deliveries_queue_nothing(
    mirror: Callable[..., Served], hub: HubEmulator
) -> None:
    server = mirror("--poll-interval", "1h")
    server.wait_reconciled()
    repo_id = new_repo(hub)
    head = hub.repo_state(repo_id)["branches"]["main"]
    good = payload(repo_id, head)
    cases = [
        (server.post(good, secret="wrong"), 401, {"error": "unauthorized"}),
        (server.post(good, secret=None), 401, {"error": "unauthorized"}),
        (server.post(good, secret=SECRET + "x"), 401, {"error": "unauthorized"}),
        (server.post(b"{not json"), 400, {"error": "malformed payload"}),
        (server.post(b'{"event": 1}'), 400, {"error": "malformed payload"}),
        (server.post(b"\xff\xfe"), 400, {"error": "malformed payload"}),
        (server.post(payload(repo_id, head, scope="repo.future")), 200,
         {"ignored": "unknown scope"}),
        (server.post(payload(repo_id, head, scope="discussion")), 200,
         {"ignored": "discussion event"}),
        (server.post(payload(repo_id, head, scope="discussion.comment")), 200,
         {"ignored": "discussion event"}),
        (server.post(payload(repo_id, head, kind="dataset")), 200,
         {"ignored": "not a model repository"}),
        (server.post(payload("elsewhere/model", head)), 200,
         {"ignored": "repository not watched"}),
        (server.post(payload(repo_id, None)), 200, {"ignored": "no branch or tag updated"}),
        (server.post(payload(repo_id, head, ref="refs/heads/gone")), 200,
         {"ignored": "ref not found on the Hub"}),
    ]  # fmt: skip
    for (status, body), want_status, want_body in cases:
        assert (status, body) == (want_status, want_body)
    assert _oversized(server) == [413, 413, 413]
    assert server.jobs() == []
    metrics = server.metrics()
    assert metrics['hubsnap_webhook_deliveries_total{result="unauthorized"}'] == 3
    assert metrics['hubsnap_webhook_deliveries_total{result="too_large"}'] == 3
    assert metrics['hubsnap_webhook_deliveries_total{result="malformed"}'] == 3
    assert "wrong" not in server.log()


def test_forged_and_stale_shas_mirror_the_current_head_only(
    mirror: Callable[..., Served], hub: HubEmulator
) -> None:
    from hubsnap.serve.jobs import JobSpec

    server = mirror("--poll-interval", "1h")
    server.wait_reconciled()
    repo_id = new_repo(hub)
    old = hub.publish_commit(repo_id, files("old"))
    head = hub.publish_commit(repo_id, files("new"))
    want = JobSpec(repo_id, head).id
    for sha in ("f" * 40, old):
        status, body = server.post(payload(repo_id, sha))
        assert status == 202
        assert body["jobs"] == [want]
    assert [commit for _, commit, _ in server.jobs()] == [head]
    # ?secret= is accepted as the Hub sends it too
    status, body = server.post(payload(repo_id, old), secret=None, query=f"?secret={SECRET}")
    assert (status, body) == (202, {"jobs": [want], "duplicate": True})
    server.wait_done(1)


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_1000_duplicate_deliveries_on_8_connections_are_one_job_one_signature(
    mirror: Callable[..., Served], registry: RegistryServer, hub: HubEmulator
) -> None:
    server = mirror("--poll-interval", "1h", "--concurrency", "4")
    server.wait_reconciled()
    repo_id = new_repo(hub)
    sha = hub.publish_commit(repo_id, files("dup"))
    body = payload(repo_id, sha)
    assert server.proc is not None
    before = _rss_kib(server.proc.pid)
    answers: list[tuple[int, dict[str, Any]]] = []
    lock = threading.Lock()

    def deliver() -> None:
        for _ in range(125):
            answer = server.post(body)
            with lock:
                answers.append(answer)

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(answers) == 1000
    assert {status for status, _ in answers} == {202}
    assert len({tuple(body["jobs"]) for _, body in answers}) == 1
    assert [body["duplicate"] for _, body in answers].count(False) == 1
    assert _rss_kib(server.proc.pid) - before < 64 * 1024  # bounded: no per-delivery state
    server.wait_done(1)
    assert len(server.jobs()) == 1
    dest = f"mirror/{repo_id}"
    _, digest = registry_json(registry, f"{dest}/manifests/{sha}")
    assert signature_count(registry, dest, digest) == 2  # one OMS signature, one provenance
    manifests = {registry_json(registry, f"{dest}/manifests/{t}")[1] for t in (sha, "main")}
    assert manifests == {digest}


def test_a_dropped_webhook_is_mirrored_by_the_reconciler(
    mirror: Callable[..., Served], registry: RegistryServer, hub: HubEmulator
) -> None:
    # a watched id the Hub does not know fails alone: the other repositories are mirrored
    server = mirror("--poll-interval", "2s", "--watch", f"{OWNER}/not-on-the-hub")
    server.wait_reconciled()
    repo_id = new_repo(hub)
    sha = hub.publish_commit(repo_id, files("dropped"))  # no webhook registered
    server.wait_done(1, timeout=60)
    _, digest = registry_json(registry, f"mirror/{repo_id}/manifests/{sha}")
    _, main = registry_json(registry, f"mirror/{repo_id}/manifests/main")
    assert digest == main
    assert server.events("reconcile.repository_failed")[0]["repo"] == f"{OWNER}/not-on-the-hub"


def test_kill_9_mid_job_then_restart_completes_it(
    mirror: Callable[..., Served], registry: RegistryServer, hub: HubEmulator
) -> None:
    import signal

    server = mirror("--poll-interval", "1h")
    server.wait_reconciled()
    repo_id = new_repo(hub)
    sha = hub.publish_commit(repo_id, files("crash"))
    hub.add_fault(r"/resolve/", kind="delay", delay=20, count=5)
    assert server.post(payload(repo_id, sha))[0] == 202
    wait_for(lambda: server.events("job.started"), timeout=30, what="the job to start")
    assert server.stop(signal.SIGKILL) == -signal.SIGKILL
    assert [state for _, _, state in server.jobs()] == ["running"]
    hub.clear_faults()
    again = mirror("--poll-interval", "1h")
    again.wait_done(1)
    assert [state for _, _, state in again.jobs()] == ["done"]
    registry_json(registry, f"mirror/{repo_id}/manifests/{sha}")


def test_two_hub_ids_with_one_oci_name_are_refused_not_merged(
    mirror: Callable[..., Served], hub: HubEmulator
) -> None:
    server = mirror("--poll-interval", "1h")
    server.wait_reconciled()
    name = f"{OWNER}/Twin-{uuid.uuid4().hex[:8]}"
    hub.create_repo(name)
    hub.create_repo(name.lower())
    first = hub.publish_commit(name, files("upper"))
    second = hub.publish_commit(name.lower(), files("lower"))
    assert server.post(payload(name, first))[0] == 202
    assert server.post(payload(name.lower(), second)) == (409, {"error": "name collision"})
    assert [commit for _, commit, _ in server.jobs()] == [first]
    server.wait_done(1)
