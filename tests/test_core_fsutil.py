"""Safe placement: remote paths are checked, symlinks refused, writes atomic."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from hubsnap.errors import IntegrityError
from hubsnap.fsutil import (
    atomic_write_bytes,
    atomic_writer,
    check_checkout_path,
    check_relative_path,
    ensure_dir_no_symlinks,
    safe_destination,
)


@pytest.mark.parametrize(
    "name",
    ["", "/abs", "../up", "a/../b", "a/./b", "a//b", "a/", "a\\b", "C:/x", "c:x", "a\x00b",
     "tab\there", "..", "."],
)  # fmt: skip
def test_unsafe_names_are_refused(name: str) -> None:
    with pytest.raises(IntegrityError, match="refusing"):
        check_relative_path(name)


@pytest.mark.parametrize("name", ["a", "a/b/c.json", ".gitattributes", "a..b", "1_Pooling/x"])
def test_safe_names_are_accepted(name: str) -> None:
    assert check_relative_path(name) == PurePosixPath(name)


def test_safe_destination_creates_parents(tmp_path: Path) -> None:
    target = safe_destination(tmp_path / "root", "a/b/c.txt")
    assert target == tmp_path / "root" / "a" / "b" / "c.txt"
    assert target.parent.is_dir() and not target.exists()


def test_symlinked_parent_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "a").symlink_to(outside)
    with pytest.raises(IntegrityError, match="symlink"):
        safe_destination(root, "a/c.txt")
    with pytest.raises(IntegrityError, match="symlink"):
        ensure_dir_no_symlinks(root, PurePosixPath("a/b"))
    assert list(outside.iterdir()) == []


def test_symlink_at_destination_and_symlinked_root_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "f").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(IntegrityError, match="replace symlink"):
        safe_destination(root, "f")
    link = tmp_path / "link"
    link.symlink_to(root)
    with pytest.raises(IntegrityError, match="through symlink"):
        safe_destination(link, "g")


def test_directory_at_destination_is_refused(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(IntegrityError, match="replace directory"):
        safe_destination(tmp_path, "d")


def test_atomic_write_replaces_whole_file_with_mode(tmp_path: Path) -> None:
    target = tmp_path / "x" / "f.yaml"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two", mode=0o600)
    assert target.read_bytes() == b"two"
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["f.yaml"]


def test_atomic_writer_leaves_nothing_on_error(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_writer(target) as stream:
        stream.write(b"half")
        raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]
    fresh = tmp_path / "new"
    with pytest.raises(RuntimeError), atomic_writer(fresh) as stream:
        raise RuntimeError("boom")
    assert not fresh.exists() and [p.name for p in tmp_path.iterdir()] == ["f"]


@pytest.mark.parametrize(
    "name",
    [".git", ".git/config", ".GIT/config", "a/.Git/hooks/post-checkout", ".git./x", ".git /x",
     ".git.. ./x", "git~1/config", "Git~1", "sub/GIT~1/x"],
)  # fmt: skip
def test_git_directories_in_any_spelling_are_refused_for_checkouts(name: str) -> None:
    assert check_relative_path(name) == PurePosixPath(name)  # an artifact may carry them
    with pytest.raises(IntegrityError, match=r"has a '\.git' component"):
        check_checkout_path(name)


@pytest.mark.parametrize(
    "name", [".gitignore", ".gitmodules-x", "a.git", "git", "git~2/x", "x.git/y"]
)
def test_names_that_only_look_like_git_are_accepted(name: str) -> None:
    assert check_checkout_path(name) == PurePosixPath(name)


@pytest.mark.parametrize("name", ["del\x7fete", "c1\x85line", "esc\x1b[2J"])
def test_every_control_character_is_refused(name: str) -> None:
    with pytest.raises(IntegrityError, match="control characters"):
        check_relative_path(name)
