"""Git hook entry points: ``python -m hubsnap.hookrun pre-commit [--max-size N]`` and
``python -m hubsnap.hookrun pre-push [--key K]... [--policy P] REMOTE URL`` (refs on stdin).

Kept apart from the Typer CLI so that a hook starts fast: it imports git plumbing and the
pointer reader, the store only on a branch locked to an artifact, and the verifier only when
a pushed commit names an artifact. A refused commit or push exits 1 with one line per
offending path or commit on stderr; a failure of the hook itself exits 2.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from hubsnap.lfs.pointer import POINTER_SIZE_LIMIT
from hubsnap.lfs.staged import LockedFile, locked_branch, staged_files, staged_problems
from hubsnap.lfs.trailers import message_trailers

__all__ = ["DEFAULT_MAX_SIZE", "main"]

DEFAULT_MAX_SIZE = 10 * 1024 * 1024


def _locked_files(digest: str) -> dict[str, LockedFile] | str:
    """The files of the artifact ``digest`` in the local store, or why they cannot be read."""
    from hubsnap.config import Settings  # noqa: PLC0415
    from hubsnap.digest import Digest  # noqa: PLC0415
    from hubsnap.errors import HubsnapError  # noqa: PLC0415
    from hubsnap.lfs.tree import layer_executable  # noqa: PLC0415
    from hubsnap.oci.artifact import model_files  # noqa: PLC0415
    from hubsnap.oci.layout import LayoutStore  # noqa: PLC0415

    try:
        store = LayoutStore(Settings.from_env().store)
        _, manifest = store.read_manifest(Digest.parse(digest))
        return {
            path: LockedFile(layer.digest.hex, layer.size, layer_executable(layer))
            for path, layer in model_files(manifest)
        }
    except HubsnapError as e:
        return f"cannot read it from the local store: {e.message}"


def pre_commit(root: Path, max_size: int) -> list[str]:
    files = staged_files(root, POINTER_SIZE_LIMIT)
    locked = locked_branch(root) if any(f.lfs for f in files) else None
    layers = None
    if locked is not None:
        branch, digest = locked
        found = _locked_files(digest)
        if isinstance(found, str):
            return [f"branch {branch} is locked to {digest}; {found}"]
        layers = found
    return staged_problems(files, max_size=max_size, locked=layers)


_ZERO = "0" * 40


def _git_lines(root: Path, *args: str) -> list[str]:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"git {args[0]}: {done.stderr.strip()[:200]}")
    return done.stdout.splitlines()


def _pushed_commits(root: Path, refs: str) -> list[str]:
    """Commits the push would send, from git's ``LOCAL_REF SHA REMOTE_REF SHA`` lines."""
    commits: dict[str, None] = {}
    for line in refs.splitlines():
        fields = line.split()
        if len(fields) != 4 or fields[1] == _ZERO:
            continue  # malformed, or a deletion: nothing is sent
        local, remote = fields[1], fields[3]
        known = remote != _ZERO and _has(root, remote)
        span = [f"{remote}..{local}"] if known else [local, "--not", "--remotes"]
        commits.update(dict.fromkeys(_git_lines(root, "rev-list", *span)))
    return list(commits)


def _has(root: Path, sha: str) -> bool:
    done = subprocess.run(
        ["git", "cat-file", "-e", f"{sha}^{{commit}}"], cwd=root, capture_output=True, check=False
    )
    return done.returncode == 0


def pre_push(root: Path, refs: str, keys: Sequence[Path], policy: Path | None) -> list[str]:
    """One line per pushed commit (or path of one) that does not match its artifact.

    Under the pre-commit framework git's refs are not on stdin: the commit being pushed is
    ``PRE_COMMIT_TO_REF``, and every commit of it that no remote has is checked."""
    to_ref = os.environ.get("PRE_COMMIT_TO_REF", "")
    if not refs.strip() and to_ref:
        refs = f"HEAD {to_ref} HEAD {_ZERO}\n"
    named = []
    for sha in _pushed_commits(root, refs):
        message = "\n".join(_git_lines(root, "log", "-1", "--format=%B", sha))
        if "Hubsnap-Artifact" in message_trailers(message):
            named.append(sha)
    if not named:
        return []
    from hubsnap.api.lfs_verify import lfs_verify  # noqa: PLC0415
    from hubsnap.api.session import Session  # noqa: PLC0415
    from hubsnap.config import Settings  # noqa: PLC0415
    from hubsnap.errors import HubsnapError  # noqa: PLC0415

    problems = []
    with Session(Settings.from_env()) as session:
        for sha in named:
            try:
                result = lfs_verify(session, f"{root}@{sha}", keys=keys, policy=policy)
            except HubsnapError as e:
                problems.append(f"commit {sha[:12]}: {e.message}")
                continue
            problems += [f"commit {sha[:12]}: {line}" for line in result.differences]
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hubsnap-hook")
    parser.add_argument("hook", choices=["pre-commit", "pre-push"])
    parser.add_argument("--max-size", type=int, default=DEFAULT_MAX_SIZE)
    parser.add_argument("--key", type=Path, action="append", default=[])
    parser.add_argument("--policy", type=Path)
    parser.add_argument("git_arguments", nargs="*")
    args = parser.parse_intermixed_args(argv)
    try:
        top = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True
        ).stdout.strip()
        if args.hook == "pre-commit":
            problems = pre_commit(Path(top), args.max_size)
        else:
            problems = pre_push(Path(top), sys.stdin.read(), args.key, args.policy)
    except (OSError, RuntimeError, subprocess.CalledProcessError) as e:
        print(f"hubsnap {args.hook}: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # a hook never shows a traceback, unless asked to
        if os.environ.get("HUBSNAP_DEBUG") == "1":
            raise
        message = getattr(e, "message", None) or f"{type(e).__name__}: {e}"
        print(f"hubsnap {args.hook}: {str(message).splitlines()[0]}", file=sys.stderr)
        return 2
    for line in problems:
        print(f"hubsnap {args.hook}: {line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
