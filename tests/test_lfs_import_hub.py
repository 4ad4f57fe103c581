"""``lfs import`` against the Hub emulator: the same digests as ``snapshot``, both ways round.

- snapshot → ``lfs commit`` → ``lfs import`` gives the snapshot's digest;
- a ``git clone`` of the Hub repository at commit C (objects left on the server) imports,
  with ``--source https://huggingface.co/REPO``, to ``snapshot REPO@C``'s digest, the missing
  objects fetched with git-lfs from the emulator's LFS batch API.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from hubsnap.cli import main
from support.hub import BASE, COMMITS, HfEnv, isolated_git_env

Run = Callable[..., tuple[int, str, str]]
SOURCE = f"https://huggingface.co/{BASE}"

pytestmark = [pytest.mark.hub, pytest.mark.interop]


@pytest.fixture
def run(
    hf_env: HfEnv,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Run:
    monkeypatch.setenv("HUBSNAP_HOME", str(tmp_path / "home"))
    for name in ("HUBSNAP_STORE", "HUBSNAP_DEBUG", "HUBSNAP_HUB_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)

    def _run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            main(list(argv))
        out, err = capsys.readouterr()
        return int(exit_info.value.code or 0), out, err

    return _run


def snapshot_digest(run: Run, spec: str) -> str:
    code, out, err = run("snapshot", spec)
    assert code == 0, err
    return out.strip().rsplit("@", 1)[1]


def test_snapshot_commit_import_gives_the_snapshots_digest(run: Run, tmp_path: Path) -> None:
    digest = snapshot_digest(run, f"{BASE}@main")
    repo = tmp_path / "repo"
    code, out, err = run("lfs", "commit", digest, "--repo", str(repo))
    assert code == 0, err
    code, out, err = run("lfs", "import", str(repo), "--json")
    assert code == 0, err
    assert err == ""
    result = json.loads(out)
    assert result["digest"] == digest
    assert result["named"] == digest
    assert (result["source"], result["revision"]) == (SOURCE, COMMITS[BASE]["main"])


def test_a_clone_of_the_hub_imports_to_the_snapshots_digest(
    run: Run, hf_env: HfEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = isolated_git_env(tmp_path / "git-home")
    clone = tmp_path / "clone"
    # No object is downloaded by the clone: lfs import fetches what it needs with git-lfs.
    subprocess.run(
        ["git", "clone", "-q", "--no-checkout", hf_env.hub.git_url(BASE), str(clone)],
        env=env | {"GIT_LFS_SKIP_SMUDGE": "1"},
        check=True,
        timeout=300,
    )
    monkeypatch.setenv("HOME", env["HOME"])
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", env["GIT_CONFIG_GLOBAL"])
    for revision in ("main", "v2"):
        commit = COMMITS[BASE][revision]
        expected = snapshot_digest(run, f"{BASE}@{commit}")
        code, out, err = run("lfs", "import", f"{clone}@{commit}", "--source", SOURCE, "--json")
        assert code == 0, err
        result = json.loads(out)
        assert result["digest"] == expected, revision
        assert (result["source"], result["revision"], result["named"]) == (SOURCE, commit, None)
        assert result["fetched"] > 0  # every object came through git-lfs
        assert err.splitlines() == [f"fetched {result['fetched']} Git LFS object(s) with git-lfs"]
