"""``hubsnap lfs commit``: an artifact as one reproducible commit of LFS pointers, checked
with real git and git-lfs (pointer checks, ``fsck``, ``ls-files``, smudged working trees)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import jsonschema
import pytest

from hubsnap.lfs.pointer import Verdict, check_pointer
from support.keys import Model
from support.lfs import FILES, LFS_PATHS, Run, cli_runner, commit, git, git_bytes, model

pytestmark = pytest.mark.interop


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Run:
    return cli_runner(capsys, monkeypatch, tmp_path)


SCHEMA = json.loads(
    (Path(__file__).resolve().parents[1] / "schemas" / "lfs-commit-result.schema.json").read_text()
)


def test_commit_is_pointers_git_lfs_accepts(run: Run, tmp_path: Path) -> None:
    source = model(tmp_path)
    repo = tmp_path / "repo"
    sha = commit(run, source, repo)
    assert sha == git(repo, "rev-parse", "HEAD")
    assert git(repo, "symbolic-ref", "--short", "HEAD") == "main"
    assert git(repo, "ls-tree", "-r", "--name-only", "HEAD").splitlines() == sorted(FILES)
    for path, data in FILES.items():
        blob = git_bytes(repo, "cat-file", "blob", f"HEAD:{path}")
        if path in LFS_PATHS:
            assert (
                blob
                == (
                    f"version https://git-lfs.github.com/spec/v1\n"
                    f"oid sha256:{hashlib.sha256(data).hexdigest()}\nsize {len(data)}\n"
                ).encode()
            )
            pointer_file = tmp_path / "pointer"
            pointer_file.write_bytes(blob)
            check = subprocess.run(
                ["git", "lfs", "pointer", "--check", "--strict", "--file", str(pointer_file)],
                check=False,
            )
            assert check.returncode == 0, path
            assert check_pointer(blob).verdict is Verdict.CANONICAL
            obj = repo / ".git/lfs/objects" / blob_oid(data)[:2] / blob_oid(data)[2:4]
            assert (obj / blob_oid(data)).stat().st_ino == source_blob(source, data).stat().st_ino
        else:
            assert blob == data
        # The working tree holds the real files, smudged from the local LFS objects.
        assert (repo / path).read_bytes() == data
    assert "Git LFS fsck OK" in git(repo, "lfs", "fsck")
    listed = {
        line.split()[-1]: line.split()[0]
        for line in git(repo, "lfs", "ls-files", "--long").splitlines()
    }
    assert listed == {p: hashlib.sha256(FILES[p]).hexdigest() for p in LFS_PATHS}
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "config", "branch.main.hubsnapArtifact") == str(source.digest)
    assert (repo / ".git/hooks/pre-push").is_file()  # git lfs install --local
    message = git(repo, "log", "-1", "--format=%B")
    assert message.splitlines() == [
        f"Add org/model at {'a' * 12}",
        "",
        f"Hubsnap-Artifact: {source.digest}",
        f"Hubsnap-Source: https://huggingface.co/org/model@{'a' * 40}",
    ]
    assert git(repo, "log", "-1", "--format=%an <%ae> %aI|%cn <%ce> %cI") == (
        "hubsnap <hubsnap@invalid> 2024-06-01T00:00:00+00:00|"
        "hubsnap <hubsnap@invalid> 2024-06-01T00:00:00+00:00"
    )


def blob_oid(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def source_blob(source: Model, data: bytes) -> Path:
    return source.store / "blobs" / "sha256" / blob_oid(data)


def test_reproducible_and_idempotent(run: Run, tmp_path: Path) -> None:
    source = model(tmp_path)
    first = commit(run, source, tmp_path / "one")
    second = commit(run, source, tmp_path / "two")
    assert first == second
    code, out, err = run("lfs", "commit", source.ref, "--repo", str(tmp_path / "one"), "--json")
    assert code == 0, err
    assert "unchanged" in err
    jsonschema.validate(json.loads(out), SCHEMA)
    assert json.loads(out) == {
        "schema": "hubsnap.dev/lfs-commit/v1",
        "commit": first,
        "branch": "main",
        "artifact": str(source.digest),
        "changed": False,
    }
    assert git(tmp_path / "one", "rev-list", "--count", "HEAD") == "1"


def test_next_artifact_on_top_moves_the_working_tree(run: Run, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    first = commit(run, model(tmp_path), repo)
    changed = dict(FILES, **{"model.safetensors": b"new weights" * 50})
    del changed["tokenizer/vocab.txt"]
    second_model = model(tmp_path, changed, commit="b" * 40)
    second = commit(run, second_model, repo, "--json")
    result = json.loads(second)
    jsonschema.validate(result, SCHEMA)
    assert result["changed"] is True
    assert git(repo, "rev-parse", "HEAD^") == first
    assert (repo / "model.safetensors").read_bytes() == b"new weights" * 50
    assert not (repo / "tokenizer").exists()
    assert git(repo, "status", "--porcelain") == ""
    assert "Git LFS fsck OK" in git(repo, "lfs", "fsck")
    assert git(repo, "config", "branch.main.hubsnapArtifact") == str(second_model.digest)


def test_dirty_working_tree_is_refused_and_nothing_changes(run: Run, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    first = commit(run, model(tmp_path), repo)
    (repo / "README.md").write_bytes(b"local edit\n")
    objects = sorted(p.name for p in (repo / ".git/lfs/objects").rglob("*") if p.is_file())
    config = (repo / ".git/config").read_bytes()
    other = model(tmp_path, dict(FILES, **{"model.safetensors": b"other"}), commit="c" * 40)
    code, out, err = run("lfs", "commit", other.ref, "--repo", str(repo))
    assert code == 2
    assert out == ""
    assert err.splitlines()[0] == f"error: {repo} has uncommitted changes"
    assert git(repo, "rev-parse", "HEAD") == first
    assert (repo / "README.md").read_bytes() == b"local edit\n"
    assert sorted(p.name for p in (repo / ".git/lfs/objects").rglob("*") if p.is_file()) == objects
    assert (repo / ".git/config").read_bytes() == config


def test_other_branch_moves_only_its_ref(run: Run, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    first = commit(run, model(tmp_path), repo)
    other = model(tmp_path, dict(FILES, **{"README.md": b"other\n"}), commit="d" * 40)
    sha = commit(run, other, repo, "--branch", "release", "--no-lock", "-m", "Release it")
    assert git(repo, "rev-parse", "HEAD") == first
    assert git(repo, "rev-parse", "release") == sha
    assert (repo / "README.md").read_bytes() == FILES["README.md"]
    assert git(repo, "log", "-1", "--format=%s", "release") == "Release it"
    config = subprocess.run(
        ["git", "-C", str(repo), "config", "branch.release.hubsnapArtifact"], check=False
    )
    assert config.returncode == 1


def test_author_override(run: Run, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commit(run, model(tmp_path), repo, "--author", "Ada <ada@example.org>")
    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>") == (
        "Ada <ada@example.org>|Ada <ada@example.org>"
    )
    code, _, err = run(
        "lfs", "commit", model(tmp_path).ref, "--repo", str(repo), "--author", "nobody"
    )
    assert code == 2
    assert err.startswith("error: invalid identity")


def test_without_attributes_weights_and_large_files_go_to_lfs(run: Run, tmp_path: Path) -> None:
    files = {
        "config.json": b"{}\n",
        "model.bin": b"small weights",
        "big.txt": b"x" * (10 * 1024 * 1024),
    }
    repo = tmp_path / "repo"
    commit(run, model(tmp_path, files), repo)
    listed = set(git(repo, "lfs", "ls-files", "--name-only").splitlines())
    assert listed == {"model.bin", "big.txt"}


def test_missing_artifact_leaves_nothing(run: Run, tmp_path: Path) -> None:
    source = model(tmp_path)
    repo = tmp_path / "repo"
    missing = f"oci:{source.store}@sha256:{'0' * 64}"
    code, out, err = run("lfs", "commit", missing, "--repo", str(repo))
    assert code == 3, err
    assert out == ""
    assert not repo.exists()


def test_directory_that_is_not_a_repository(run: Run, tmp_path: Path) -> None:
    directory = tmp_path / "plain"
    directory.mkdir()
    (directory / "file").write_text("x")
    code, _, err = run("lfs", "commit", model(tmp_path).ref, "--repo", str(directory))
    assert code == 2
    assert err.splitlines()[0] == f"error: {directory} exists and is not a git repository"


def test_untracked_file_in_the_way_rolls_the_branch_back(run: Run, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    first = commit(run, model(tmp_path), repo)
    (repo / "NOTES.md").write_bytes(b"mine, untracked\n")
    other = model(tmp_path, dict(FILES, **{"NOTES.md": b"from the artifact\n"}), commit="e" * 40)
    code, out, err = run("lfs", "commit", other.ref, "--repo", str(repo))
    assert code == 2
    assert out == ""
    assert err.startswith("error: cannot update the working tree:")
    assert git(repo, "rev-parse", "HEAD") == first
    assert (repo / "NOTES.md").read_bytes() == b"mine, untracked\n"
    assert git(repo, "status", "--porcelain") == "?? NOTES.md"
    assert git(repo, "config", "branch.main.hubsnapArtifact") != str(other.digest)
