"""Git hook entry points: ``python -m hubsnap.lfs.hookrun pre-commit [--max-size N]``.

Kept apart from the Typer CLI so that a hook starts fast: it imports git plumbing and the
pointer reader, and the store only on a branch locked to an artifact. A refused commit exits
1 with one line per offending path on stderr; a failure of the hook itself exits 2.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from hubsnap.lfs.pointer import POINTER_SIZE_LIMIT
from hubsnap.lfs.staged import LockedFile, locked_branch, staged_files, staged_problems

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
    locked = locked_branch(root)
    layers = None
    if locked is not None and any(f.lfs for f in files):
        branch, digest = locked
        found = _locked_files(digest)
        if isinstance(found, str):
            return [f"branch {branch} is locked to {digest}; {found}"]
        layers = found
    return staged_problems(files, max_size=max_size, locked=layers)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hubsnap-hook")
    parser.add_argument("hook", choices=["pre-commit"])
    parser.add_argument("--max-size", type=int, default=DEFAULT_MAX_SIZE)
    args = parser.parse_args(argv)
    try:
        top = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True
        ).stdout.strip()
        problems = pre_commit(Path(top), args.max_size)
    except (OSError, RuntimeError, subprocess.CalledProcessError) as e:
        print(f"hubsnap {args.hook}: {e}", file=sys.stderr)
        return 2
    for line in problems:
        print(f"hubsnap {args.hook}: {line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
