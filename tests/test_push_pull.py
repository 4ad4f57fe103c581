"""push → pull round trips through the CLI against a real registry, with and without auth."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from support.registry import RegistryServer, build_model, run_cli

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
    assert report["blobsSent"] == 0  # everything was already there

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
    digest = build_model(tmp_path / "src", FILES)
    assert (
        run_cli(
            ["push", f"oci:{tmp_path / 'src'}@{digest}", f"{registry.host}/{repo_name}:v2"], capsys
        ).code
        == 0
    )
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
