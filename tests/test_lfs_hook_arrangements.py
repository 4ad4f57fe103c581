"""hubsnap's hooks beside everyone else's, one real arrangement per test.

Each arrangement commits and pushes with real git, git-lfs (and husky's runner or the
pre-commit framework from PyPI) and asserts that hubsnap's check ran, that git-lfs's pre-push
ran too, and that both read exactly the refs git wrote on the hook's stdin. Both sides are
traced by wrappers: ``git-lfs`` first on ``PATH``, and the Python that hubsnap's hook runs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support.hub import isolated_git_env
from support.lfs import FILES, Run, cli_runner, commit, git, model

pytestmark = pytest.mark.interop
ROOT = Path(__file__).resolve().parents[1]
ZERO = "0" * 40
OID = hashlib.sha256(FILES["model.safetensors"]).hexdigest()

_TRACE = """#!/bin/sh
if [ "${position}" = "{stage}" ]; then
  tmp="$(mktemp)"
  cat > "$tmp"
  cat "$tmp" >> "{log}"
  "{real}" "$@" < "$tmp"
  rc=$?
  rm -f "$tmp"
  exit $rc
fi
exec "{real}" "$@"
"""


class Traced:
    """The environment git runs in, with stdin of every pre-push traced to two logs."""

    def __init__(self, tmp_path: Path, store: Path) -> None:
        self.bin = tmp_path / "trace-bin"
        self.bin.mkdir()
        self.lfs_log = tmp_path / "git-lfs-pre-push.stdin"
        self.hubsnap_log = tmp_path / "hubsnap-pre-push.stdin"
        real_lfs = shutil.which("git-lfs")
        assert real_lfs is not None
        self._write(self.bin / "git-lfs", position="1", stage="pre-push", log=self.lfs_log,
                    real=real_lfs)  # fmt: skip
        self.python = tmp_path / "trace-python"
        self._write(self.python, position="3", stage="pre-push", log=self.hubsnap_log,
                    real=sys.executable)  # fmt: skip
        self.env = isolated_git_env(tmp_path / "git-home")
        self.env |= {
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "HUBSNAP_STORE": str(store),
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        }

    @staticmethod
    def _write(path: Path, **values: object) -> None:
        text = _TRACE
        for key, value in values.items():
            text = text.replace("{" + key + "}", str(value))
        path.write_text(text)
        path.chmod(0o755)

    def git(self, repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "-C", str(repo), *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )

    def stdin_of(self) -> tuple[str, str]:
        """What hubsnap's pre-push and git-lfs's read, and forget it."""
        seen = tuple(p.read_text() if p.exists() else "" for p in (self.hubsnap_log, self.lfs_log))
        for path in (self.hubsnap_log, self.lfs_log):
            path.unlink(missing_ok=True)
        return seen[0], seen[1]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Run:
    return cli_runner(capsys, monkeypatch, tmp_path)


def setup(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str, Traced]:
    """A repository holding one artifact commit, a bare remote, and the tracing wrappers."""
    source = model(tmp_path)
    repo = tmp_path / "repo"
    sha = commit(run, source, repo)
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    git(repo, "remote", "add", "origin", str(remote))
    traced = Traced(tmp_path, source.store)
    # hubsnap's hooks run the Python they were installed from: make that the tracing one.
    monkeypatch.setattr(sys, "executable", str(traced.python))
    return repo, sha, traced


def stage_raw(repo: Path, path: str, data: bytes) -> None:
    blob = (
        subprocess.run(
            ["git", "-C", str(repo), "hash-object", "-w", "--no-filters", "--stdin"],
            input=data,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .strip()
    )
    git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}")


def refuses_a_raw_weight(traced: Traced, repo: Path) -> None:
    stage_raw(repo, "model.safetensors", b"raw weights, filter bypassed")
    done = traced.git(repo, "commit", "-qm", "raw")
    assert done.returncode == 1
    assert "model.safetensors: not a canonical Git LFS pointer" in done.stderr
    git(repo, "reset", "-q", "--", "model.safetensors")


def pushes_with_both(traced: Traced, repo: Path, sha: str, *, hubsnap: bool = True) -> None:
    """A push that runs hubsnap's pre-push (unless told) and git-lfs's on the same stdin."""
    done = traced.git(repo, "push", "-q", "origin", "main")
    assert done.returncode == 0, done.stderr
    ours, lfs = traced.stdin_of()
    assert lfs == f"refs/heads/main {sha} refs/heads/main {ZERO}\n"
    assert ours == (lfs if hubsnap else "")
    remote = repo.parent / "remote.git"
    assert git(remote, "rev-parse", "main") == sha
    assert (remote / "lfs/objects" / OID[:2] / OID[2:4] / OID).is_file()


def test_plain_git_lfs_hooks(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo, sha, traced = setup(run, tmp_path, monkeypatch)
    code, _, err = run("hooks", "install", "--repo", str(repo))
    assert code == 0, err
    refuses_a_raw_weight(traced, repo)
    pushes_with_both(traced, repo, sha)


def write_husky(repo: Path, log: Path) -> None:
    """husky 9's layout: ``core.hooksPath=.husky/_``, whose hooks run ``.husky/NAME``."""
    runner = repo / ".husky/_"
    runner.mkdir(parents=True)
    (runner / "h").write_text(
        '#!/usr/bin/env sh\nn=$(basename "$0")\ns=$(dirname "$(dirname "$0")")/$n\n'
        '[ ! -f "$s" ] && exit 0\nsh -e "$s" "$@"\n'
    )
    for name in ("pre-commit", "pre-push"):
        (runner / name).write_text('#!/usr/bin/env sh\n. "$(dirname "$0")/h"\n')
        (runner / name).chmod(0o755)
    (repo / ".husky/pre-commit").write_text(f"echo husky >> {log}\n")
    (repo / ".husky/pre-push").write_text('git lfs pre-push "$@"\n')
    git(repo, "config", "core.hooksPath", ".husky/_")


