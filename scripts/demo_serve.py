"""The demo's ``serve`` run: start ``hubsnap serve``, publish a commit in the Hub emulator
(which delivers the webhook), see the commit mirrored into the registry and verified."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = "hubsnap-demo/minilm-mirror"
SECRET = "demo-webhook-secret"  # noqa: S105 - the demo's throw-away webhook secret


def _control(endpoint: str, method: str, path: str, body: Any) -> Any:
    request = urllib.request.Request(
        f"{endpoint}/_emulator/{path}", data=json.dumps(body).encode(), method=method,
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


def _answers(url: str) -> bool:
    accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=accept), timeout=2):
            return True
    except (urllib.error.URLError, OSError):
        return False


def run(endpoint: str, host: str, key: Path, base: str, *, env: dict[str, str], out: Path) -> None:
    """Mirror one published commit of ``REPO`` to ``host/hub/…`` through ``hubsnap serve``."""
    port = _free_port()
    args = ["serve", "--registry", f"{host}/hub", "--watch", "hubsnap-demo/*",
            "--port", str(port), "--key", str(key), "--poll-interval", "1h"]  # fmt: skip
    print("$ hubsnap " + " ".join(shlex.quote(a) for a in args), flush=True)
    serve_env = {**env, "HUBSNAP_WEBHOOK_SECRET": SECRET}
    with (out / "serve.log").open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "hubsnap", *args], env=serve_env,
                                stdout=log, stderr=log)  # fmt: skip
    try:
        _until(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), 30, "hubsnap serve")
        _control(endpoint, "POST", "repos", {"repo_id": REPO})
        _control(endpoint, "POST", "webhooks",
                 {"url": f"http://127.0.0.1:{port}/webhook", "secret": SECRET})  # fmt: skip
        files = [{"path": p, "copy_from": {"repo_id": base, "path": p}}
                 for p in ("config.json", "model.safetensors", "README.md")]  # fmt: skip
        published = _control(endpoint, "POST", f"repos/{REPO}/commits/main", {"files": files})
        sha = published["commitOid"]
        print(f"published {REPO}@{sha[:12]}; webhook answered {published['webhooks']}")
        manifest = f"http://{host}/v2/hub/{REPO}/manifests/{sha}"
        _until(lambda: _answers(manifest), 120, "the mirrored commit")
        subprocess.run([sys.executable, "-m", "hubsnap", "verify", f"{host}/hub/{REPO}:{sha}",
                        "--key", str(key.with_suffix(".pub"))], env=env, check=True)  # fmt: skip
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            for line in response.read().decode().splitlines():
                if line.startswith(("hubsnap_jobs_total", "hubsnap_webhook_deliveries_total")):
                    print(line)
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
