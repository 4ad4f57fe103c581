"""The fast-import writer: reproducible commits whose trees git and :func:`tree_ids` agree on."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from hubsnap.errors import IntegrityError, UsageError
from hubsnap.lfs.fastimport import (
    MODE_EXECUTABLE,
    MODE_FILE,
    CommitRequest,
    Identity,
    TreeFile,
    blob_id,
    fast_import,
    tree_ids,
)
from hubsnap.lfs.repo import GitRepository

HUBSNAP = Identity("hubsnap", "hubsnap@invalid")
EPOCH = 1_700_000_000


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def files(tmp_path: Path) -> list[TreeFile]:
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * 1000)
    return [
        TreeFile("README.md", MODE_FILE, b"# model\n"),
        TreeFile("a/b/c.txt", MODE_FILE, b"deep\n"),
        TreeFile("a/b.txt", MODE_FILE, b"b\n"),
        TreeFile("a-b", MODE_FILE, b"sorts before a/ in a tree\n"),
        TreeFile("run.sh", MODE_EXECUTABLE, b"#!/bin/sh\n"),
        TreeFile('we"ird\\na\tme \u00e9.txt', MODE_FILE, b"quoted path\n"),
        TreeFile("weights/big.bin", MODE_FILE, source=big, size=256_000),
    ]


def request(tree: list[TreeFile], parent: str | None, message: str = "one\n") -> CommitRequest:
    return CommitRequest("main", tree, HUBSNAP, HUBSNAP, EPOCH, message, parent)


def test_same_request_same_commit_in_two_repositories(tmp_path: Path) -> None:
    tree = files(tmp_path)
    ids = []
    for name in ("one", "two"):
        repo = GitRepository.create(tmp_path / name, "main")
        fast_import(repo.root, request(tree, None, "snapshot\n\nHubsnap-Artifact: sha256:x\n"))
        tip = repo.branch_tip("main")
        assert tip is not None
        ids.append(tip)
        info = repo.commit(tip)
        assert info.trailers == {"Hubsnap-Artifact": "sha256:x"}
        assert info.parents == ()
        expected = tree_ids((f.path, f.mode, f.blob_id()) for f in tree)
        assert info.tree == expected[""]
        assert git(repo.root, "rev-parse", f"{tip}:a") == expected["a"]
        assert git(repo.root, "rev-parse", f"{tip}:a/b") == expected["a/b"]
        entries = repo.tree_entries(tip)
        assert {p: m for p, (m, _) in entries.items()} == {f.path: f.mode for f in tree}
        assert git(repo.root, "log", "-1", "--format=%an <%ae> %at|%cn <%ce> %ct") == (
            f"hubsnap <hubsnap@invalid> {EPOCH}|hubsnap <hubsnap@invalid> {EPOCH}"
        )
        stored = subprocess.run(
            ["git", "-C", str(repo.root), "cat-file", "blob", f"{tip}:weights/big.bin"],
            capture_output=True,
            check=True,
        ).stdout
        assert stored == bytes(range(256)) * 1000
        assert git(repo.root, "fsck", "--strict", "--no-dangling") == ""
    assert ids[0] == ids[1]


def test_blob_id_is_git_hash_object(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"hello\n")
    assert blob_id(b"hello\n") == git(tmp_path, "hash-object", str(path))


def test_second_commit_replaces_the_tree_on_its_parent(tmp_path: Path) -> None:
    repo = GitRepository.create(tmp_path / "r", "main")
    fast_import(repo.root, request(files(tmp_path), None))
    first = repo.branch_tip("main")
    fast_import(repo.root, request([TreeFile("only.txt", MODE_FILE, b"x")], first, "two\n"))
    second = repo.branch_tip("main")
    assert second != first
    assert repo.commit(second or "").parents == (first,)
    assert list(repo.tree_entries(second or "")) == ["only.txt"]


def test_wrong_parent_is_refused_and_branch_kept(tmp_path: Path) -> None:
    repo = GitRepository.create(tmp_path / "r", "main")
    fast_import(repo.root, request(files(tmp_path), None))
    first = repo.branch_tip("main")
    with pytest.raises(IntegrityError, match="fast-import"):
        fast_import(repo.root, request([TreeFile("x", MODE_FILE, b"x")], None))
    assert repo.branch_tip("main") == first


def test_identity_parsing() -> None:
    assert Identity.parse("Ada Lovelace <ada@example.org>") == Identity(
        "Ada Lovelace", "ada@example.org"
    )
    for bad in ("no email", "<only@email>", "a <b> c", "a\n <b>"):
        with pytest.raises(UsageError):
            Identity.parse(bad)