def test_husky_core_hooks_path(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo, _, traced = setup(run, tmp_path, monkeypatch)
    husky_log = tmp_path / "husky.log"
    write_husky(repo, husky_log)
    code, _, err = run("hooks", "install", "--repo", str(repo))
    assert code == 2  # husky's hooks are not git-lfs's: only chained when asked
    assert "pass --chain" in err
    code, _, err = run("hooks", "install", "--repo", str(repo), "--chain")
    assert code == 0, err
    assert (repo / ".husky/_/pre-push.hubsnap-chained").is_file()
    refuses_a_raw_weight(traced, repo)
    assert not husky_log.exists()  # a refused commit stops before husky's hook
    (repo / "notes.txt").write_text("fine\n")
    git(repo, "add", "notes.txt")
    done = traced.git(repo, "commit", "-qm", "notes")
    assert done.returncode == 0, done.stderr
    assert husky_log.read_text() == "husky\n"  # husky's runner found .husky/pre-commit
    pushes_with_both(traced, repo, git(repo, "rev-parse", "HEAD"))


def test_git_lfs_install_after_ours(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, sha, traced = setup(run, tmp_path, monkeypatch)
    code, _, err = run("hooks", "install", "--repo", str(repo))
    assert code == 0, err
    hooks = repo / ".git/hooks"
    ours = {name: (hooks / name).read_text() for name in ("pre-commit", "pre-push")}
    done = traced.git(repo, "lfs", "install", "--local")
    assert "Hook already exists: pre-push" in done.stderr  # git-lfs leaves a hook it does not know
    assert {name: (hooks / name).read_text() for name in ours} == ours
    refuses_a_raw_weight(traced, repo)
    pushes_with_both(traced, repo, sha)
    # --force puts git-lfs's own pre-push back: only git-lfs runs, pre-commit is untouched.
    done = traced.git(repo, "lfs", "install", "--local", "--force")
    assert done.returncode == 0, done.stderr
    assert "hubsnap" not in (hooks / "pre-push").read_text()
    assert (hooks / "pre-commit").read_text() == ours["pre-commit"]
    traced.git(repo, "commit", "--allow-empty", "-qm", "next", "--no-verify")
    after = git(repo, "rev-parse", "HEAD")
    done = traced.git(repo, "push", "-q", "origin", "main")
    assert done.returncode == 0, done.stderr
    assert traced.stdin_of() == ("", f"refs/heads/main {after} refs/heads/main {sha}\n")
    # Installing again restores the chain.
    code, _, err = run("hooks", "install", "--repo", str(repo))
    assert code == 0, err
    assert {name: (hooks / name).read_text() for name in ours} == ours
    traced.git(repo, "commit", "--allow-empty", "-qm", "last", "--no-verify")
    last = git(repo, "rev-parse", "HEAD")
    done = traced.git(repo, "push", "-q", "origin", "main")
    assert done.returncode == 0, done.stderr
    stdin = f"refs/heads/main {last} refs/heads/main {after}\n"
    assert traced.stdin_of() == (stdin, stdin)


def test_pre_commit_framework(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """hubsnap's checks as the pre-commit framework runs them from .pre-commit-hooks.yaml
    (a clone of this repository, installed by pre-commit into its own environment)."""
    pre_commit = Path(sys.executable).parent / "pre-commit"
    if not pre_commit.exists():
        pre_commit = Path(shutil.which("pre-commit") or "pre-commit")
    repo, sha, traced = setup(run, tmp_path, monkeypatch)
    traced.env["PRE_COMMIT_HOME"] = str(tmp_path / "pre-commit-home")
    hubsnap = tmp_path / "hubsnap-src"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(hubsnap)], check=True, timeout=300)
    rev = git(hubsnap, "rev-parse", "HEAD")

    def framework(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(pre_commit), *args],
            cwd=repo,
            env=traced.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )

    # try-repo: the pre-commit stage refuses a raw weight, naming it.
    # (the working tree's file is left out of the framework's stash of unstaged changes)
    stage_raw(repo, "model.safetensors", b"raw weights, filter bypassed")
    git(repo, "update-index", "--assume-unchanged", "model.safetensors")
    done = framework("try-repo", str(hubsnap), "hubsnap-lfs-pointers")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "hubsnap pre-commit: model.safetensors: not a canonical Git LFS pointer" in done.stdout
    git(repo, "update-index", "--no-assume-unchanged", "model.safetensors")
    git(repo, "reset", "-q", "--", "model.safetensors")
    # Installed as the repository's hook manager, with git-lfs's pre-push as its legacy hook.
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {hubsnap}\n  rev: {rev}\n  hooks:\n"
        "  - id: hubsnap-lfs-pointers\n  - id: hubsnap-verify-push\n"
    )
    git(repo, "add", ".pre-commit-config.yaml")
    done = framework("install", "-t", "pre-commit", "-t", "pre-push")
    assert done.returncode == 0, done.stderr
    assert "git lfs pre-push" in (repo / ".git/hooks/pre-push.legacy").read_text()
    done = traced.git(repo, "commit", "-qm", "hooks")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "hubsnap LFS pointers....." in done.stderr and "Passed" in done.stderr
    head = git(repo, "rev-parse", "HEAD")
    done = traced.git(repo, "push", "origin", "main")
    assert done.returncode == 0, done.stderr
    assert "hubsnap verify push" in done.stdout + done.stderr
    _, lfs = traced.stdin_of()
    assert lfs == f"refs/heads/main {head} refs/heads/main {ZERO}\n"
    assert (repo.parent / "remote.git/lfs/objects" / OID[:2] / OID[2:4] / OID).is_file()
    # A commit claiming the artifact with other files is refused by the framework's pre-push.
    (repo / "README.md").write_text("edited\n")
    git(repo, "add", "README.md")
    named = git(repo, "log", "-1", "--format=%(trailers:key=Hubsnap-Artifact,valueonly)", sha)
    done = traced.git(repo, "commit", "-qm", f"edit\n\nHubsnap-Artifact: {named}\n")
    assert done.returncode == 0, done.stdout + done.stderr
    tampered = git(repo, "rev-parse", "HEAD")
    done = traced.git(repo, "push", "origin", "main")
    assert done.returncode != 0
    assert f"hubsnap pre-push: commit {tampered[:12]}: README.md: blob" in done.stdout + done.stderr
    # (the framework runs its legacy hook, git-lfs's, first: it saw the same refs)
    assert traced.stdin_of()[1] == f"refs/heads/main {tampered} refs/heads/main {head}\n"
    assert git(repo.parent / "remote.git", "rev-parse", "main") == head
