"""Pulls and pushes that must fail safely: exact exit code, one line, nothing left behind."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hubsnap.api.session import TransportOptions
from hubsnap.api.transfer import pull
from hubsnap.config import Settings
from hubsnap.digest import Digest, sha256_bytes
from hubsnap.errors import RemoteError
from hubsnap.models import (
    ANNOTATION_FILEPATH,
    ARTIFACT_TYPE_MODEL,
    MEDIA_TYPE_MODEL_CONFIG,
    MEDIA_TYPE_MODEL_WEIGHT,
    Descriptor,
    Manifest,
)
from hubsnap.oci.layout import LayoutStore
from hubsnap.retry import RetryPolicy
from support.registry import (
    CuttingTransport,
    RegistryServer,
    build_model,
    push_model,
    run_cli,
    session_for,
)

pytestmark = pytest.mark.registry

FILE_COUNT = 2


def _files() -> dict[str, bytes]:
    """Fresh random weights per test: tests that tamper with the registry's copy of a blob
    must not share it with other tests on the same registry."""
    return {"config.json": os.urandom(8).hex().encode(), "model.safetensors": os.urandom(2 << 20)}


def _no_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RetryPolicy, "delay", lambda self, attempt, retry_after=None: 0.0)


def _assert_store_clean(home: Path, *absent: str) -> None:
    store = LayoutStore(home / "store")
    assert list((home / "store" / "ingest").glob("*")) == []
    for digest in absent:
        assert not store.has_blob(Digest.parse(digest))


def _push(
    registry: RegistryServer, repo: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[str, bytes]:
    files = _files()
    digest = push_model(f"{registry.host}/{repo}", files, tmp_path, capsys)
    return digest, files["model.safetensors"]


def _flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.chmod(0o644)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("tampered", ["blob", "manifest"])
def test_bytes_not_matching_their_digest_exit_6_and_keep_nothing(
    *,
    registry: RegistryServer,
    repo_name: str,
    transfer_env: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    tampered: str,
) -> None:
    digest, weights_bytes = _push(registry, repo_name, tmp_path, capsys)
    weights = str(sha256_bytes(weights_bytes))
    if tampered == "blob":
        _flip_byte(registry.blob_data(weights), 1000)
        expected = f"error: blob digest mismatch: expected {weights}"
    else:
        _flip_byte(registry.blob_data(digest), 40)
        expected = f"error: manifest digest mismatch: asked for {digest}, got sha256:"

    out_dir = tmp_path / "out"
    run = run_cli(["pull", f"{registry.host}/{repo_name}@{digest}", "-o", str(out_dir)], capsys)
    assert run.code == 6
    assert run.err.splitlines()[0].startswith(expected)
    assert not out_dir.exists()
    _assert_store_clean(transfer_env, weights, digest)


def _settings(home: Path) -> Settings:
    return Settings.from_env({"HUBSNAP_HOME": str(home), "DOCKER_CONFIG": str(home / "docker")})


def test_dropped_connection_resumes_with_range(
    registry: RegistryServer, repo_name: str, transfer_env: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    digest, weights_bytes = _push(registry, repo_name, tmp_path, capsys)
    cutter = CuttingTransport(limit=300_000, times=1)
    options = TransportOptions(retry=RetryPolicy(sleep=lambda _: None), transport=cutter)
    result = pull(
        session_for(_settings(tmp_path / "home"), options),
        f"{registry.host}/{repo_name}@{digest}",
        output=tmp_path / "out",
    )
    assert (tmp_path / "out" / "model.safetensors").read_bytes() == weights_bytes
    assert result.blobs_fetched == FILE_COUNT + 1
    assert cutter.ranges.count(None) == FILE_COUNT + 1  # each blob requested whole once...
    assert "bytes=300000-" in cutter.ranges  # ...and the cut one resumed


def test_connection_dropping_every_time_exits_5_and_keeps_nothing(
    registry: RegistryServer, repo_name: str, transfer_env: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    digest, weights_bytes = _push(registry, repo_name, tmp_path, capsys)
    cutter = CuttingTransport(limit=100_000, times=1000)
    options = TransportOptions(
        retry=RetryPolicy(attempts=3, sleep=lambda _: None), transport=cutter
    )
    home = tmp_path / "home"
    with pytest.raises(RemoteError) as info:
        pull(
            session_for(_settings(home), options),
            f"{registry.host}/{repo_name}@{digest}",
            output=tmp_path / "out",
        )
    assert info.value.exit_code == 5
    assert "connection dropped after" in info.value.message
    assert not (tmp_path / "out").exists()
    _assert_store_clean(home, str(sha256_bytes(weights_bytes)))


def test_registry_down_exits_5(
    transfer_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    import socket

    _no_wait(monkeypatch)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    digest = "sha256:" + "a" * 64
    run = run_cli(["pull", f"127.0.0.1:{port}/m/x@{digest}", "-o", str(tmp_path / "out")], capsys)
    assert run.code == 5
    assert run.err.splitlines()[0] == f"error: cannot reach 127.0.0.1:{port}: ConnectError"
    assert not (tmp_path / "out").exists()
    _assert_store_clean(transfer_env, digest)


def test_wrong_stored_credentials_exit_4(
    auth_registry: RegistryServer, repo_name: str, transfer_env: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    import base64

    config = Path(os.environ["DOCKER_CONFIG"])
    config.mkdir(parents=True)
    auth = base64.b64encode(b"tester:not-the-password").decode()
    (config / "config.json").write_text(json.dumps({"auths": {auth_registry.host: {"auth": auth}}}))
    digest = build_model(tmp_path / "src", _files())
    run = run_cli(
        ["push", f"oci:{tmp_path / 'src'}@{digest}", f"{auth_registry.host}/{repo_name}"], capsys
    )
    assert run.code == 4
    assert run.err.splitlines()[0] == f"error: {auth_registry.host} refused the credentials"
    assert "not-the-password" not in run.err
    assert not (auth_registry.root / "docker/registry/v2/repositories" / repo_name).exists()


def _push_hostile(registry: RegistryServer, repo: str, path: str, tmp_path: Path) -> str:
    """Push a model manifest whose one layer claims the file path ``path``."""
    settings = _settings(tmp_path / "pusher")
    target = session_for(settings).open(f"{registry.host}/{repo}")
    payload = b"planted\n"
    config = b"{}"
    layer = Descriptor(
        MEDIA_TYPE_MODEL_WEIGHT, target.put_blob_bytes(payload), len(payload),
        {ANNOTATION_FILEPATH: path},
    )  # fmt: skip
    manifest = Manifest(
        config=Descriptor(MEDIA_TYPE_MODEL_CONFIG, target.put_blob_bytes(config), len(config)),
        layers=(layer,),
        artifact_type=ARTIFACT_TYPE_MODEL,
    )
    digest = target.put_manifest(manifest.to_bytes())
    target.close()
    return str(digest)


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("../escape.txt", "has an empty, '.' or '..' component"),
        ("/tmp/escape.txt", "is absolute"),
        ("a\\..\\escape.txt", "contains a backslash"),
        ("C:escape.txt", "is absolute"),
    ],
)
def test_hostile_layer_path_is_refused_before_any_write(
    *,
    registry: RegistryServer, repo_name: str, transfer_env: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], path: str, problem: str,
) -> None:  # fmt: skip
    digest = _push_hostile(registry, repo_name, path, tmp_path)
    out_dir = tmp_path / "box" / "out"
    run = run_cli(["pull", f"{registry.host}/{repo_name}@{digest}", "-o", str(out_dir)], capsys)
    assert run.code == 6
    assert run.err.splitlines()[0] == f"error: refusing layer path {path!r}: it {problem}"
    assert not out_dir.exists()
    assert sorted(p.name for p in (tmp_path / "box").glob("*")) == []
    assert not Path("/tmp/escape.txt").exists()
    _assert_store_clean(transfer_env, str(sha256_bytes(b"planted\n")))


def test_symlink_planted_in_destination_is_refused(
    registry: RegistryServer, repo_name: str, transfer_env: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    digest = _push_hostile(registry, repo_name, "sub/model.bin", tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "sub").symlink_to(outside)

    run = run_cli(["pull", f"{registry.host}/{repo_name}@{digest}", "-o", str(out_dir)], capsys)
    assert run.code == 6
    assert run.err.splitlines()[0] == f"error: refusing to write through symlink {out_dir / 'sub'}"
    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in out_dir.iterdir()) == ["sub"]


def test_symlinked_file_in_destination_is_not_followed(
    registry: RegistryServer, repo_name: str, transfer_env: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    digest = _push_hostile(registry, repo_name, "model.bin", tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"keep me\n")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "model.bin").symlink_to(victim)

    run = run_cli(["pull", f"{registry.host}/{repo_name}@{digest}", "-o", str(out_dir)], capsys)
    assert run.code == 6
    assert victim.read_bytes() == b"keep me\n"
    assert (out_dir / "model.bin").is_symlink()


def test_timeout_option_bounds_a_registry_that_never_answers(
    transfer_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    import socket

    _no_wait(monkeypatch)
    with socket.socket() as sock:  # accepts connections (the backlog) but never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        port = sock.getsockname()[1]
        digest = "sha256:" + "a" * 64
        run = run_cli(
            ["pull", f"127.0.0.1:{port}/m/x@{digest}", "-o", str(tmp_path / "out"),
             "--timeout", "200ms"],
            capsys,
        )  # fmt: skip
    assert run.code == 5
    assert run.err.splitlines()[0] == f"error: cannot reach 127.0.0.1:{port}: ReadTimeout"
    assert not (tmp_path / "out").exists()
