"""``lfs commit`` of a Hub snapshot: the commit's tree is the Hub commit's tree, id for id."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from hubsnap.cli import main
from hubsnap.digest import Digest
from hubsnap.models import ANNOTATION_LFS
from hubsnap.oci.artifact import model_files
from hubsnap.oci.layout import LayoutStore
from support.hub import BASE, COMMITS, HfEnv, isolated_git_env

ROOT = Path(__file__).resolve().parents[1]
Run = Callable[..., tuple[int, str, str]]

pytestmark = pytest.mark.interop


@pytest.fixture
def run(
    hf_env: HfEnv,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Run:
    monkeypatch.setenv("HUBSNAP_HOME", str(tmp_path / "home"))
    for name in ("HUBSNAP_STORE", "HUBSNAP_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)

    def _run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            main(list(argv))
        out, err = capsys.readouterr()
        return int(exit_info.value.code or 0), out, err

    return _run


def hub_tree_ids(files: list[dict[str, object]]) -> dict[str, str]:
    """Tree ids the Hub emulator computes for its commits, from the Hub's own blob ids."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from hubemu.gitobj import TreeFile, tree_ids
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return tree_ids(TreeFile(str(f["path"]), str(f["git_blob_id"])) for f in files)


def test_minilm_main_commit_has_the_hubs_tree(run: Run, tmp_path: Path) -> None:
    code, out, err = run("snapshot", f"{BASE}@main", "-o", "snapshot.yaml")
    assert code == 0, err
    digest = out.strip().rsplit("@", 1)[1]
    document = yaml.safe_load((tmp_path / "snapshot.yaml").read_text())
    assert document["commit"] == COMMITS[BASE]["main"]
    # Each layer records whether the Hub keeps the file in LFS, as snapshot.yaml does.
    store = LayoutStore(tmp_path / "home" / "store")
    _, manifest = store.read_manifest(Digest.parse(digest))
    recorded = {
        path: layer.annotations.get(ANNOTATION_LFS) for path, layer in model_files(manifest)
    }
    assert recorded == {f["path"]: "true" if f["lfs"] else "false" for f in document["files"]}
    assert "true" in recorded.values() and "false" in recorded.values()
    repo = tmp_path / "repo"
    code, out, err = run("lfs", "commit", digest, "--repo", str(repo))
    assert code == 0, err
    sha = out.strip()

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
        ).stdout

    listing = {}
    for line in git("ls-tree", "-r", "--full-tree", sha).splitlines():
        meta, path = line.split("\t", 1)
        mode, _, blob = meta.split()
        listing[path] = (mode, blob)
    hub_files = document["files"]
    assert listing == {f["path"]: ("100644", f["git_blob_id"]) for f in hub_files}
    expected = hub_tree_ids(hub_files)
    assert git("rev-parse", f"{sha}^{{tree}}").strip() == expected[""]
    for directory, tree in expected.items():
        if directory:
            assert git("rev-parse", f"{sha}:{directory}").strip() == tree
    lfs_listed = set(git("lfs", "ls-files", "--name-only").splitlines())
    assert lfs_listed == {f["path"] for f in hub_files if f["lfs"]}
    assert "Git LFS fsck OK" in git("lfs", "fsck")
    trailers = git("log", "-1", "--format=%(trailers:only,unfold)").strip().splitlines()
    assert trailers == [
        f"Hubsnap-Artifact: {digest}",
        f"Hubsnap-Source: {document['source']}@{COMMITS[BASE]['main']}",
    ]


def test_commit_tree_equals_the_tree_of_the_hubs_git_commit(
    run: Run, hf_env: HfEnv, tmp_path: Path
) -> None:
    """Fetched over git's own protocol from the Hub (no LFS objects needed), the Hub's
    commit has exactly the tree ``lfs commit`` wrote for the snapshot of that commit."""
    code, out, err = run("snapshot", f"{BASE}@main")
    assert code == 0, err
    digest = out.strip().rsplit("@", 1)[1]
    repo = tmp_path / "repo"
    code, out, err = run("lfs", "commit", digest, "--repo", str(repo))
    assert code == 0, err
    ours = out.strip()
    env = isolated_git_env(tmp_path / "git-home")
    hub = hf_env.hub

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(repo), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    git("fetch", "--quiet", "--no-tags", hub.git_url(BASE), "main")
    assert git("rev-parse", "FETCH_HEAD") == COMMITS[BASE]["main"]
    assert git("rev-parse", "FETCH_HEAD^{tree}") == git("rev-parse", f"{ours}^{{tree}}")
    assert git("diff", "--stat", "FETCH_HEAD", ours) == ""
