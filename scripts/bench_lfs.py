"""The ``lfs`` section of ``scripts/bench.py``: ``lfs commit`` against ``git fast-import``.

- ``lfs commit`` of a 2,000-file artifact (mostly small configs and docs, some weights going
  to LFS) into an existing empty repository, its time beyond start-up (``hubsnap --help``)
  against ``git fast-import`` writing the same tree from a prepared stream into an existing
  empty repository (target: within 1.5x);
- the disk an artifact of 4 weight shards adds, ``du`` over the store and ``.git`` together
  (objects are hard links to the store's blobs: target under 16 MiB);
- a pre-commit hook run on a commit touching no LFS path, against ``python -c pass`` plus
  the ``git diff --cached`` any hook needs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

MIB = 1 << 20
FILES = 2000
WEIGHTS = 50  # of the FILES, these are weights (LFS pointers); the rest plain blobs

Add = Callable[[str, float, str], None]
Ratio = Callable[[str, float, str], None]


def _git(repo: Path, *args: str, stdin: bytes | None = None) -> None:
    subprocess.run(["git", "-C", str(repo), *args], input=stdin, check=True, capture_output=True)


def _empty_repo(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    subprocess.run(["git", "init", "-q", "--initial-branch=main", str(path)], check=True)
    _git(path, "lfs", "install", "--local")
    return path


def _best(rounds: int, prepare: Callable[[], None], command: Sequence[str], **kw: object) -> float:
    best = float("inf")
    for _ in range(rounds):
        prepare()
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, **kw)  # type: ignore[call-overload]
        best = min(best, time.perf_counter() - start)
    return best


def _artifact(store: Path, files: dict[str, bytes], lfs: set[str]) -> str:
    """A snapshot-shaped artifact of ``files`` in ``store``; its digest."""
    from hubsnap.digest import hash_chunks
    from hubsnap.modelcard import describe_model
    from hubsnap.oci.artifact import LayerFile, build_model_artifact
    from hubsnap.oci.layout import LayoutStore

    layout = LayoutStore(store).ensure()
    layers = []
    for path, data in files.items():
        digests = hash_chunks([data])
        layout.put_bytes(data)
        layers.append(LayerFile(path, digests.sha256, len(data), digests.blake3, path in lfs))
    source = describe_model(
        repo_id="bench/lfs", commit="b" * 40, hub_url="https://huggingface.co",
        created="2025-01-01T00:00:00Z", card={}, config_json=files.get("config.json"),
        paths=list(files),
    )  # fmt: skip
    artifact = build_model_artifact(layers, source)
    layout.put_bytes(artifact.config_bytes)
    return str(layout.put_manifest(artifact.manifest_bytes).digest)


def _pointer(data: bytes) -> bytes:
    oid = hashlib.sha256(data).hexdigest()
    return (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {len(data)}\n".encode()
    )


def _stream(files: dict[str, bytes], lfs: set[str]) -> bytes:
    """A ``git fast-import`` stream writing the same tree (pointers for LFS paths)."""
    out = bytearray()
    for mark, path in enumerate(sorted(files), start=1):
        data = _pointer(files[path]) if path in lfs else files[path]
        out += b"blob\nmark :%d\ndata %d\n" % (mark, len(data)) + data + b"\n"
    out += b"commit refs/heads/main\ncommitter bench <bench@invalid> 1735689600 +0000\n"
    out += b"data 5\nbench\n"
    for mark, path in enumerate(sorted(files), start=1):
        out += b"M 100644 :%d %s\n" % (mark, path.encode())
    return bytes(out)


def _du_kib(*paths: Path) -> int:
    done = subprocess.run(["du", "-sk", "-c", *map(str, paths)], capture_output=True, text=True,
                          check=True)  # fmt: skip
    return int(done.stdout.strip().splitlines()[-1].split()[0])


def section_lfs(work: Path, rounds: int, shard_mib: int, add: Add, ratio: Ratio) -> None:
    hubsnap = [sys.executable, "-m", "hubsnap"]
    env = {**os.environ, "HUBSNAP_HOME": str(work / "lfs-home")}
    env.pop("HUBSNAP_STORE", None)
    store = work / "lfs-home" / "store"
    shutil.rmtree(work / "lfs-home", ignore_errors=True)

    files = {
        f"docs/part-{i:04d}/notes.md": b"# part %d\n" % i * (1 + i % 40)
        for i in range(FILES - WEIGHTS - 1)
    }
    files["config.json"] = b'{"architectures": ["BenchModel"]}\n'
    weights = {f"weights/shard-{i:03d}.safetensors": os.urandom(4096 + i) for i in range(WEIGHTS)}
    files.update(weights)
    digest = _artifact(store, files, set(weights))
    repo = work / "lfs-repo"
    startup = _best(rounds, lambda: None, [*hubsnap, "--help"], env=env)
    add("hubsnap --help (start-up)", startup, f"best of {rounds}")
    on_branch = _best(
        rounds, lambda: _empty_repo(repo),
        [*hubsnap, "lfs", "commit", digest, "--repo", str(repo), "--branch", "import"], env=env,
    )  # fmt: skip
    add(f"lfs commit, {FILES} files (objects + ref)", on_branch, f"best of {rounds}")
    checked_out = _best(
        rounds, lambda: _empty_repo(repo),
        [*hubsnap, "lfs", "commit", digest, "--repo", str(repo)], env=env,
    )  # fmt: skip
    add(f"lfs commit, {FILES} files, checked out", checked_out, "index + working tree follow")
    stream = work / "lfs.stream"
    stream.write_bytes(_stream(files, set(weights)))
    peer = float("inf")
    for _ in range(rounds):
        _empty_repo(repo)
        with stream.open("rb") as source:
            start = time.perf_counter()
            subprocess.run(["git", "-C", str(repo), "fast-import", "--quiet"], stdin=source,
                           check=True, capture_output=True)  # fmt: skip
            peer = min(peer, time.perf_counter() - start)
    add(f"git fast-import, same {FILES}-file tree", peer, f"best of {rounds}")
    ratio("lfs commit beyond start-up / git fast-import", (on_branch - startup) / peer, "<= 1.5")

    # The disk an artifact of 4 weight shards adds: du over the store and .git together.
    shutil.rmtree(work / "lfs-home", ignore_errors=True)
    shards = {f"model-{i:05d}-of-00004.safetensors": os.urandom(shard_mib * MIB)
              for i in range(1, 5)}  # fmt: skip
    shards["config.json"] = b'{"architectures": ["BenchModel"]}\n'
    digest = _artifact(store, shards, {p for p in shards if p.endswith(".safetensors")})
    del shards
    _empty_repo(repo)
    before = _du_kib(store, repo / ".git")
    subprocess.run([*hubsnap, "lfs", "commit", digest, "--repo", str(repo), "--branch", "big"],
                   env=env, check=True, capture_output=True)  # fmt: skip
    added = (_du_kib(store, repo / ".git") - before) / 1024
    add(f"disk added by lfs commit of 4 x {shard_mib} MiB", 0.0, f"{added:.2f} MiB (du)")
    ratio(f"lfs commit 4 x {shard_mib} MiB: MiB added to store + .git", added, "< 16")

    # A pre-commit hook on a commit that touches no LFS path.
    _empty_repo(repo)
    (repo / ".gitattributes").write_text("*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
    (repo / "notes.txt").write_text("plain\n")
    _git(repo, "add", ".gitattributes", "notes.txt")
    hook = _best(rounds, lambda: None, [sys.executable, "-m", "hubsnap.hookrun", "pre-commit"],
                 cwd=repo, env=env)  # fmt: skip
    base = _best(rounds, lambda: None, [sys.executable, "-c", "pass"]) + _best(
        rounds, lambda: None, ["git", "-C", str(repo), "diff", "--cached", "--name-only"]
    )
    add("pre-commit hook, no LFS path staged", hook, f"best of {rounds}")
    add("python -c pass + git diff --cached", base, f"best of {rounds}")
    ratio("pre-commit hook / (python -c pass + git diff --cached)", hook / base, "report")
    shutil.rmtree(work / "lfs-home", ignore_errors=True)
    shutil.rmtree(repo, ignore_errors=True)
    stream.unlink(missing_ok=True)
