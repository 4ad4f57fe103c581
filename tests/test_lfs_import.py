"""``lfs import``: a commit of LFS pointers back into the store, hashed and checked on the way.

Real git and git-lfs; the Hub round trips (snapshot ⇄ commit, clone ⇄ snapshot) are in
``test_lfs_import_hub.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from hubsnap.digest import Digest
from hubsnap.models import ANNOTATION_BLAKE3, ANNOTATION_LFS
from hubsnap.oci.artifact import model_files
from hubsnap.oci.layout import LayoutStore
from support.lfs import FILES, LFS_PATHS, Run, cli_runner, commit, git, model

pytestmark = pytest.mark.interop


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Run:
    return cli_runner(capsys, monkeypatch, tmp_path)


def import_json(run: Run, target: str, *extra: str) -> dict[str, object]:
    code, out, err = run("lfs", "import", target, "--json", *extra)
    assert code == 0, err
    return dict(json.loads(out))


def store_state(store: Path) -> dict[str, bytes]:
    """Every file of a store with its bytes (ingest temp files included)."""
    return {str(p.relative_to(store)): p.read_bytes() for p in store.rglob("*") if p.is_file()}


def test_an_imported_artifact_commits_and_imports_back_to_itself(run: Run, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    first = commit(run, model(tmp_path), repo)
    imported = import_json(run, str(repo))
    assert imported["commit"] == first
    assert imported["source"] == "https://huggingface.co/org/model"
    assert imported["revision"] == "a" * 40  # from the Hubsnap-Source trailer
    assert imported["files"] == len(FILES)
    assert imported["fetched"] == 0
    digest = Digest.parse(str(imported["digest"]))
    assert imported["reference"] == f"oci:{(tmp_path / 'home/store').resolve()}@{digest}"
    store = LayoutStore(tmp_path / "home/store")
    _, manifest = store.read_manifest(digest)
    layers = dict(model_files(manifest))
    assert set(layers) == set(FILES)
    for path, layer in layers.items():
        assert store.blob_path(layer.digest).read_bytes() == FILES[path]
        assert layer.annotations[ANNOTATION_LFS] == ("true" if path in LFS_PATHS else "false")
        assert layer.annotations[ANNOTATION_BLAKE3].startswith("blake3:")
    # That artifact, committed again, imports to itself: commit and import are inverses.
    again = tmp_path / "again"
    code, out, err = run("lfs", "commit", str(digest), "--repo", str(again))
    assert code == 0, err
    assert git(again, "rev-parse", "HEAD^{tree}") == git(repo, "rev-parse", "HEAD^{tree}")
    second = import_json(run, str(again))
    assert second["digest"] == str(digest)
    assert second["named"] == str(digest)
    # By revision too, and the text output is the reference alone.
    code, out, err = run("lfs", "import", f"{again}@main")
    assert (code, out.strip(), err) == (0, imported["reference"], "")


def test_a_corrupted_object_is_refused_and_the_store_is_unchanged(run: Run, tmp_path: Path) -> None:
    source = model(tmp_path)
    repo = tmp_path / "repo"
    commit(run, source, repo)
    import_json(run, str(repo))  # the store now holds every blob already
    oid = hashlib.sha256(FILES["model.safetensors"]).hexdigest()
    obj = repo / ".git/lfs/objects" / oid[:2] / oid[2:4] / oid
    obj.unlink()  # a hard link to the store's blob: replace it, never write through it
    obj.write_bytes(b"X" * len(FILES["model.safetensors"]))
    store = tmp_path / "home/store"
    before = store_state(store)
    code, out, err = run("lfs", "import", str(repo))
    assert (code, out) == (6, "")
    assert err.splitlines()[0].startswith(
        f"error: model.safetensors: Git LFS object does not match its pointer (expected "
        f"sha256:{oid}"
    )
    assert store_state(store) == before
    # Into a new store: nothing is left behind at all.
    fresh = tmp_path / "fresh"
    code, _, err = run("lfs", "import", str(repo), "--store", str(fresh))
    assert code == 6, err
    assert not fresh.exists()
    # An object longer than its pointer says is read only one byte past its size.
    obj.unlink()
    obj.write_bytes(FILES["model.safetensors"] + b"more")
    code, _, err = run("lfs", "import", str(repo))
    assert code == 6
    assert f"read more than {len(FILES['model.safetensors'])} bytes)" in err


def blob(repo: Path, data: bytes) -> str:
    return (
        subprocess.run(
            ["git", "-C", str(repo), "hash-object", "-w", "--no-filters", "--stdin"],
            input=data,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .strip()
    )


def mktree(repo: Path, entries: list[tuple[str, str, str]]) -> str:
    """A tree of ``(mode, object id, name)`` entries, written as given (git checks little)."""
    lines = []
    for mode, oid, name in entries:
        kind = {"040000": "tree", "160000": "commit"}.get(mode, "blob")
        lines.append(f"{mode} {kind} {oid}\t{name}\n")
    return subprocess.run(
        ["git", "-C", str(repo), "mktree", "--missing"],
        input="".join(lines),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def commit_tree(repo: Path, tree: str) -> str:
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@t",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@t",
    )
    return subprocess.run(
        ["git", "-C", str(repo), "commit-tree", tree, "-m", "hostile"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def pointer_text(oid: str, size: int, newline: str = "\n") -> bytes:
    lines = ["version https://git-lfs.github.com/spec/v1", f"oid sha256:{oid}", f"size {size}"]
    return (newline.join(lines) + newline).encode()


CONTENT = b"weights" * 100
OID = hashlib.sha256(CONTENT).hexdigest()


@pytest.mark.parametrize(
    ("name", "entry", "message"),
    [
        ("link", ("120000", b"model.safetensors"), "link: a symbolic link, not a file"),
        ("sub", ("160000", "c" * 40), "sub: a submodule, not a file"),
        ("..", ("100644", b"x"), "refusing path in the commit '../escape'"),
        (
            "zero.safetensors",
            ("100644", pointer_text(OID, 0)),
            "zero.safetensors: not a canonical Git LFS pointer",
        ),
        (
            "big.safetensors",
            ("100644", pointer_text(OID, len(CONTENT)) + b"x" * 1024),
            "big.safetensors: routed to Git LFS but not a pointer (",
        ),
        (
            "nul.safetensors",
            ("100644", pointer_text(OID, len(CONTENT)).replace(b"\nsize", b"\0\nsize")),
            "nul.safetensors: routed to Git LFS but not a pointer (contains a NUL byte)",
        ),
        (
            "crlf.bin",
            ("100644", pointer_text(OID, len(CONTENT), "\r\n")),
            "crlf.bin: not a canonical Git LFS pointer",
        ),
        (
            "raw.safetensors",
            ("100644", CONTENT),
            "raw.safetensors: routed to Git LFS but not a pointer (",
        ),
    ],
)
def test_hostile_entries_are_refused_naming_the_path(
    run: Run, tmp_path: Path, name: str, entry: tuple[str, bytes | str], message: str
) -> None:
    repo = tmp_path / "repo"
    commit(run, model(tmp_path), repo)
    mode, content = entry
    oid = content if isinstance(content, str) else blob(repo, content)
    listing = git(repo, "ls-tree", "HEAD").splitlines()
    entries = [(m, o, p) for m, _, o, p in (ln.replace("\t", " ").split(" ", 3) for ln in listing)]
    if name == "..":
        entries.append(("040000", mktree(repo, [(mode, oid, "escape")]), name))
    else:
        entries.append((mode, oid, name))
    hostile = commit_tree(repo, mktree(repo, entries))
    store = tmp_path / "home/store"
    code, out, err = run(
        "lfs", "import", f"{repo}@{hostile}", "--source", "https://huggingface.co/o/m"
    )
    assert (code, out) == (6, "")
    assert len(err.splitlines()) == 1
    assert message in err
    assert not store.exists()


def test_missing_objects_without_a_remote_and_missing_source(run: Run, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commit(run, model(tmp_path), repo)
    code, _, err = run("lfs", "import", str(repo), "--source", "ftp://example.com/x")
    assert code == 2
    assert err.startswith("error: invalid source URL 'ftp://example.com/x'")
    oid = hashlib.sha256(FILES["onnx/model.onnx"]).hexdigest()
    (repo / ".git/lfs/objects" / oid[:2] / oid[2:4] / oid).unlink()
    code, out, err = run("lfs", "import", str(repo))
    assert (code, out) == (3, "")
    assert err.splitlines()[0] == (
        "error: onnx/model.onnx: its Git LFS object is not in the repository, which has no "
        "remote to fetch it from"
    )


def test_a_commit_without_trailers_needs_a_source(run: Run, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commit(run, model(tmp_path), repo)
    plain = commit_tree(repo, git(repo, "rev-parse", "HEAD^{tree}"))
    code, out, err = run("lfs", "import", f"{repo}@{plain}")
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"error: commit {plain} has no Hubsnap-Source trailer",
        "hint: pass --source https://huggingface.co/REPO",
    ]
    imported = import_json(run, f"{repo}@{plain}", "--source", "https://huggingface.co/o/m/")
    assert (imported["source"], imported["revision"]) == ("https://huggingface.co/o/m", plain)


def test_objects_missing_locally_are_fetched_with_git_lfs(run: Run, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commit(run, model(tmp_path), repo)
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")  # git-lfs's pre-push sends the objects
    clone = tmp_path / "clone"
    env = dict(os.environ, GIT_LFS_SKIP_SMUDGE="1")
    subprocess.run(
        ["git", "clone", "-q", "-b", "main", str(remote), str(clone)], env=env, check=True
    )
    assert not (clone / ".git/lfs/objects").exists() or not any(
        p.is_file() for p in (clone / ".git/lfs/objects").rglob("*")
    )
    expected = import_json(run, str(repo))
    code, out, err = run("lfs", "import", str(clone), "--json")
    assert code == 0, err
    # (the test model was not built by snapshot: the commit names another digest, and says so)
    assert err.splitlines() == [
        f"fetched {len(LFS_PATHS)} Git LFS object(s) with git-lfs",
        f"the commit names {expected['named']}; its files import to {expected['digest']}",
    ]
    assert json.loads(out)["digest"] == expected["digest"]
