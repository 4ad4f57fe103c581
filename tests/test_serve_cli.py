"""``hubsnap serve`` / ``worker`` start-up: what they refuse (one line, exit 2), and the
explicit way to run without a webhook secret."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest

from support.serve import Served, ServeEnv

pytestmark = [pytest.mark.registry]


def run(senv: ServeEnv, *args: str, drop: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in senv.env.items() if k not in drop}
    return subprocess.run(
        [sys.executable, "-m", "hubsnap", *args],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "drop", "message"),
    [
        ((), ("HUBSNAP_WEBHOOK_SECRET",), "HUBSNAP_WEBHOOK_SECRET is not set"),
        ((), ("HUBSNAP_KEY",), "no signing key"),
        (("--poll-interval", "soon"), (), "invalid duration"),
        (("--concurrency", "0"), (), "--concurrency must be at least 1"),
        (
            ("--queue", "redis://127.0.0.1:1/0", "--lfs-repo", "lfs"),
            (),
            "--lfs-repo is where jobs run",
        ),
    ],
)
def test_serve_refuses_to_start(
    serve_env: ServeEnv, args: tuple[str, ...], drop: tuple[str, ...], message: str
) -> None:
    result = run(
        serve_env, "serve", "--registry", "127.0.0.1:1/m", "--watch", "a/*", *args, drop=drop
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2  # the error and its hint
    assert not (serve_env.home / "serve").exists()


@pytest.mark.parametrize("command", ["serve", "worker"])
@pytest.mark.parametrize(
    ("kind", "message"),
    [("public", "not a PEM private key"), ("encrypted", "is encrypted and no password was given")],
)
def test_a_key_that_cannot_sign_is_refused_at_start(
    serve_env: ServeEnv, command: str, kind: str, message: str
) -> None:
    key = serve_env.root / "key.pem"
    args = ["keygen", "-o", str(key)]
    env = dict(serve_env.env)
    if kind == "encrypted":
        env["HUBSNAP_QA_PASSWORD"] = "correct horse"
        args += ["--password-env", "HUBSNAP_QA_PASSWORD"]
    made = subprocess.run(
        [sys.executable, "-m", "hubsnap", *args],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert made.returncode == 0
    serve_env.env["HUBSNAP_KEY"] = str(key.with_suffix(".pub") if kind == "public" else key)
    if command == "serve":
        result = run(serve_env, "serve", "--registry", "127.0.0.1:1/m", "--watch", "a/*")
    else:
        result = run(serve_env, "worker", "--queue", "redis://127.0.0.1:1/0")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and message in lines[0]
    assert len(lines) <= 2
    assert "Traceback" not in result.stderr
    assert not (serve_env.home / "serve").exists()


def test_worker_needs_a_key(serve_env: ServeEnv) -> None:
    result = run(serve_env, "worker", "--queue", "redis://127.0.0.1:1/0", drop=("HUBSNAP_KEY",))
    assert result.returncode == 2
    assert "no signing key" in result.stderr


def test_insecure_no_secret_accepts_unsigned_deliveries(
    serve: Callable[..., Served], serve_env: ServeEnv
) -> None:
    del serve_env.env["HUBSNAP_WEBHOOK_SECRET"]
    server = serve("--registry", "127.0.0.1:1/m", "--watch", "a/*", "--insecure-no-secret")
    body = (
        b'{"event": {"action": "update", "scope": "repo.content"},'
        b' "repo": {"type": "model", "name": "b/c"}}'
    )
    assert server.post(body, secret=None) == (200, {"ignored": "repository not watched"})
