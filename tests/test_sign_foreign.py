"""Signing ModelPack artifacts hubsnap did not build: assembled by hand as modctl, KitOps or
oras would (legacy ``cnai`` names too), pushed over plain HTTP to a real registry, signed,
verified, and checked by the OpenSSF reference verifier on the pulled folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from hubsnap.api.signing import verify
from hubsnap.canonical import canonical_json
from hubsnap.config import Settings
from hubsnap.digest import sha256_bytes
from hubsnap.models import EMPTY_JSON, MEDIA_TYPE_EMPTY, Descriptor, Manifest
from hubsnap.oci.layout import LayoutStore
from hubsnap.signing.kinds import SourceOrigin
from support.keys import FIXED_KEY
from support.registry import RegistryServer, run_cli, session_for

MODEL_SIGNING = Path(sys.executable).parent / "model_signing"
FILES = {
    "README.md": b"# A model packed by another tool\n",
    "config.json": b'{"model_type": "bert"}',
    "weights/model.safetensors": b"\x01\x02" * 512,
}


def _upload(client: httpx.Client, base: str, repo: str, data: bytes) -> str:
    digest = str(sha256_bytes(data))
    started = client.post(f"{base}/v2/{repo}/blobs/uploads/")
    assert started.status_code == 202, started.text
    location = urljoin(base, started.headers["Location"])
    separator = "&" if "?" in location else "?"
    done = client.put(f"{location}{separator}digest={digest}", content=data)
    assert done.status_code == 201, done.text
    return digest


def hand_push(
    registry: RegistryServer,
    repo: str,
    *,
    legacy: bool,
    descriptor: dict[str, object],
    annotations: dict[str, str] | None = None,
) -> str:
    """Push FILES as a ModelPack artifact built without hubsnap; its manifest digest."""
    prefix, path_key = (
        ("application/vnd.cnai.model", "org.cnai.model.filepath")
        if legacy
        else ("application/vnd.cncf.model", "org.opencontainers.image.title")
    )
    base = registry.url
    with httpx.Client(timeout=30) as client:
        layers = []
        for path, data in FILES.items():
            kind = "weight" if path.endswith(".safetensors") else "doc"
            layers.append(
                {
                    "mediaType": f"{prefix}.{kind}.v1.raw",
                    "digest": _upload(client, base, repo, data),
                    "size": len(data),
                    "annotations": {path_key: path},
                }
            )
        config = canonical_json(
            {"descriptor": descriptor, "config": {}, "modelfs": {"type": "layers"}}
        )
        manifest: dict[str, object] = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": f"{prefix}.manifest.v1+json",
            "config": {
                "mediaType": f"{prefix}.config.v1+json",
                "digest": _upload(client, base, repo, config),
                "size": len(config),
            },
            "layers": layers,
        }
        if annotations:
            manifest["annotations"] = annotations
        body = json.dumps(manifest, indent=2).encode()  # not canonical: another tool's bytes
        put = client.put(
            f"{base}/v2/{repo}/manifests/v1",
            content=body,
            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        )
        assert put.status_code == 201, put.text
    return str(sha256_bytes(body))


def _reference_verify(signature: Path, public: Path, folder: Path) -> int:
    return subprocess.run(
        [str(MODEL_SIGNING), "verify", "key", "--signature", str(signature),
         "--public_key", str(public), str(folder)],
        capture_output=True, text=True, check=False, timeout=120,
    ).returncode  # fmt: skip


@pytest.mark.registry
@pytest.mark.interop
def test_legacy_cnai_artifact_signed_from_its_config(
    registry: RegistryServer, *, repo_name: str, tmp_path: Path, key_pair: tuple[Path, Path],
    transfer_env: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    private, public = key_pair
    digest = hand_push(
        registry,
        repo_name,
        legacy=True,
        descriptor={"name": "acme/packed", "sourceURL": "https://git.example/acme/packed",
                    "revision": "v1.2"},
    )  # fmt: skip
    ref = f"{registry.host}/{repo_name}@{digest}"
    signed = run_cli(["sign", ref, "--key", str(private), "--json"], capsys)
    assert signed.code == 0, signed.err
    assert json.loads(signed.out)["files"] == 3

    report = verify(session_for(Settings.from_env()), ref, keys=[public])
    assert report.ok, report.all_failures
    (provenance,) = [s.provenance for s in report.signatures if s.provenance is not None]
    assert provenance.origin is SourceOrigin.MODEL_CONFIG
    assert provenance.source_url == "https://git.example/acme/packed"
    assert provenance.commit == "v1.2"
    assert provenance.artifact == ref
    assert provenance.card is not None

    signature = tmp_path / "model.sig"
    assert run_cli(["export-signature", ref, "-o", str(signature)], capsys).code == 0
    pulled = tmp_path / "pulled"
    pull = run_cli(["pull", ref, "-o", str(pulled)], capsys)
    assert pull.code == 0, pull.err
    assert (pulled / "weights" / "model.safetensors").read_bytes() == FILES[
        "weights/model.safetensors"
    ]
    assert _reference_verify(signature, public, pulled) == 0


@pytest.mark.registry
@pytest.mark.interop
def test_oras_style_artifact_without_source_records_unknown(
    registry: RegistryServer, *, repo_name: str, tmp_path: Path, key_pair: tuple[Path, Path],
    transfer_env: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    private, public = key_pair
    digest = hand_push(registry, repo_name, legacy=False, descriptor={})
    ref = f"{registry.host}/{repo_name}@{digest}"
    signed = run_cli(["sign", ref, "--key", str(private)], capsys)
    assert signed.code == 0, signed.err
    checked = run_cli(["verify", ref, "--key", str(public), "--json"], capsys)
    assert checked.code == 0, checked.err
    assert "source" not in json.loads(checked.out)
    report = verify(session_for(Settings.from_env()), ref, keys=[public])
    (provenance,) = [s.provenance for s in report.signatures if s.provenance is not None]
    assert provenance.origin is SourceOrigin.UNKNOWN
    assert (provenance.source_url, provenance.commit) == (None, None)

    signature = tmp_path / "model.sig"
    assert run_cli(["export-signature", ref, "-o", str(signature)], capsys).code == 0
    pulled = tmp_path / "pulled"
    assert run_cli(["pull", ref, "-o", str(pulled)], capsys).code == 0
    assert _reference_verify(signature, public, pulled) == 0


@pytest.mark.registry
def test_source_annotations_without_revision(
    registry: RegistryServer, repo_name: str, key_pair: tuple[Path, Path],
    transfer_env: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """An artifact whose OCI source annotation is all it says: recorded as it says it."""
    private, public = key_pair
    source = "https://github.com/acme/model"
    digest = hand_push(
        registry,
        repo_name,
        legacy=False,
        descriptor={"sourceURL": "https://elsewhere.example/ignored"},
        annotations={"org.opencontainers.image.source": source},
    )
    ref = f"{registry.host}/{repo_name}@{digest}"
    assert run_cli(["sign", ref, "--key", str(private)], capsys).code == 0
    report = verify(session_for(Settings.from_env()), ref, keys=[public])
    assert report.ok and report.source == source
    (provenance,) = [s.provenance for s in report.signatures if s.provenance is not None]
    assert provenance.origin is SourceOrigin.ANNOTATIONS
    assert provenance.commit is None


def test_packed_layers_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """modctl's default tar layers carry no per-file digest to sign: a usage error, nothing
    attached."""
    store = LayoutStore(tmp_path / "store").ensure()
    data = b"not really a tar"
    layer = Descriptor(
        "application/vnd.cncf.model.weight.v1.tar",
        store.put_bytes(data),
        len(data),
        {"org.cncf.model.filepath": "model.safetensors"},
    )
    store.put_bytes(EMPTY_JSON)
    manifest = Manifest(
        config=Descriptor(MEDIA_TYPE_EMPTY, sha256_bytes(EMPTY_JSON), 2),
        layers=(layer,),
        artifact_type="application/vnd.cncf.model.manifest.v1+json",
    )
    digest = store.put_manifest(manifest.to_bytes()).digest
    before = store.entries()
    result = run_cli(["sign", f"oci:{store.root}@{digest}", "--key", str(FIXED_KEY)], capsys)
    assert result.code == 2
    assert result.err.splitlines() == [
        "error: layer model.safetensors is packed (application/vnd.cncf.model.weight.v1.tar);"
        " an OMS signature needs raw file layers",
        "hint: rebuild the artifact with one raw layer per file (e.g. modctl build --raw)",
    ]
    assert store.entries() == before
