"""``hubsnap hooks install`` and the pre-commit hook it installs, run by real ``git commit``."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from hubsnap.errors import UsageError
from hubsnap.lfs.hooks import parse_size
from support.lfs import FILES, Run, cli_runner, commit, git, model

pytestmark = pytest.mark.interop
SCHEMA = json.loads(
    (
        Path(__file__).resolve().parents[1] / "schemas" / "hooks-install-result.schema.json"
    ).read_text()
)


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Run:
    return cli_runner(capsys, monkeypatch, tmp_path)


def stage(repo: Path, path: str, data: bytes, mode: str = "100644") -> None:
    """Stage raw bytes at ``path``, bypassing every filter (as a tool without git-lfs would)."""
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
    git(repo, "update-index", "--add", "--cacheinfo", f"{mode},{blob},{path}")


def try_commit(repo: Path, store: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if store is not None:
        env["HUBSNAP_STORE"] = str(store)
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def pointer(data: bytes) -> bytes:
    oid = hashlib.sha256(data).hexdigest()
    return (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {len(data)}\n".encode()
    )


def installed(run: Run, repo: Path, *extra: str) -> dict[str, object]:
    code, out, err = run("hooks", "install", "--repo", str(repo), "--json", *extra)
    assert code == 0, err
    jsonschema.validate(json.loads(out), SCHEMA)
    return dict(json.loads(out))


def test_pre_commit_refuses_what_does_not_belong(run: Run, tmp_path: Path) -> None:
    source = model(tmp_path)
    repo = tmp_path / "repo"
    commit(run, source, repo)
    result = installed(run, repo, "--max-size", "1KiB")
    hooks = repo / ".git/hooks"
    assert result["hooks"] == [
        {"name": "pre-commit", "path": str(hooks / "pre-commit"), "chained": None},
        # git-lfs's own pre-push is kept and runs after hubsnap's.
        {
            "name": "pre-push",
            "path": str(hooks / "pre-push"),
            "chained": str(hooks / "pre-push.hubsnap-chained"),
        },
    ]
    head = git(repo, "rev-parse", "HEAD")
    stage(repo, "model.safetensors", b"raw weights, not a pointer")
    stage(repo, "onnx/model.onnx", pointer(b"x").replace(b"\n", b"\r\n"))
    stage(repo, "notes.txt", b"n" * 2000)
    stage(repo, "small.txt", b"fine\n")
    done = try_commit(repo, source.store)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "hubsnap pre-commit: model.safetensors: not a canonical Git LFS pointer "
        "(expected key 'version', found 'raw')",
        "hubsnap pre-commit: notes.txt: 2000 bytes, over the 1024-byte limit for files outside "
        "Git LFS (track it with git lfs track)",
        "hubsnap pre-commit: onnx/model.onnx: not a canonical Git LFS pointer "
        "(differs from the canonical encoding)",
    ]
    assert git(repo, "rev-parse", "HEAD") == head


def test_locked_branch_takes_only_the_artifacts_pointers(run: Run, tmp_path: Path) -> None:
    source = model(tmp_path)
    repo = tmp_path / "repo"
    commit(run, source, repo)
    installed(run, repo)
    stage(repo, "model.safetensors", pointer(b"other weights"))
    stage(repo, "extra.safetensors", pointer(b"more"))
    done = try_commit(repo, source.store)
    assert done.returncode == 1
    other = hashlib.sha256(b"other weights").hexdigest()
    want = hashlib.sha256(FILES["model.safetensors"]).hexdigest()
    assert done.stderr.splitlines() == [
        "hubsnap pre-commit: extra.safetensors: not in the artifact this branch is locked to",
        f"hubsnap pre-commit: model.safetensors: pointer sha256:{other} (13 bytes) is not the "
        f"artifact's sha256:{want} ({len(FILES['model.safetensors'])} bytes)",
    ]
    git(repo, "reset", "-q")
    stage(repo, "model.safetensors", pointer(FILES["model.safetensors"]), mode="100755")
    done = try_commit(repo, source.store)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "hubsnap pre-commit: model.safetensors: executable bit differs from the artifact's file"
    )
    git(repo, "reset", "-q")
    stage(repo, "README.md", b"a plain edit is fine on a locked branch\n")
    assert try_commit(repo, source.store).returncode == 0
    stage(repo, "other.txt", b"plain files alone need no store\n")
    assert try_commit(repo, tmp_path / "no-store").returncode == 0
    stage(repo, "model.safetensors", pointer(b"again"))
    done = try_commit(repo, tmp_path / "no-store")
    assert done.returncode == 1
    assert done.stderr.startswith(f"hubsnap pre-commit: branch main is locked to {source.digest};")


def test_existing_hooks_are_chained_never_replaced(run: Run, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commit(run, model(tmp_path), repo)
    hook = repo / ".git/hooks/pre-commit"
    ran = tmp_path / "ran"
    hook.write_text(f"#!/bin/sh\necho ran >> {ran}\n")
    hook.chmod(0o755)
    code, _, err = run("hooks", "install", "--repo", str(repo))
    assert code == 2
    assert err.splitlines() == [
        f"error: {hook} already exists",
        "hint: pass --chain to run it after hubsnap's checks",
    ]
    assert hook.read_text() == f"#!/bin/sh\necho ran >> {ran}\n"
    assert (repo / ".git/hooks/pre-push").read_text().count("hubsnap") == 0  # nothing written
    result = installed(run, repo, "--chain")
    chained = repo / ".git/hooks/pre-commit.hubsnap-chained"
    assert result["hooks"][0] == {"name": "pre-commit", "path": str(hook), "chained": str(chained)}
    assert installed(run, repo) == result  # re-install keeps the chain
    stage(repo, "ok.txt", b"ok\n")
    assert try_commit(repo).returncode == 0
    assert ran.read_text() == "ran\n"
    stage(repo, "model.safetensors", b"not a pointer")
    assert try_commit(repo).returncode == 1
    assert ran.read_text() == "ran\n"  # a refused commit stops before the chained hook


def push(repo: Path, store: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HUBSNAP_STORE=str(store))
    return subprocess.run(
        ["git", "-C", str(repo), "push", "-q", "origin", "main"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def remote_for(repo: Path, tmp_path: Path) -> Path:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    git(repo, "remote", "add", "origin", str(remote))
    return remote


def test_pre_push_checks_artifact_commits_then_runs_git_lfs(run: Run, tmp_path: Path) -> None:
    source = model(tmp_path)
    repo = tmp_path / "repo"
    sha = commit(run, source, repo)
    lfs_hook = (repo / ".git/hooks/pre-push").read_text()
    installed(run, repo)
    assert (repo / ".git/hooks/pre-push.hubsnap-chained").read_text() == lfs_hook
    remote = remote_for(repo, tmp_path)
    done = push(repo, source.store)
    assert done.returncode == 0, done.stderr
    assert git(remote, "rev-parse", "main") == sha
    oid = hashlib.sha256(FILES["model.safetensors"]).hexdigest()
    # git-lfs's pre-push ran after hubsnap's, with the same refs: the objects were sent.
    assert (remote / "lfs/objects" / oid[:2] / oid[2:4] / oid).is_file()


def test_pre_push_refuses_a_commit_that_is_not_its_artifact(run: Run, tmp_path: Path) -> None:
    source = model(tmp_path)
    repo = tmp_path / "repo"
    first = commit(run, source, repo)
    installed(run, repo)
    remote = remote_for(repo, tmp_path)
    assert push(repo, source.store).returncode == 0
    stage(repo, "README.md", b"edited\n")
    message = f"edit\n\nHubsnap-Artifact: {source.digest}\n"
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm",
         message, "--no-verify"],
        check=True,
    )  # fmt: skip
    tampered = git(repo, "rev-parse", "HEAD")
    done = push(repo, source.store)
    assert done.returncode != 0
    assert done.stderr.splitlines()[0] == (
        f"hubsnap pre-push: commit {tampered[:12]}: README.md: blob "
        f"{git(repo, 'rev-parse', 'HEAD:README.md')} differs from the artifact's "
        f"{git(repo, 'rev-parse', f'{first}:README.md')}"
    )
    assert git(remote, "rev-parse", "main") == first


def test_pre_push_with_a_key_refuses_an_unsigned_artifact(
    run: Run, tmp_path: Path, key_pair: tuple[Path, Path]
) -> None:
    private, public = key_pair
    source = model(tmp_path)
    repo = tmp_path / "repo"
    sha = commit(run, source, repo)
    installed(run, repo, "--key", str(public))
    remote = remote_for(repo, tmp_path)
    done = push(repo, source.store)
    assert done.returncode != 0
    assert done.stderr.startswith(f"hubsnap pre-push: commit {sha[:12]}: verification failed")
    assert subprocess.run(["git", "-C", str(remote), "rev-parse", "main"], capture_output=True,
                          check=False).returncode != 0  # fmt: skip
    code, _, err = run("sign", source.ref, "--key", str(private))
    assert code == 0, err
    done = push(repo, source.store)
    assert done.returncode == 0, done.stderr
    assert git(remote, "rev-parse", "main") == sha


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("10MiB", 10 * 1024 * 1024),
        ("10MB", 10_000_000),
        ("512k", 512_000),
        ("7", 7),
        ("2 GiB", 2 << 30),
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_parse_size_refuses_nonsense() -> None:
    for text in ("", "ten", "-1", "1.5MB", "1TB"):
        with pytest.raises(UsageError):
            parse_size(text)


def test_the_hook_entry_point_loads_no_heavy_dependency() -> None:
    # Hooks run on every commit: they must start in well under 0.2 s, so none of the CLI's
    # or the network's dependencies may load (timing itself is too noisy to assert).
    probe = (
        "import sys, hubsnap.hookrun\n"
        "heavy = ('typer', 'git', 'httpx', 'huggingface_hub', 'cryptography', 'yaml', 'oras')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_pre_commit_framework_hooks(run: Run, tmp_path: Path) -> None:
    """The ids in .pre-commit-hooks.yaml run the same checks; the framework passes the pushed
    commit in PRE_COMMIT_TO_REF, not on stdin."""
    import yaml

    root = Path(__file__).resolve().parents[1]
    hooks = yaml.safe_load((root / ".pre-commit-hooks.yaml").read_text())
    entries = {hook["id"]: hook for hook in hooks}
    assert set(entries) == {"hubsnap-lfs-pointers", "hubsnap-verify-push"}
    source = model(tmp_path)
    repo = tmp_path / "repo"
    commit(run, source, repo)
    stage(repo, "README.md", b"edited\n")
    message = f"edit\n\nHubsnap-Artifact: {source.digest}\n"
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm",
         message],
        check=True,
    )  # fmt: skip
    tampered = git(repo, "rev-parse", "HEAD")
    stage(repo, "model.safetensors", b"not a pointer")
    for hook_id, env, expected in (
        ("hubsnap-lfs-pointers", {}, "model.safetensors: not a canonical Git LFS pointer"),
        ("hubsnap-verify-push", {"PRE_COMMIT_TO_REF": tampered}, f"commit {tampered[:12]}: "),
    ):
        entry = entries[hook_id]["entry"].split()
        assert entry[:3] == ["python", "-m", "hubsnap.hookrun"]
        done = subprocess.run(
            [sys.executable, *entry[1:]],
            cwd=repo,
            env=dict(os.environ, HUBSNAP_STORE=str(source.store), **env),
            input="",
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 1, (hook_id, done.stderr)
        assert expected in done.stderr


def test_pre_push_under_a_policy_refuses_missing_and_failing_signatures(
    run: Run, tmp_path: Path, key_pair: tuple[Path, Path]
) -> None:
    from hubsnap.signing.keys import generate_key, save_key_pair

    private, public = key_pair
    stranger = save_key_pair(generate_key("p256"), tmp_path / "other" / "key.pem")
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        json.dumps({"version": 1, "policies": [{"name": "ours", "scopes": ["*"],
                                                 "keys": [str(public)]}]})
    )  # fmt: skip
    source = model(tmp_path)
    repo = tmp_path / "repo"
    sha = commit(run, source, repo)
    installed(run, repo, "--policy", str(policy))
    remote = remote_for(repo, tmp_path)
    for signer in (None, stranger.private_path):
        if signer is not None:
            code, _, err = run("sign", source.ref, "--key", str(signer))
            assert code == 0, err
        done = push(repo, source.store)
        assert done.returncode == 1, done.stderr
        lines = done.stderr.splitlines()
        assert lines[0].startswith(f"hubsnap pre-push: commit {sha[:12]}: ")
        assert "Traceback" not in done.stderr
        assert subprocess.run(["git", "-C", str(remote), "rev-parse", "main"],
                              capture_output=True, check=False).returncode != 0  # fmt: skip
    code, _, err = run("sign", source.ref, "--key", str(private))
    assert code == 0, err
    done = push(repo, source.store)
    assert done.returncode == 0, done.stderr
    assert git(remote, "rev-parse", "main") == sha


def test_hostile_pointers_never_crash_a_hook(run: Run, tmp_path: Path) -> None:
    source = model(tmp_path)
    repo = tmp_path / "repo"
    commit(run, source, repo)
    installed(run, repo)
    oid = hashlib.sha256(b"content").hexdigest()
    zero = f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize 0\n".encode()
    hostile = {
        "zero.safetensors": zero,
        "big.safetensors": pointer(b"content") + b" " * 1024,
        "nul.safetensors": pointer(b"content").replace(b"\nsize", b"\0\nsize"),
    }
    for path, data in hostile.items():
        stage(repo, path, data)
    done = try_commit(repo, source.store)
    assert done.returncode == 1
    assert [line.split(" (")[0] for line in done.stderr.splitlines()] == [
        "hubsnap pre-commit: big.safetensors: not a canonical Git LFS pointer",
        "hubsnap pre-commit: nul.safetensors: not a canonical Git LFS pointer",
        "hubsnap pre-commit: zero.safetensors: not a canonical Git LFS pointer",
    ]
    git(repo, "reset", "-q")

    # git keeps '..' out of the index, but a pushed commit's tree can hold it.
    def mktree(lines: str) -> str:
        return subprocess.run(["git", "-C", str(repo), "mktree"], input=lines, text=True,
                              capture_output=True, check=True).stdout.strip()  # fmt: skip

    nul = subprocess.run(["git", "-C", str(repo), "hash-object", "-w", "--no-filters", "--stdin"],
                         input=hostile["nul.safetensors"], capture_output=True,
                         check=True).stdout.decode().strip()  # fmt: skip
    inner = mktree(f"100644 blob {nul}\tescape.safetensors\n")
    listing = git(repo, "ls-tree", "HEAD")
    tree = mktree(listing + f"\n040000 tree {inner}\t..\n")
    message = f"hostile\n\nHubsnap-Artifact: {source.digest}\n"
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t")  # fmt: skip
    bad = subprocess.run(
        ["git", "-C", str(repo), "commit-tree", tree, "-p", "HEAD", "-m", message],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    git(repo, "update-ref", "refs/heads/main", bad)
    remote_for(repo, tmp_path)
    done = push(repo, source.store)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines()[0].startswith(f"hubsnap pre-push: commit {bad[:12]}: ")
