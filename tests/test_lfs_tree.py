"""Planning an artifact's tree (LFS or plain, modes) and placing LFS objects."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from hubsnap.digest import Digest, sha256_bytes
from hubsnap.errors import IntegrityError, UsageError
from hubsnap.lfs.objects import object_path, place_object
from hubsnap.lfs.tree import ANNOTATION_LFS, plan_tree
from hubsnap.models import (
    ANNOTATION_FILE_METADATA,
    MEDIA_TYPE_MODEL_DOC,
    MEDIA_TYPE_MODEL_WEIGHT,
    Descriptor,
)

BLOBS: dict[Digest, bytes] = {}


def layer(data: bytes, media_type: str = MEDIA_TYPE_MODEL_DOC, **annotations: str) -> Descriptor:
    digest = sha256_bytes(data)
    BLOBS[digest] = data
    return Descriptor(media_type, digest, len(data), annotations)


def plan(files: list[tuple[str, Descriptor]]) -> dict[str, tuple[bool, str]]:
    planned = plan_tree(files, lambda d: Path("/nonexistent") / d.hex, lambda d, _: BLOBS[d])
    return {p.path: (p.lfs, p.tree_file.mode) for p in planned}


def test_recorded_lfs_wins_over_attributes_and_kind() -> None:
    attributes = layer(b"*.bin filter=lfs\n")
    files = [
        (".gitattributes", attributes),
        ("a.bin", layer(b"a", MEDIA_TYPE_MODEL_WEIGHT, **{ANNOTATION_LFS: "false"})),
        ("b.txt", layer(b"b", **{ANNOTATION_LFS: "true"})),
        ("c.bin", layer(b"c", MEDIA_TYPE_MODEL_WEIGHT)),
        ("d.safetensors", layer(b"d", MEDIA_TYPE_MODEL_WEIGHT)),
    ]
    assert plan(files) == {
        ".gitattributes": (False, "100644"),
        "a.bin": (False, "100644"),
        "b.txt": (True, "100644"),
        "c.bin": (True, "100644"),
        "d.safetensors": (False, "100644"),  # attributes exist and do not route it
    }


def test_executable_files_keep_their_bit() -> None:
    metadata = json.dumps({"name": "run.sh", "mode": 0o755})
    files = [
        ("run.sh", layer(b"#!/bin/sh\n", **{ANNOTATION_FILE_METADATA: metadata})),
        ("model.bin", layer(b"w", MEDIA_TYPE_MODEL_WEIGHT, **{ANNOTATION_FILE_METADATA: metadata})),
    ]
    assert plan(files) == {"model.bin": (True, "100755"), "run.sh": (False, "100755")}


@pytest.mark.parametrize(
    ("files", "error", "message"),
    [
        ([("x", layer(b"x", **{ANNOTATION_LFS: "yes"}))], IntegrityError, "not true or false"),
        ([("x", layer(b"x", **{ANNOTATION_FILE_METADATA: "{"}))], IntegrityError, "metadata"),
        ([("a", layer(b"1")), ("a/b", layer(b"2"))], IntegrityError, "both a file and a folder"),
        (
            [("w.bin", Descriptor(MEDIA_TYPE_MODEL_WEIGHT, Digest("sha512", "a" * 128), 1))],
            UsageError,
            "needs a sha256",
        ),
    ],
)
def test_refusals(
    files: list[tuple[str, Descriptor]], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        plan(files)


def test_objects_are_hard_links(tmp_path: Path) -> None:
    source = tmp_path / "blob"
    source.write_bytes(b"object")
    oid = sha256_bytes(b"object").hex
    objects = tmp_path / "objects"
    assert place_object(objects, oid, 6, source)
    placed = object_path(objects, oid)
    assert placed == objects / oid[:2] / oid[2:4] / oid
    assert placed.stat().st_ino == source.stat().st_ino
    assert not place_object(objects, oid, 6, source)  # already there
    assert [p.name for p in placed.parent.iterdir()] == [oid]


def test_objects_are_copied_across_filesystems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "blob"
    source.write_bytes(b"object")
    oid = sha256_bytes(b"object").hex

    def cross_device(*_: object, **__: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    objects = tmp_path / "objects"
    assert place_object(objects, oid, 6, source)
    placed = object_path(objects, oid)
    assert placed.read_bytes() == b"object"
    assert placed.stat().st_ino != source.stat().st_ino
    assert [p.name for p in placed.parent.iterdir()] == [oid]


def test_a_planted_symlink_or_short_object_is_replaced(tmp_path: Path) -> None:
    source = tmp_path / "blob"
    source.write_bytes(b"object")
    oid = sha256_bytes(b"object").hex
    objects = tmp_path / "objects"
    placed = object_path(objects, oid)
    placed.parent.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.write_bytes(b"secret")
    placed.symlink_to(outside)
    assert place_object(objects, oid, 6, source)
    assert not placed.is_symlink()
    assert placed.read_bytes() == b"object"
    assert outside.read_bytes() == b"secret"


def test_deeply_nested_file_metadata_is_an_integrity_error_not_a_crash() -> None:
    from hubsnap.lfs.tree import layer_executable
    from hubsnap.models import ANNOTATION_FILE_METADATA, Descriptor

    layer = Descriptor(
        "application/vnd.cncf.model.weight.v1.raw",
        sha256_bytes(b"x"),
        1,
        annotations={ANNOTATION_FILE_METADATA: "[" * 200_000},
    )
    with pytest.raises(IntegrityError, match="malformed file metadata"):
        layer_executable(layer)
