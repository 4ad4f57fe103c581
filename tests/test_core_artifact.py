"""The ModelPack artifact: media types, layer order, annotations, byte-for-byte reproducibility."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from hubsnap.digest import Digest, sha256_bytes
from hubsnap.errors import IntegrityError, UsageError
from hubsnap.models import (
    ARTIFACT_TYPE_MODEL,
    MEDIA_TYPE_MODEL_CODE,
    MEDIA_TYPE_MODEL_CONFIG,
    MEDIA_TYPE_MODEL_DOC,
    MEDIA_TYPE_MODEL_WEIGHT,
    MEDIA_TYPE_MODEL_WEIGHT_CONFIG,
    Descriptor,
    Manifest,
)
from hubsnap.oci.artifact import (
    LayerFile,
    ModelSource,
    build_model_artifact,
    layer_media_type,
    model_files,
)

GOLDEN = Path(__file__).parent / "golden" / "modelpack"


def layer(path: str, content: bytes, blake3: str | None = None) -> LayerFile:
    return LayerFile(path, sha256_bytes(content), len(content), blake3)


FILES = [
    layer("tokenizer.json", b'{"model": {}}', "1" * 64),
    layer("model.safetensors", b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ", "2" * 64),
    layer("README.md", b"---\nlicense: apache-2.0\n---\n# m\n", "3" * 64),
    layer("config.json", b'{"architectures": ["BertModel"]}', "4" * 64),
    layer("1_Pooling/config.json", b'{"pooling_mode_mean_tokens": true}', "5" * 64),
    layer("modeling.py", b"import torch\n", "6" * 64),
    layer("Z-upper.txt", b"z", None),
]
SOURCE = ModelSource(
    repo_id="org/model",
    commit="0123456789abcdef0123456789abcdef01234567",
    source_url="https://huggingface.co/org/model",
    created="2024-05-02T15:30:00Z",
    licenses=("apache-2.0",),
    base_name="https://huggingface.co/org/base",
    base_digest=Digest.sha256("f" * 64),
    architecture="BertModel",
    model_format="safetensors",
)


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("model.safetensors", MEDIA_TYPE_MODEL_WEIGHT),
        ("sub/pytorch_model.bin", MEDIA_TYPE_MODEL_WEIGHT),
        ("onnx/model.onnx", MEDIA_TYPE_MODEL_WEIGHT),
        ("m.Q4_K_M.gguf", MEDIA_TYPE_MODEL_WEIGHT),
        ("model.safetensors.index.json", MEDIA_TYPE_MODEL_WEIGHT_CONFIG),
        ("config.json", MEDIA_TYPE_MODEL_WEIGHT_CONFIG),
        ("vocab.txt", MEDIA_TYPE_MODEL_WEIGHT_CONFIG),
        ("merges.txt", MEDIA_TYPE_MODEL_WEIGHT_CONFIG),
        ("tokenizer.model", MEDIA_TYPE_MODEL_WEIGHT_CONFIG),
        ("README.md", MEDIA_TYPE_MODEL_DOC),
        ("LICENSE", MEDIA_TYPE_MODEL_DOC),
        (".gitattributes", MEDIA_TYPE_MODEL_DOC),
        ("modeling_x.py", MEDIA_TYPE_MODEL_CODE),
    ],
)
def test_layer_media_types(path: str, media_type: str) -> None:
    assert layer_media_type(path) == media_type


def test_layers_sorted_by_path_bytes_with_annotations() -> None:
    artifact = build_model_artifact(FILES, SOURCE)
    manifest = artifact.manifest
    paths = [d.filepath for d in manifest.layers]
    assert paths == sorted((f.path for f in FILES), key=str.encode)
    assert paths[0] == "1_Pooling/config.json" and paths[1] == "README.md"
    first = manifest.layers[0].annotations
    assert first["org.cncf.model.filepath"] == first["org.opencontainers.image.title"]
    assert json.loads(first["org.cncf.model.file.metadata+json"])["mtime"] == "1970-01-01T00:00:00Z"
    assert first["dev.hubsnap.file.blake3"] == "blake3:" + "5" * 64
    no_blake3 = next(d for d in manifest.layers if d.filepath == "Z-upper.txt")
    assert "dev.hubsnap.file.blake3" not in no_blake3.annotations
    assert manifest.artifact_type == ARTIFACT_TYPE_MODEL
    assert manifest.config.media_type == MEDIA_TYPE_MODEL_CONFIG
    assert manifest.annotations["org.opencontainers.image.created"] == SOURCE.created
    assert manifest.annotations["org.opencontainers.image.base.digest"] == "sha256:" + "f" * 64
    config = json.loads(artifact.config_bytes)
    assert config["descriptor"]["revision"] == SOURCE.commit
    assert config["modelfs"]["diffIds"] == [str(d.digest) for d in manifest.layers]
    assert manifest.config.digest == sha256_bytes(artifact.config_bytes)


def test_reproducible_bytes_match_the_golden_files() -> None:
    forwards = build_model_artifact(FILES, SOURCE)
    backwards = build_model_artifact(list(reversed(FILES)), SOURCE)
    assert forwards.manifest_bytes == backwards.manifest_bytes
    assert forwards.manifest_bytes == (GOLDEN / "manifest.json").read_bytes()
    assert forwards.config_bytes == (GOLDEN / "config.json").read_bytes()
    assert str(forwards.digest) == (GOLDEN / "manifest.digest").read_text().strip()
    parsed = Manifest.from_bytes(forwards.manifest_bytes, forwards.digest)
    assert parsed.to_bytes() == forwards.manifest_bytes


def test_bad_file_lists_are_refused() -> None:
    with pytest.raises(UsageError, match="duplicate"):
        build_model_artifact([FILES[0], FILES[0]], SOURCE)
    with pytest.raises(UsageError, match="no files"):
        build_model_artifact([], SOURCE)
    with pytest.raises(IntegrityError, match="refusing"):
        build_model_artifact([layer("../x", b"x")], SOURCE)


def test_model_files_accept_legacy_names_and_refuse_bad_paths() -> None:
    digest = sha256_bytes(b"x")
    legacy = Descriptor("application/vnd.cnai.model.weight.v1.raw", digest, 1,
                        {"org.cnai.model.filepath": "w.bin"})  # fmt: skip
    other = Descriptor("application/octet-stream", digest, 1, {})
    config = Descriptor(MEDIA_TYPE_MODEL_CONFIG, digest, 1)
    files = model_files(Manifest(config=config, layers=(legacy, other)))
    assert [path for path, _ in files] == ["w.bin"]
    evil = Descriptor(MEDIA_TYPE_MODEL_WEIGHT, digest, 1, {"org.cncf.model.filepath": "/etc/x"})
    with pytest.raises(IntegrityError, match="refusing"):
        model_files(Manifest(config=config, layers=(evil,)))
    twice = (
        legacy,
        Descriptor(MEDIA_TYPE_MODEL_WEIGHT, digest, 1, {"org.cncf.model.filepath": "w.bin"}),
    )
    with pytest.raises(IntegrityError, match="twice"):
        model_files(Manifest(config=config, layers=twice))


@pytest.mark.skipif(
    shutil.which("git") is None or not (GOLDEN.parents[2] / ".git").exists(),
    reason="needs the git checkout",
)
def test_every_golden_file_is_kept_byte_for_byte_by_git() -> None:
    # A golden file normalised on checkout (CRLF on Windows) would no longer match its digest.
    root = GOLDEN.parents[2]
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--", "tests/golden"],
        cwd=root, capture_output=True, check=True,
    ).stdout.decode().strip("\0").split("\0")  # fmt: skip
    assert len(listed) >= 3
    attrs = subprocess.run(
        ["git", "check-attr", "text", "--", *listed], cwd=root, capture_output=True, check=True
    ).stdout.decode()
    assert attrs.splitlines() == [f"{path}: text: unset" for path in listed]
