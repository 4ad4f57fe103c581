"""push → pull round trips through the CLI against a real registry, with and without auth."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import pytest
import yaml

from support.hub import BASE
from support.registry import (
    RegistryServer,
    build_model,
    fake_credential_helper,
    push_model,
    run_cli,
)
from support.schemas import validated

pytestmark = pytest.mark.registry

FILES = {
    "config.json": b'{"hidden_size": 8}\n',
    "model.safetensors": os.urandom(3 * 1024 * 1024 + 17),
    "README.md": b"# tiny\n",
    "sub/tokenizer.json": b'{"vocab": {}}\n',
}


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_round_trip_by_digest_is_byte_identical(
    registry: RegistryServer,
    repo_name: str,
    transfer_env: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    digest = build_model(tmp_path / "src", FILES)
    dest = f"{registry.host}/{repo_name}:v1"

    first = run_cli(["push", f"oci:{tmp_path / 'src'}@{digest}", dest], capsys)
    assert first.code == 0, first.err
    assert first.out == f"{registry.host}/{repo_name}@{digest}\n"

    again = run_cli(["push", f"oci:{tmp_path / 'src'}@{digest}", dest, "--json"], capsys)
    assert again.code == 0
    report = json.loads(again.out)
    assert report["digest"] == digest
    assert report["blobs_sent"] == 0  # everything was already there

    out_dir = tmp_path / "out"
    pulled = run_cli(["pull", f"{registry.host}/{repo_name}@{digest}", "-o", str(out_dir)], capsys)
    assert pulled.code == 0, pulled.err
    assert pulled.out == f"{registry.host}/{repo_name}@{digest}\n"
    assert _tree(out_dir) == FILES


def test_pull_by_tag_needs_allow_tag(
    registry: RegistryServer,
    repo_name: str,
    transfer_env: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    digest = push_model(f"{registry.host}/{repo_name}:v2", FILES, tmp_path, capsys)
    out_dir = tmp_path / "out"

    refused = run_cli(["pull", f"{registry.host}/{repo_name}:v2", "-o", str(out_dir)], capsys)
    assert refused.code == 2
    assert refused.err.splitlines()[0] == f"error: {registry.host}/{repo_name}:v2 names no digest"
    assert not out_dir.exists()
    assert not (transfer_env / "store").exists()

    allowed = run_cli(
        ["pull", f"{registry.host}/{repo_name}:v2", "--allow-tag", "-o", str(out_dir)], capsys
    )
    assert allowed.code == 0, allowed.err
    assert f"resolved tag v2 to {digest}" in allowed.err
    assert allowed.out == f"{registry.host}/{repo_name}@{digest}\n"
    assert _tree(out_dir) == FILES


def test_pull_without_output_fills_the_store_once(
    registry: RegistryServer,
    repo_name: str,
    transfer_env: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    digest = push_model(f"{registry.host}/{repo_name}", FILES, tmp_path, capsys)
    ref = f"{registry.host}/{repo_name}@{digest}"

    first = run_cli(["pull", ref, "--json"], capsys)
    assert first.code == 0, first.err
    report = json.loads(first.out)
    assert report["directory"] is None
    assert report["blobs_fetched"] == len(FILES) + 1  # the layers and the config

    # Writing the files out later fetches nothing: the store already has every blob.
    second = run_cli(["pull", ref, "-o", str(tmp_path / "out"), "--json"], capsys)
    assert second.code == 0, second.err
    assert json.loads(second.out)["bytes_fetched"] == 0
    assert _tree(tmp_path / "out") == FILES

    # ...and the stored artifact can be pushed on without the source registry.
    local = run_cli(["push", digest, f"{registry.host}/{repo_name}-copy:v1"], capsys)
    assert local.code == 0, local.err
    assert local.out == f"{registry.host}/{repo_name}-copy@{digest}\n"


def test_dry_run_pushes_nothing(
    registry: RegistryServer,
    repo_name: str,
    transfer_env: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    digest = build_model(tmp_path / "src", FILES)
    dest = f"{registry.host}/{repo_name}:v1"
    run = run_cli(["push", f"oci:{tmp_path / 'src'}@{digest}", dest, "--dry-run", "--json"], capsys)
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert report["dry_run"] is True
    assert report["blobs_sent"] == len(FILES) + 1
    missing = run_cli(["inspect", dest], capsys)
    assert missing.code == 3
    assert missing.err.startswith(f"error: manifest {registry.host}/{repo_name}:v1: not found")
    by_digest = run_cli(["inspect", f"{registry.host}/{repo_name}@{digest}"], capsys)
    assert by_digest.code == 3
    expected = f"error: manifest {registry.host}/{repo_name}@{digest}: not found"
    assert by_digest.err.startswith(expected)


def test_inspect_shows_manifest_layers_and_annotations(
    registry: RegistryServer,
    repo_name: str,
    transfer_env: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dest = f"{registry.host}/{repo_name}:v1"
    digest = push_model(dest, FILES, tmp_path, capsys)

    text = run_cli(["inspect", dest], capsys)
    assert text.code == 0, text.err
    lines = text.out.splitlines()
    assert lines[0] == f"{registry.host}/{repo_name}@{digest}"
    assert "artifactType: application/vnd.cncf.model.manifest.v1+json" in lines
    assert "  org.opencontainers.image.revision: " + "0" * 40 in lines
    assert any(line.startswith("model.safetensors ") for line in lines)
    assert lines[-1] == "referrers: none"

    as_json = json.loads(
        run_cli(["inspect", f"{registry.host}/{repo_name}@{digest}", "--json"], capsys).out
    )
    assert as_json["digest"] == digest
    assert [
        layer["annotations"]["org.cncf.model.filepath"] for layer in as_json["manifest"]["layers"]
    ] == sorted(FILES)
    assert as_json["referrers"] == []


# -- with authentication ------------------------------------------------------------------------


def test_login_then_push_and_pull_with_htpasswd_auth(
    auth_registry: RegistryServer,
    repo_name: str,
    transfer_env: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert auth_registry.username and auth_registry.password
    digest = build_model(tmp_path / "src", FILES)
    dest = f"{auth_registry.host}/{repo_name}:v1"

    anonymous = run_cli(["push", f"oci:{tmp_path / 'src'}@{digest}", dest], capsys)
    assert anonymous.code == 4
    assert anonymous.err.splitlines()[0] == f"error: {auth_registry.host} requires authentication"

    login = run_cli(
        ["login", auth_registry.host, "-u", auth_registry.username, "--password-stdin"],
        capsys,
        stdin=auth_registry.password + "\n",
    )
    assert login.code == 0, login.err
    config = Path(os.environ["DOCKER_CONFIG"]) / "config.json"
    assert config.stat().st_mode & 0o777 == 0o600
    assert auth_registry.password not in login.out + login.err
    assert auth_registry.host in json.loads(config.read_text())["auths"]

    pushed = run_cli(["push", f"oci:{tmp_path / 'src'}@{digest}", dest], capsys)
    assert pushed.code == 0, pushed.err
    out_dir = tmp_path / "out"
    pulled = run_cli(
        ["pull", f"{auth_registry.host}/{repo_name}@{digest}", "-o", str(out_dir)], capsys
    )
    assert pulled.code == 0, pulled.err
    assert _tree(out_dir) == FILES


@pytest.mark.parametrize("debug", ["0", "1"])
def test_wrong_password_exits_4_and_is_never_printed(
    auth_registry: RegistryServer,
    transfer_env: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    debug: str,
) -> None:
    monkeypatch.setenv("HUBSNAP_DEBUG", debug)
    secret = "Wr0ng-Secret-" + "x" * 12
    run = run_cli(
        ["login", auth_registry.host, "-u", "tester", "--password-stdin"],
        capsys,
        stdin=secret + "\n",
    )
    assert run.code == 4
    assert f"error: {auth_registry.host} refused the credentials" in run.err.splitlines()
    assert secret not in run.out + run.err
    # Neither the password nor its base64 form in any traceback.
    assert base64.b64encode(f"tester:{secret}".encode()).decode() not in run.err
    assert not (Path(os.environ["DOCKER_CONFIG"]) / "config.json").exists()


@pytest.mark.hub
def test_snapshot_push_pull_round_trip(
    *,
    hf_env: object,
    registry: RegistryServer,
    repo_name: str,
    transfer_env: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    snap = run_cli(
        ["snapshot", BASE, "--include", "*.json", "--include", "*.txt", "-o", "snapshot.yaml"],
        capsys,
    )
    assert snap.code == 0, snap.err
    reference = snap.out.strip()
    digest = reference.rsplit("@", 1)[1]
    dest = f"{registry.host}/{repo_name}"

    from_document = run_cli(["push", "snapshot.yaml", dest], capsys)
    assert from_document.code == 0, from_document.err
    from_store = run_cli(["push", reference, dest], capsys)
    assert from_store.code == 0, from_store.err
    assert from_document.out == from_store.out == f"{dest}@{digest}\n"

    # A fresh store: the pull really goes over the wire.
    monkeypatch.setenv("HUBSNAP_HOME", str(tmp_path / "elsewhere"))
    pulled = run_cli(["pull", f"{dest}@{digest}", "-o", str(tmp_path / "out")], capsys)
    assert pulled.code == 0, pulled.err
    document = yaml.safe_load(Path("snapshot.yaml").read_text())
    kept = {f["path"]: f["sha256"] for f in document["files"] if f["downloaded"]}
    got = {path: hashlib.sha256(data).hexdigest() for path, data in _tree(tmp_path / "out").items()}
    assert got == kept


def test_progress_bar_on_a_terminal_only(
    *,
    registry: RegistryServer,
    repo_name: str,
    transfer_env: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    digest = build_model(tmp_path / "src", FILES)
    source = f"oci:{tmp_path / 'src'}@{digest}"
    bar = f"{digest.split(':')[1][:12]} → {registry.host}/{repo_name}"

    piped = run_cli(["push", source, f"{registry.host}/{repo_name}:a"], capsys)
    assert piped.code == 0, piped.err
    assert bar not in piped.err
    assert "\x1b[" not in piped.err

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    monkeypatch.setenv("TERM", "xterm")
    shown = run_cli(["push", source, f"{registry.host}/{repo_name}-tty:a"], capsys)
    assert shown.code == 0, shown.err
    assert bar + "-tty" in shown.err
    assert shown.out == f"{registry.host}/{repo_name}-tty@{digest}\n"


def test_login_into_a_credential_helper_then_push_and_pull(
    *,
    auth_registry: RegistryServer,
    repo_name: str,
    transfer_env: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert auth_registry.username and auth_registry.password
    fake_credential_helper(tmp_path / "bin", tmp_path / "helper.json", monkeypatch)
    config = Path(os.environ["DOCKER_CONFIG"])
    config.mkdir()
    (config / "config.json").write_text(json.dumps({"credsStore": "test"}))

    login = run_cli(
        ["login", auth_registry.host, "-u", auth_registry.username, "--password-stdin", "--json"],
        capsys,
        stdin=auth_registry.password + "\n",
    )
    assert login.code == 0, login.err
    assert validated(login.out, "login") == {
        "schema": "hubsnap.dev/login/v1",
        "registry": auth_registry.host,
        "stored_in": "docker-credential-test",
    }
    assert auth_registry.password not in login.out + login.err
    assert json.loads((config / "config.json").read_text()) == {"credsStore": "test"}

    digest = push_model(f"{auth_registry.host}/{repo_name}", FILES, tmp_path, capsys)
    out_dir = tmp_path / "out"
    pulled = run_cli(
        ["pull", f"{auth_registry.host}/{repo_name}@{digest}", "-o", str(out_dir)], capsys
    )
    assert pulled.code == 0, pulled.err
    assert _tree(out_dir) == FILES


def test_copied_files_land_in_temp_files_beside_their_destination_and_are_fsynced(
    *,
    registry: RegistryServer,
    repo_name: str,
    transfer_env: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tempfile

    digest = push_model(f"{registry.host}/{repo_name}", FILES, tmp_path, capsys)
    temp_dirs: list[Path] = []
    synced: list[int] = []
    real_mkstemp, real_fsync = tempfile.mkstemp, os.fsync

    def mkstemp(
        suffix: str | None = None,
        prefix: str | None = None,
        dir: str | Path | None = None,
        text: bool = False,
    ) -> tuple[int, str]:
        fd, name = real_mkstemp(suffix, prefix, dir, text)
        temp_dirs.append(Path(name).parent)
        return fd, name

    def fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(os, "fsync", fsync)
    out_dir = tmp_path / "out"
    ref = f"{registry.host}/{repo_name}@{digest}"
    pulled = run_cli(["pull", ref, "-o", str(out_dir), "--copy"], capsys)
    assert pulled.code == 0, pulled.err
    # Each file is streamed from the registry into a temp file beside its final name, once:
    # a pull into a directory leaves the store alone (it is not even created).
    assert set(temp_dirs) == {out_dir, out_dir / "sub"}
    assert len(temp_dirs) == len(FILES)
    assert len(synced) >= len(FILES)
    assert not (transfer_env / "store").exists()
    assert _tree(out_dir) == FILES
    for path in FILES:
        assert (out_dir / path).stat().st_nlink == 1  # an independent copy


def test_pulled_files_are_read_only_links_to_verified_store_blobs(
    registry: RegistryServer,
    repo_name: str,
    transfer_env: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from hubsnap.digest import Digest
    from hubsnap.oci.layout import LayoutStore

    digest = push_model(f"{registry.host}/{repo_name}", FILES, tmp_path, capsys)
    ref = f"{registry.host}/{repo_name}@{digest}"
    out_dir = tmp_path / "out"
    pulled = run_cli(["pull", ref, "-o", str(out_dir), "--link", "--json"], capsys)
    assert pulled.code == 0, pulled.err
    assert _tree(out_dir) == FILES
    store = LayoutStore(transfer_env / "store")
    for entry in json.loads(pulled.out)["files"]:
        file = out_dir / entry["path"]
        blob = store.blob_path(Digest.parse(entry["digest"]))
        assert file.stat().st_ino == blob.stat().st_ino  # written to disk once
        assert file.stat().st_mode & 0o777 == 0o444
    assert not [p for p in out_dir.rglob(".*") if p.is_file()]  # no temp file left

    # A blob changed in the store behind hubsnap's back is caught before it is linked again.
    (name, data), *_ = FILES.items()
    blob = store.blob_path(Digest.parse(_file_digest(pulled.out, name)))
    blob.chmod(0o644)
    blob.write_bytes(b"X" * len(data))
    again = run_cli(["pull", ref, "-o", str(tmp_path / "again"), "--link"], capsys)
    assert again.code == 6
    assert again.err.splitlines()[-1].startswith(f"error: {name}: digest mismatch")
    assert not (tmp_path / "again" / name).exists()


def _file_digest(pull_json: str, path: str) -> str:
    (entry,) = [e for e in json.loads(pull_json)["files"] if e["path"] == path]
    return str(entry["digest"])


def test_a_repository_that_lacks_a_stored_digest_is_not_found(
    registry: RegistryServer,
    repo_name: str,
    transfer_env: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    digest = push_model(f"{registry.host}/{repo_name}", FILES, tmp_path, capsys)
    stored = run_cli(["pull", f"{registry.host}/{repo_name}@{digest}"], capsys)
    assert stored.code == 0, stored.err

    elsewhere = f"{registry.host}/{repo_name}-nosuch@{digest}"
    out_dir = tmp_path / "out"
    missing = run_cli(["pull", elsewhere, "-o", str(out_dir)], capsys)
    assert missing.code == 3, missing.err
    assert missing.err.startswith("error: ")
    assert len([line for line in missing.err.splitlines() if line.startswith("error:")]) == 1
    assert not out_dir.exists()

    cached = run_cli(["pull", elsewhere, "-o", str(out_dir), "--from-cache"], capsys)
    assert cached.code == 0, cached.err
    assert _tree(out_dir) == FILES


def test_push_into_a_layout_under_a_file_is_exit_2_and_creates_nothing(
    transfer_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = build_model(tmp_path / "src", FILES)
    (tmp_path / "file").write_bytes(b"x")
    run = run_cli(
        ["push", f"oci:{tmp_path / 'src'}@{digest}", f"oci:{tmp_path / 'file' / 'dst'}"], capsys
    )
    assert run.code == 2
    dst, file = tmp_path / "file" / "dst", tmp_path / "file"
    assert run.err.splitlines() == [f"error: cannot use store {dst}: {file} is not a directory"]
    assert (tmp_path / "file").read_bytes() == b"x"


def test_pushing_a_damaged_store_blob_names_the_repair(
    registry: RegistryServer,
    repo_name: str,
    transfer_env: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from hubsnap.digest import sha256_bytes
    from hubsnap.oci.layout import LayoutStore

    digest = build_model(transfer_env / "store", FILES)
    weights = FILES["model.safetensors"]
    blob = LayoutStore(transfer_env / "store").blob_path(sha256_bytes(weights))
    blob.chmod(0o644)
    blob.write_bytes(b"X" * len(weights))
    for dest in (f"{registry.host}/{repo_name}", f"oci:{tmp_path / 'copy'}"):
        run = run_cli(["push", digest, dest], capsys)
        assert run.code == 6, run.err
        (line,) = run.err.splitlines()
        assert line.startswith(f"error: blob {sha256_bytes(weights)} in ")
        assert line.endswith(f"delete {blob} and pull again to repair it")
    copy = LayoutStore(tmp_path / "copy")
    assert copy.entries() == []  # blobs that arrived may stay; no manifest names them
    assert not copy.has_blob(sha256_bytes(weights))
