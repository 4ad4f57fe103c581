"""``hubsnap lfs verify``: a commit against the artifact its trailer names, and its signatures."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import jsonschema
import pytest

from support.keys import build_model
from support.lfs import Run, cli_runner, commit, git, model

pytestmark = pytest.mark.interop
SCHEMA = json.loads(
    (Path(__file__).resolve().parents[1] / "schemas" / "lfs-verify-result.schema.json").read_text()
)


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Run:
    return cli_runner(capsys, monkeypatch, tmp_path)


def test_a_commit_written_by_lfs_commit_verifies(run: Run, tmp_path: Path) -> None:
    source = model(tmp_path)
    repo = tmp_path / "repo"
    sha = commit(run, source, repo)
    code, out, err = run("lfs", "verify", str(repo), "--store", str(source.store), "--json")
    assert code == 0, err
    result = json.loads(out)
    jsonschema.validate(result, SCHEMA)
    assert result == {
        "schema": "hubsnap.dev/lfs-verify/v1",
        "commit": sha,
        "artifact": str(source.digest),
        "tree_matches": True,
        "differences": [],
        "signatures": None,
    }
    code, out, err = run("lfs", "verify", f"{repo}@main", "--store", str(source.store))
    assert code == 0, err
    assert "tree matches the artifact" in out
    assert "signatures not checked" in out


def test_a_changed_tree_fails_with_the_paths(run: Run, tmp_path: Path) -> None:
    source = model(tmp_path)
    repo = tmp_path / "repo"
    commit(run, source, repo)
    (repo / "README.md").write_bytes(b"edited\n")
    (repo / "extra.txt").write_bytes(b"new\n")
    git(repo, "add", "README.md", "extra.txt")
    message = f"edit\n\nHubsnap-Artifact: {source.digest}\n"
    subprocess.run(["git", "-C", str(repo), "commit", "-q", "-m", message], check=True)
    code, out, err = run("lfs", "verify", str(repo), "--store", str(source.store))
    assert code == 6
    assert "README.md: blob" in out and "extra.txt: not in the artifact" in out
    assert err.splitlines()[0].startswith("error: commit ")
    assert "differs from" in err and "in 2 path(s): README.md: blob" in err
    code, _, err = run("lfs", "verify", f"{repo}@HEAD~1", "--store", str(source.store))
    assert code == 0, err


def test_a_commit_without_the_trailer_is_a_failed_check(run: Run, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    source = model(tmp_path)
    commit(run, source, repo)
    subprocess.run(
        ["git", "-C", str(repo), "commit", "-q", "--allow-empty", "-m", "plain"], check=True
    )
    code, out, err = run("lfs", "verify", str(repo), "--store", str(source.store))
    assert code == 1
    assert out == ""
    assert "has no Hubsnap-Artifact trailer" in err


def test_unknown_revision_and_missing_artifact(run: Run, tmp_path: Path) -> None:
    source = model(tmp_path)
    repo = tmp_path / "repo"
    commit(run, source, repo)
    code, _, err = run("lfs", "verify", f"{repo}@nope", "--store", str(source.store))
    assert code == 3
    assert "revision 'nope' not found" in err
    elsewhere = build_model(tmp_path / "other-store", "org/other", files={"a.txt": b"a"})
    code, _, err = run("lfs", "verify", str(repo), "--store", str(elsewhere.store))
    assert code == 3, err


def test_signatures_are_checked_with_a_key(
    run: Run, tmp_path: Path, key_pair: tuple[Path, Path]
) -> None:
    private, public = key_pair
    source = model(tmp_path)
    repo = tmp_path / "repo"
    commit(run, source, repo)
    store = str(source.store)
    code, _, err = run("lfs", "verify", str(repo), "--store", store, "--key", str(public))
    assert code == 6, err  # not signed yet
    code, _, err = run("sign", source.ref, "--key", str(private))
    assert code == 0, err
    code, out, err = run("lfs", "verify", str(repo), "--store", store, "--key", str(public))
    assert code == 0, err
    assert "signatures verified" in out
    code, out, err = run(
        "lfs", "verify", str(repo), "--store", store, "--key", str(public), "--json"
    )
    assert code == 0, err
    jsonschema.validate(json.loads(out), SCHEMA)
    assert json.loads(out)["signatures"]["digest"] == str(source.digest)
