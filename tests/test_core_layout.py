"""The local store: verified ingest, manifests and tags in index.json, referrers, locking."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hubsnap.canonical import canonical_json
from hubsnap.digest import Digest, git_blob_sha1, sha256_bytes
from hubsnap.errors import IntegrityError, NotFoundError
from hubsnap.models import (
    MEDIA_TYPE_EMPTY,
    MEDIA_TYPE_MODEL_CONFIG,
    MEDIA_TYPE_MODEL_WEIGHT,
    Descriptor,
    Manifest,
)
from hubsnap.oci.layout import ANNOTATION_REF_NAME, LayoutStore


@pytest.fixture
def store(tmp_path: Path) -> LayoutStore:
    return LayoutStore(tmp_path / "store").ensure()


def leftovers(store: LayoutStore) -> list[str]:
    return sorted(p.name for p in store.ingest_dir.iterdir())


def manifest_for(store: LayoutStore, payload: bytes, subject: Descriptor | None = None) -> bytes:
    config = store.put_bytes(b"{}")
    layer = store.put_bytes(payload)
    manifest = Manifest(
        config=Descriptor(MEDIA_TYPE_MODEL_CONFIG if subject is None else MEDIA_TYPE_EMPTY,
                          config, 2),
        layers=(Descriptor(MEDIA_TYPE_MODEL_WEIGHT, layer, len(payload)),),
        subject=subject,
        artifact_type="application/x-test" if subject is not None else None,
    )  # fmt: skip
    return manifest.to_bytes()


def test_layout_files(store: LayoutStore) -> None:
    assert json.loads((store.root / "oci-layout").read_bytes()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((store.root / "index.json").read_bytes())
    assert index["schemaVersion"] == 2 and index["manifests"] == []


def test_blob_written_verified_and_read(store: LayoutStore) -> None:
    digest = store.put_bytes(b"hello")
    assert digest == sha256_bytes(b"hello")
    assert store.blob_path(digest).read_bytes() == b"hello"
    assert store.has_blob(digest, 5) and not store.has_blob(digest, 6)
    assert store.read_blob(digest) == b"hello"
    assert b"".join(store.iter_blob(digest)) == b"hello"
    assert leftovers(store) == []


@pytest.mark.parametrize("wrong", ["sha256", "size"])
def test_mismatch_discards_the_blob(store: LayoutStore, wrong: str) -> None:
    data = b"payload"
    with store.writer() as writer:
        writer.write(data)
        with pytest.raises(IntegrityError, match="mismatch"):
            writer.commit(
                sha256_bytes(b"other") if wrong == "sha256" else sha256_bytes(data),
                len(data) + 1 if wrong == "size" else len(data),
            )
    assert not store.has_blob(sha256_bytes(data))
    assert list((store.root / "blobs" / "sha256").iterdir()) == []
    assert leftovers(store) == []


def test_git_blob_id_computed_while_writing(store: LayoutStore) -> None:
    data = b"config"
    with store.writer(git_blob_size=len(data)) as writer:
        writer.write(data)
        digests = writer.commit(sha256_bytes(data), len(data))
    assert digests.git_sha1 == git_blob_sha1(data)
    assert store.has_blob(digests.sha256, len(data))


def test_abandoned_writer_leaves_nothing(store: LayoutStore) -> None:
    with pytest.raises(RuntimeError), store.writer() as writer:
        writer.write(b"half")
        raise RuntimeError("boom")
    assert leftovers(store) == []


def test_corrupt_blob_is_detected_on_read(store: LayoutStore) -> None:
    digest = store.put_bytes(b"good")
    path = store.blob_path(digest)
    path.chmod(0o644)
    path.write_bytes(b"evil")
    with pytest.raises(IntegrityError, match="corrupt"):
        store.read_blob(digest)


def test_manifest_needs_its_blobs(store: LayoutStore) -> None:
    missing = Manifest(
        config=Descriptor(MEDIA_TYPE_MODEL_CONFIG, sha256_bytes(b"nope"), 4), layers=()
    )
    with pytest.raises(IntegrityError, match="missing"):
        store.put_manifest(missing.to_bytes())
    assert store.entries() == []


def test_tags_resolve_and_move(store: LayoutStore) -> None:
    one = store.put_manifest(manifest_for(store, b"one"), tag="v1")
    assert store.resolve(tag="v1") == one
    assert store.resolve(digest=one.digest).digest == one.digest
    two = store.put_manifest(manifest_for(store, b"two"), tag="v1")
    assert store.tags() == {"v1": two.digest}
    untagged = [e for e in store.entries() if e.tag is None]
    assert untagged == []  # the old target was only reachable by the tag it lost
    assert store.read_manifest(one.digest)[1].layers[0].size == 3  # still readable by digest
    with pytest.raises(NotFoundError):
        store.resolve(tag="nope")
    with pytest.raises(NotFoundError):
        store.resolve(digest=Digest.sha256("0" * 64))
    index = json.loads((store.root / "index.json").read_bytes())
    assert index["manifests"][0]["annotations"] == {ANNOTATION_REF_NAME: "v1"}


def test_same_manifest_indexed_once_untagged(store: LayoutStore) -> None:
    data = manifest_for(store, b"x")
    store.put_manifest(data)
    store.put_manifest(data)
    assert len(store.entries()) == 1


def test_referrers_by_subject(store: LayoutStore) -> None:
    model = store.put_manifest(manifest_for(store, b"model"))
    subject = Descriptor(model.media_type, model.digest, model.size)
    sig = store.put_manifest(manifest_for(store, b"sig", subject))
    store.put_manifest(manifest_for(store, b"unrelated"))
    found = store.referrers(model.digest)
    assert [d.digest for d in found] == [sig.digest]
    assert found[0].artifact_type == "application/x-test"
    assert store.referrers(model.digest, artifact_type="other/type") == []
    assert store.referrers(sig.digest) == []


def test_concurrent_writers_do_not_lose_index_entries(store: LayoutStore) -> None:
    payloads = [f"model-{i}".encode() for i in range(16)]
    manifests = [manifest_for(store, p) for p in payloads]
    errors: list[BaseException] = []

    def put(i: int) -> None:
        try:
            LayoutStore(store.root).put_manifest(manifests[i], tag=f"t{i}")
        except BaseException as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=put, args=(i,)) for i in range(len(manifests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    expected = {f"t{i}": sha256_bytes(m) for i, m in enumerate(manifests)}
    assert store.tags() == expected


def test_manifest_bytes_are_canonical(store: LayoutStore) -> None:
    data = manifest_for(store, b"c")
    assert data == canonical_json(json.loads(data))
    assert (
        hashlib.sha256(data).digest()
        == hashlib.sha256(Manifest.from_bytes(data).to_bytes()).digest()
    )


def test_temp_files_of_dead_writers_are_swept_when_the_store_is_written(tmp_path: Path) -> None:
    store = LayoutStore(tmp_path / "store").ensure()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead = int(gone.stdout)
    hour_ago = time.time() - 3601
    files = {
        "legacy": f"blob-{'x' * 8}.tmp",  # no pid in the name: the age alone decides
        "dead": f"blob-{dead}-abcdefgh.tmp",
        "live": f"blob-{os.getpid()}-abcdefgh.tmp",  # a live writer, however old its file
        "fresh": f"blob-{dead}-ijklmnop.tmp",  # maybe still being written
        "other": "notes.txt",
    }
    for key, name in files.items():
        path = store.ingest_dir / name
        path.write_bytes(b"partial")
        if key != "fresh":
            os.utime(path, (hour_ago, hour_ago))
    with store.writer() as writer:  # the first writer of this store sweeps
        writer.write(b"new")
        writer.commit()
    assert leftovers(store) == sorted([files["live"], files["fresh"], files["other"]])
    (store.ingest_dir / files["dead"]).write_bytes(b"again")
    os.utime(store.ingest_dir / files["dead"], (hour_ago, hour_ago))
    store.put_bytes(b"more")  # once per opened store, not once per blob
    assert files["dead"] in leftovers(store)
    assert LayoutStore(store.root).sweep_ingest() == [store.ingest_dir / files["dead"]]


def test_a_writer_names_its_temp_file_after_its_process(store: LayoutStore) -> None:
    with store.writer() as writer:
        assert leftovers(store) == [writer._tmp.name]
        assert writer._tmp.name.startswith(f"blob-{os.getpid()}-")
        assert store.sweep_ingest(older_than=0) == []  # its own writer is alive
    assert leftovers(store) == []


def test_missing_layout_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no OCI image layout"):
        LayoutStore(tmp_path / "nowhere").require()


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("version", "imageLayoutVersion"),
        ("index", "index.json"),
        ("blobs", "blobs"),
    ],
)
@pytest.mark.parametrize("foreign", [False, True], ids=["store", "foreign"])
def test_a_layout_that_breaks_the_spec_is_refused(
    tmp_path: Path, damage: str, reason: str, foreign: bool
) -> None:
    root = tmp_path / "layout"
    LayoutStore(root).ensure()
    if damage == "version":
        (root / "oci-layout").write_text('{"imageLayoutVersion": "9.9.9"}')
    elif damage == "index":
        (root / "index.json").unlink()
    else:
        for path in sorted((root / "blobs").rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        (root / "blobs").rmdir()
        (root / "blobs").write_text("not a directory")
    with pytest.raises(IntegrityError, match=f"not a valid OCI image layout: .*{reason}"):
        LayoutStore(root, foreign=foreign).require()


@pytest.mark.parametrize(("foreign", "loaded"), [(False, False), (True, True)])
def test_only_a_foreign_layout_goes_through_oras_py(
    tmp_path: Path, foreign: bool, loaded: bool
) -> None:
    root = tmp_path / "layout"
    LayoutStore(root).ensure()
    probe = (
        "import sys\n"
        "from pathlib import Path\n"
        "from hubsnap.oci.layout import LayoutStore\n"
        f"LayoutStore(Path({str(root)!r}), foreign={foreign}).require()\n"
        "print('oras' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == str(loaded)


def test_cli_refuses_a_broken_layout_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hubsnap.cli import main

    root = tmp_path / "layout"
    LayoutStore(root).ensure()
    (root / "oci-layout").write_text("[]")
    with pytest.raises(SystemExit) as info:
        main(["inspect", f"oci:{root}:latest"])
    _, err = capsys.readouterr()
    assert info.value.code == 6
    assert err.splitlines() == [
        f"error: {root} is not a valid OCI image layout: "
        "File 'oci-layout' must contain a JSON object"
    ]
