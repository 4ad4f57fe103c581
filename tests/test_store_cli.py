"""``hubsnap store ls|rm|gc|verify|tag`` on real layouts, and the "not found" listing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hubsnap.digest import sha256_bytes
from hubsnap.oci.layout import LayoutStore
from support.keys import FIXED_KEY, Model
from support.registry import run_cli
from support.schemas import validated

MakeModel = Callable[..., Model]
Capsys = pytest.CaptureFixture[str]


def _store(tmp_path: Path) -> Path:
    return tmp_path / "store"


def _run(argv: list[str], tmp_path: Path, capsys: Capsys) -> tuple[int, str, str]:
    run = run_cli([*argv, "--store", str(_store(tmp_path))], capsys)
    return run.code, run.out, run.err


def _blobs(store: Path) -> set[str]:
    return {p.name for p in (store / "blobs" / "sha256").iterdir()}


def test_ls_lists_artifacts_with_referrers_sizes_and_tags(
    make_model: MakeModel, tmp_path: Path, capsys: Capsys
) -> None:
    model = make_model("org/model", tag="org/model:main")
    signed = run_cli(["sign", model.ref, "--key", str(FIXED_KEY)], capsys)
    assert signed.code == 0, signed.err
    code, out, err = _run(["store", "ls", "--json"], tmp_path, capsys)
    assert code == 0, err
    document = validated(out, "store-ls")
    (item,) = document["artifacts"]
    assert item["digest"] == str(model.digest)
    assert item["tags"] == ["org/model:main"]
    assert item["model_id"] == "org/model"
    assert item["files"] == len(model.files)
    assert len(item["referrers"]) == 2  # OMS signature and provenance
    assert item["size"] > sum(len(data) for data in model.files.values())
    assert item["last_used"] > 0
    code, out, _ = _run(["store", "ls"], tmp_path, capsys)
    assert code == 0
    assert "org/model:main" in out and "1 artifact(s)" in out


def test_ls_of_a_missing_store_is_empty(tmp_path: Path, capsys: Capsys) -> None:
    code, out, err = _run(["store", "ls", "--json"], tmp_path, capsys)
    assert code == 0, err
    assert validated(out, "store-ls")["artifacts"] == []


def test_tag_by_repo_at_old_bare_sha_tag_and_by_digest(
    make_model: MakeModel, tmp_path: Path, capsys: Capsys
) -> None:
    commit = "a" * 40
    model = make_model("Org/Model", commit=commit, tag=commit)  # an older store's tag
    code, out, err = _run(
        ["store", "tag", f"Org/Model@{commit[:7]}", "prod", "--json"], tmp_path, capsys
    )
    assert code == 0, err
    assert validated(out, "store-tag") == {
        "schema": "hubsnap.dev/store-tag/v1",
        "store": str(_store(tmp_path)),
        "digest": str(model.digest),
        "tag": "prod",
    }
    code, _, err = _run(["store", "tag", str(model.digest), "org/model:v1"], tmp_path, capsys)
    assert code == 0, err
    tags = LayoutStore(_store(tmp_path)).tags()
    assert tags == {commit: model.digest, "prod": model.digest, "org/model:v1": model.digest}
    code, _, err = _run(["store", "tag", "org/model:v1", "bad tag!"], tmp_path, capsys)
    assert code == 2
    assert err.startswith("error: invalid store tag 'bad tag!'\n")


def test_rm_removes_artifact_referrers_and_only_their_blobs(
    make_model: MakeModel, tmp_path: Path, capsys: Capsys
) -> None:
    keep = make_model("org/keep", tag="org/keep:main")
    shared_config = keep.files["tokenizer/vocab.txt"]
    gone = make_model("org/gone", tag="org/gone:main")
    assert run_cli(["sign", gone.ref, "--key", str(FIXED_KEY)], capsys).code == 0
    before = _blobs(_store(tmp_path))
    code, out, err = _run(["store", "rm", "org/gone@main", "--dry-run", "--json"], tmp_path, capsys)
    assert code == 0, err
    plan = validated(out, "store-rm")
    assert plan["dry_run"] is True and len(plan["referrers"]) == 2
    assert _blobs(_store(tmp_path)) == before

    code, out, err = _run(["store", "rm", "org/gone@main", "--yes", "--json"], tmp_path, capsys)
    assert code == 0, err
    removed = validated(out, "store-rm")
    assert removed["artifacts"] == [str(gone.digest)]
    after = _blobs(_store(tmp_path))
    assert {b["digest"].split(":")[1] for b in removed["blobs"]} == before - after
    assert sha256_bytes(shared_config).hex in after  # still used by org/keep
    assert sha256_bytes(gone.files["model.safetensors"]).hex not in after
    store = LayoutStore(_store(tmp_path))
    assert {e.descriptor.digest for e in store.entries()} == {keep.digest}
    code, out, err = _run(["store", "verify"], tmp_path, capsys)
    assert code == 0, err


def test_rm_of_an_unknown_name_lists_the_store(
    make_model: MakeModel, tmp_path: Path, capsys: Capsys
) -> None:
    make_model("org/model", tag="org/model:main")
    code, out, err = _run(["store", "rm", "org/other@main", "--yes"], tmp_path, capsys)
    assert code == 3
    assert out == ""
    lines = err.splitlines()
    assert lines[0] == f"error: org/other@main not found in {_store(tmp_path)}"
    assert lines[1].startswith("hint: the store's tags: org/model:main;")
    assert len(lines) == 2


def test_inspect_of_a_missing_tag_lists_what_is_there(
    make_model: MakeModel, tmp_path: Path, capsys: Capsys
) -> None:
    make_model("org/model", tag="v1")
    run = run_cli(["inspect", f"oci:{_store(tmp_path)}"], capsys)
    assert run.code == 3
    assert run.err.splitlines() == [
        f"error: tag 'latest' not found in {_store(tmp_path).resolve()}",
        "hint: its tags: v1 (hubsnap store ls lists the local store)",
    ]


def test_gc_deletes_only_unreached_blobs_never_ingest(
    make_model: MakeModel, tmp_path: Path, capsys: Capsys
) -> None:
    model = make_model("org/model", tag="org/model:main")
    assert run_cli(["sign", model.ref, "--key", str(FIXED_KEY)], capsys).code == 0
    store = LayoutStore(_store(tmp_path))
    orphan = store.put_bytes(b"nobody uses me")
    store.lock.release()  # this object is done with the store: gc must not wait for it
    partial = _store(tmp_path) / "ingest" / f"blob-{os.getpid()}-x.tmp"
    partial.write_bytes(b"half a download")
    before = _blobs(_store(tmp_path))

    code, out, err = _run(["store", "gc", "--dry-run", "--json"], tmp_path, capsys)
    assert code == 0, err
    plan = validated(out, "store-gc")
    assert [b["digest"] for b in plan["blobs"]] == [str(orphan)]
    assert _blobs(_store(tmp_path)) == before

    code, out, err = _run(["store", "gc", "--json"], tmp_path, capsys)
    assert code == 0, err
    assert validated(out, "store-gc")["bytes"] == len(b"nobody uses me")
    assert _blobs(_store(tmp_path)) == before - {orphan.hex}
    assert partial.exists()
    verified = run_cli(["verify", model.ref, "--key", str(FIXED_KEY.with_suffix(".pub"))], capsys)
    assert verified.code == 0, verified.err


def test_gc_waits_for_a_concurrent_writer_then_gives_up_in_one_line(
    make_model: MakeModel, tmp_path: Path, capsys: Capsys
) -> None:
    model = make_model("org/model")
    writer = LayoutStore(_store(tmp_path))
    writer.put_bytes(b"orphan")
    writer.lock.release()
    holder = subprocess.Popen(
        [
            sys.executable, "-c",
            "import sys, time; from pathlib import Path\n"
            "from hubsnap.oci.layout import LayoutStore\n"
            "s = LayoutStore(Path(sys.argv[1])); s.has_blob(s.put_bytes(b'x'))\n"
            "print('held', flush=True); time.sleep(60)",
            str(_store(tmp_path)),
        ],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        started = time.monotonic()
        code, _, err = _run(["store", "gc", "--wait", "0.5"], tmp_path, capsys)
        assert time.monotonic() - started < 30  # it gave up, it did not hang
    finally:
        holder.kill()
        holder.wait()
    assert code == 2
    assert err.splitlines()[0] == (
        f"error: the store {_store(tmp_path)} is in use by another hubsnap process"
    )
    assert LayoutStore(_store(tmp_path)).has_blob(sha256_bytes(b"orphan"))
    code, _, err = _run(["store", "gc"], tmp_path, capsys)
    assert code == 0, err
    assert not LayoutStore(_store(tmp_path)).has_blob(sha256_bytes(b"orphan"))
    assert LayoutStore(_store(tmp_path)).has_blob(model.digest)


def test_verify_names_a_damaged_blob_and_its_repair(
    make_model: MakeModel, tmp_path: Path, capsys: Capsys
) -> None:
    model = make_model("org/model", tag="org/model:main")
    code, out, err = _run(["store", "verify", "--json"], tmp_path, capsys)
    assert code == 0, err
    assert validated(out, "store-verify")["damaged"] == []
    weights = LayoutStore(_store(tmp_path)).blob_path(
        sha256_bytes(model.files["model.safetensors"])
    )
    weights.chmod(0o644)
    weights.write_bytes(b"X" + weights.read_bytes()[1:])  # an in-place edit through a hard link
    code, out, err = _run(["store", "verify", "--json"], tmp_path, capsys)
    assert code == 6
    (damaged,) = validated(out, "store-verify")["damaged"]
    assert damaged["path"] == str(weights)
    assert damaged["used_by"] == [f"org/model@{sha256_bytes(b'org/model').hex[:40]}"]
    lines = err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("error: 1 damaged blob(s) in the store")
    assert lines[1].startswith(f"hint: delete {weights}, then re-create what used it")


def test_an_in_place_edit_of_a_pulled_file_leaves_the_store_clean(
    make_model: MakeModel, tmp_path: Path, capsys: Capsys
) -> None:
    model = make_model("org/model", tag="org/model:main")
    out = tmp_path / "out"
    run = run_cli(["pull", model.ref, "-o", str(out), "--store", str(_store(tmp_path))], capsys)
    assert run.code == 0, run.err
    with (out / "config.json").open("r+b") as stream:  # as a script editing it in place would
        stream.write(b"[")
    code, out_text, err = _run(["store", "verify", "--json"], tmp_path, capsys)
    assert code == 0, err
    assert validated(out_text, "store-verify")["damaged"] == []
