"""``lfs commit`` checked end to end with the real tools.

- ``git lfs push`` to a ``file://`` bare remote, then a fresh clone + ``git lfs pull``, gives
  the artifact's files byte for byte;
- for every emulator revision, every file's blob id and every folder's tree id in the commit
  equal the Hub's tree listing, and ``git lfs ls-files`` / ``git lfs fsck`` agree;
- v2 committed on top of main changes exactly the paths whose Hub ids differ.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from huggingface_hub import HfApi
from huggingface_hub.hf_api import RepoFile, RepoFolder

from support.hub import BASE, FINETUNED, QUANTIZED, isolated_git_env
from support.lfs import FILES, LFS_PATHS, Run, cli_runner, commit, model

pytestmark = pytest.mark.interop


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Run:
    monkeypatch.chdir(tmp_path)
    return cli_runner(capsys, monkeypatch, tmp_path)


@pytest.fixture
def git_env(tmp_path: Path) -> dict[str, str]:
    return isolated_git_env(tmp_path / "git-home")


def git(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout


def snapshot_digest(run: Run, spec: str) -> str:
    code, out, err = run("snapshot", spec)
    assert code == 0, err
    return out.strip().rsplit("@", 1)[1]


def lfs_commit(run: Run, digest: str, repo: Path) -> str:
    code, out, err = run("lfs", "commit", digest, "--repo", str(repo))
    assert code == 0, err
    return out.strip()


def hub_listing(repo_id: str, revision: str) -> tuple[dict[str, RepoFile], dict[str, str]]:
    """The Hub's recursive tree listing: files by path, and each folder's tree id."""
    files: dict[str, RepoFile] = {}
    folders: dict[str, str] = {}
    for entry in HfApi().list_repo_tree(repo_id, revision=revision, recursive=True):
        if isinstance(entry, RepoFolder):
            folders[entry.path] = entry.tree_id
        else:
            files[entry.path] = entry
    return files, folders


def test_lfs_push_then_clone_and_pull_gives_the_same_bytes(
    run: Run, git_env: dict[str, str], tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    sha = commit(run, model(tmp_path), repo)
    remote = tmp_path / "remote.git"
    git(git_env, tmp_path, "init", "-q", "--bare", str(remote))
    git(git_env, repo, "remote", "add", "origin", remote.as_uri())
    git(git_env, repo, "lfs", "push", "origin", "main")
    oids = {hashlib.sha256(FILES[p]).hexdigest() for p in LFS_PATHS}
    pushed = {p.name for p in (remote / "lfs" / "objects").rglob("*") if p.is_file()}
    assert pushed == oids
    git(git_env, repo, "push", "-q", "origin", "main")

    clone = tmp_path / "clone"
    no_smudge = dict(git_env, GIT_LFS_SKIP_SMUDGE="1")
    git(no_smudge, tmp_path, "clone", "-q", "-b", "main", remote.as_uri(), str(clone))
    assert git(git_env, clone, "rev-parse", "HEAD").strip() == sha
    for path in LFS_PATHS:  # only pointers so far: the objects come with the pull
        assert (clone / path).read_bytes().startswith(b"version https://git-lfs.github.com/spec/v1")
    git(git_env, clone, "lfs", "pull", "origin")
    for path, data in FILES.items():
        assert (clone / path).read_bytes() == data, path
    assert sorted(
        p.relative_to(clone).as_posix()
        for p in clone.rglob("*")
        if ".git" not in p.parts and p.is_file()
    ) == sorted(FILES)
    assert git(git_env, clone, "status", "--porcelain") == ""
    assert "Git LFS fsck OK" in git(git_env, clone, "lfs", "fsck")


REVISIONS = [(BASE, "main"), (BASE, "v2"), (FINETUNED, "main"), (QUANTIZED, "main")]


@pytest.mark.hub
@pytest.mark.usefixtures("hf_env")
@pytest.mark.parametrize(("repo_id", "revision"), REVISIONS)
def test_every_blob_and_tree_id_equals_the_hubs_listing(
    run: Run, git_env: dict[str, str], tmp_path: Path, repo_id: str, revision: str
) -> None:
    digest = snapshot_digest(run, f"{repo_id}@{revision}")
    repo = tmp_path / "repo"
    sha = lfs_commit(run, digest, repo)
    files, folders = hub_listing(repo_id, revision)
    listing: dict[str, str] = {}
    for line in git(git_env, repo, "ls-tree", "-r", "-t", "--full-tree", sha).splitlines():
        meta, path = line.split("\t", 1)
        listing[path] = meta.split()[2]
    assert folders  # folders' tree ids are checked too
    assert listing == {p: f.blob_id for p, f in files.items()} | folders
    lfs_listed = {}
    for line in git(git_env, repo, "lfs", "ls-files", "--long").splitlines():
        oid, _, path = line.split(" ", 2)
        lfs_listed[path] = oid
    assert lfs_listed == {p: f.lfs.sha256 for p, f in files.items() if f.lfs is not None}
    assert lfs_listed  # every fixture revision keeps its weights in LFS
    assert "Git LFS fsck OK" in git(git_env, repo, "lfs", "fsck")


@pytest.mark.hub
@pytest.mark.usefixtures("hf_env")
def test_v2_on_top_of_main_changes_exactly_the_paths_the_hub_changed(
    run: Run, git_env: dict[str, str], tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    first = lfs_commit(run, snapshot_digest(run, f"{BASE}@main"), repo)
    second = lfs_commit(run, snapshot_digest(run, f"{BASE}@v2"), repo)
    assert git(git_env, repo, "rev-parse", f"{second}^").strip() == first
    main_files, _ = hub_listing(BASE, "main")
    v2_files, _ = hub_listing(BASE, "v2")
    changed = {
        path
        for path in main_files.keys() | v2_files.keys()
        if path not in main_files
        or path not in v2_files
        or main_files[path].blob_id != v2_files[path].blob_id
    }
    assert changed  # v2 changes tokens, config and weights
    stat = git(git_env, repo, "diff", "--stat=1000,900", "--no-renames", first, second).splitlines()
    assert stat[-1].strip().startswith(f"{len(changed)} file")
    assert {line.split("|", 1)[0].strip() for line in stat[:-1]} == changed
    names = git(git_env, repo, "diff", "--name-only", "--no-renames", first, second)
    assert set(names.splitlines()) == changed
    assert git(git_env, repo, "status", "--porcelain") == ""
    assert "Git LFS fsck OK" in git(git_env, repo, "lfs", "fsck")
