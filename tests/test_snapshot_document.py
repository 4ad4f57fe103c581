"""snapshot.yaml values: selections, card parsing, the document and its schema."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest
import yaml

from hubsnap.errors import UsageError
from hubsnap.hub import HubFile
from hubsnap.snapshot import (
    Selection,
    SnapshotDocument,
    SnapshotFile,
    is_metadata_file,
    parse_card,
    read_artifact_reference,
    select_files,
    split_repo_revision,
    write_snapshot,
)

SCHEMA = json.loads((Path(__file__).parents[1] / "schemas" / "snapshot.schema.json").read_text())
FILES = [
    HubFile("README.md", 10, "1" * 40),
    HubFile("config.json", 10, "2" * 40),
    HubFile("model.safetensors", 100, "3" * 40, "a" * 64),
    HubFile("model.safetensors.index.json", 10, "4" * 40),
    HubFile("onnx/model.onnx", 100, "5" * 40, "b" * 64),
    HubFile("tokenizer.json", 10, "6" * 40),
    HubFile("docs/README.md", 10, "7" * 40),
]


def paths(files: list[HubFile]) -> list[str]:
    return [f.path for f in files]


def test_selections() -> None:
    download, record = select_files(FILES, Selection())
    assert (paths(download), record) == (paths(FILES), [])
    download, _ = select_files(FILES, Selection(include=("*.json",), exclude=("*index*",)))
    assert paths(download) == ["config.json", "tokenizer.json"]
    download, _ = select_files(FILES, Selection(include=("onnx/*",)))
    assert paths(download) == ["onnx/model.onnx"]
    download, record = select_files(FILES, Selection(metadata_only=True))
    assert paths(download) == [
        "README.md", "config.json", "model.safetensors.index.json", "tokenizer.json"
    ]  # fmt: skip
    assert paths(record) == ["model.safetensors", "onnx/model.onnx", "docs/README.md"]
    assert not is_metadata_file("docs/README.md")
    assert Selection(metadata_only=True, include=("*",)).mode == "metadata-only"
    assert Selection(exclude=("x",)).mode == "filtered" and Selection().mode == "full"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("org/m", ("org/m", "main")),
        ("org/m@v2", ("org/m", "v2")),
        ("m@" + "a" * 40, ("m", "a" * 40)),
    ],
)
def test_repo_and_revision(spec: str, expected: tuple[str, str]) -> None:
    assert split_repo_revision(spec) == expected


@pytest.mark.parametrize("spec", ["", "@main", "org/m@"])
def test_bad_model_specs(spec: str) -> None:
    with pytest.raises(UsageError, match="invalid model"):
        split_repo_revision(spec)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"---\nlicense: mit\nbase_model: a/b\n---\n# x", {"license": "mit", "base_model": "a/b"}),
        (b"---\r\nlicense: mit\r\n---\r\n", {"license": "mit"}),
        (b"# no front matter\n", {}),
        (b"---\n: : bad yaml [\n---\n", {}),
        (b"---\n- a list\n---\n", {}),
        (b"---\nlicense: mit\n", {}),
    ],
)
def test_card_front_matter(text: bytes, expected: dict[str, object]) -> None:
    assert parse_card(text) == expected


def document() -> SnapshotDocument:
    files = (
        SnapshotFile("config.json", 2, False, "1" * 40, "c" * 64, "d" * 64, True),
        SnapshotFile("model.safetensors", 9, True, "2" * 40, "e" * 64, None, False),
        SnapshotFile("notes.txt", 3, False, "3" * 40, None, None, False),
    )
    return SnapshotDocument(
        model_id="org/m", source="https://hub.test/org/m", revision="main",
        commit="f" * 40, commit_date="2024-01-01T00:00:00Z",
        selection=Selection(metadata_only=True), files=files,
        artifact_digest="sha256:" + "9" * 64,
        artifact_reference="oci:/s@sha256:" + "9" * 64, artifact_tag=None,
        card={"license": "mit", "tags": ["x"]},
    )  # fmt: skip


def test_document_is_valid_written_atomically_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.yaml"
    write_snapshot(path, document())
    data = yaml.safe_load(path.read_bytes())
    jsonschema.validate(data, SCHEMA)
    assert data["fingerprint"] == {"config.json": "c" * 64}
    assert data["card"] == {"license": "mit"}
    assert data["artifact"]["complete"] is False and data["artifact"]["files"] == 1
    assert list(data) == list(SCHEMA["required"])
    assert read_artifact_reference(path) == "oci:/s@sha256:" + "9" * 64
    assert [p.name for p in tmp_path.iterdir()] == ["snapshot.yaml"]
    assert path.read_bytes() == document().to_yaml()


@pytest.mark.parametrize(
    "change",
    [
        lambda d: replace(d, commit="main"),
        lambda d: replace(
            d, files=(SnapshotFile("../x", 1, False, "1" * 40, "c" * 64, None, True),)
        ),
        lambda d: replace(d, artifact_digest="sha256:short"),
    ],
)
def test_schema_refuses_bad_documents(
    change: Callable[[SnapshotDocument], SnapshotDocument],
) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(yaml.safe_load(change(document()).to_yaml()), SCHEMA)


def test_reading_a_dry_run_or_foreign_document_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(replace(document(), artifact_digest=None, artifact_reference=None).to_yaml())
    with pytest.raises(UsageError, match="records no artifact"):
        read_artifact_reference(path)
    path.write_text("kind: something-else\n")
    with pytest.raises(UsageError, match="not a hubsnap snapshot"):
        read_artifact_reference(path)
