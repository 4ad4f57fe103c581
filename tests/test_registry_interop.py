"""Cross-checks with independent clients: skopeo reads what hubsnap pushed, hubsnap pulls what
oras-py pushed."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hubsnap.digest import Digest
from hubsnap.oci.layout import LayoutStore
from support.registry import RegistryServer, push_model, run_cli

pytestmark = [pytest.mark.registry, pytest.mark.interop]

SKOPEO = shutil.which("skopeo")


def _push(
    registry: RegistryServer, repo: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> str:
    files = {"config.json": b"{}\n", "model.safetensors": os.urandom(1 << 20)}
    return push_model(f"{registry.host}/{repo}:v1", files, tmp_path, capsys)


@pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed")
def test_skopeo_reads_exactly_our_manifest_bytes(
    registry: RegistryServer, repo_name: str, transfer_env: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    digest = _push(registry, repo_name, tmp_path, capsys)
    raw = subprocess.run(
        [str(SKOPEO), "inspect", "--raw", "--tls-verify=false",
         f"docker://{registry.host}/{repo_name}@{digest}"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    ours = LayoutStore(tmp_path / "src").read_manifest(Digest.parse(digest))[0]
    assert raw == ours
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest


@pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed")
def test_skopeo_copies_our_artifact_preserving_digests(
    registry: RegistryServer, repo_name: str, transfer_env: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    digest = _push(registry, repo_name, tmp_path, capsys)
    layout = tmp_path / "skopeo-layout"
    subprocess.run(
        [str(SKOPEO), "copy", "--preserve-digests", "--src-tls-verify=false",
         f"docker://{registry.host}/{repo_name}@{digest}", f"oci:{layout}:copied"],
        capture_output=True, check=True,
    )  # fmt: skip
    index = json.loads((layout / "index.json").read_text())
    assert [m["digest"] for m in index["manifests"]] == [digest]
    # The copy is a layout hubsnap reads back as the same artifact.
    shown = run_cli(["inspect", f"oci:{layout}:copied", "--json"], capsys)
    assert shown.code == 0, shown.err
    assert json.loads(shown.out)["digest"] == digest


def test_pull_an_artifact_pushed_by_oras_py(
    *, registry: RegistryServer, repo_name: str, transfer_env: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    import oras.client

    source = tmp_path / "oras-src"
    source.mkdir()
    weights = os.urandom(512 * 1024)
    (source / "model.safetensors").write_bytes(weights)
    (source / "config.json").write_bytes(b'{"from": "oras"}')
    monkeypatch.chdir(source)  # oras-py names layers by the paths it is given
    client = oras.client.OrasClient(hostname=registry.host, insecure=True)
    response = client.push(
        target=f"{registry.host}/{repo_name}:oras",
        files=[
            "model.safetensors:application/vnd.cncf.model.weight.v1.raw",
            "config.json:application/vnd.cncf.model.weight.config.v1.raw",
        ],
        disable_path_validation=True,
    )
    assert response.status_code == 201

    out_dir = tmp_path / "out"
    run = run_cli(
        ["pull", f"{registry.host}/{repo_name}:oras", "--allow-tag", "-o", str(out_dir)], capsys
    )
    assert run.code == 0, run.err
    assert (out_dir / "model.safetensors").read_bytes() == weights
    assert (out_dir / "config.json").read_bytes() == b'{"from": "oras"}'
