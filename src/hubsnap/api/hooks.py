"""``hooks install``: hubsnap's pre-commit and pre-push hooks, chained to what was there.

The pre-commit hook refuses staged LFS-routed paths that are not canonical pointers, plain
files over the size limit, and, on a branch locked to an artifact, pointers that are not that
artifact's layers (:mod:`hubsnap.lfs.staged`). The pre-push hook refuses pushed commits with
a ``Hubsnap-Artifact`` trailer whose tree is not that artifact or (given a key or policy)
whose artifact does not verify; git-lfs's own pre-push runs after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubsnap.errors import NotFoundError
from hubsnap.lfs.hooks import InstalledHook, check_hook, hooks_directory, install_hook

__all__ = ["HOOKS_INSTALL_SCHEMA", "HooksInstallResult", "install_hooks"]

HOOKS_INSTALL_SCHEMA = "hubsnap.dev/hooks-install/v1"


@dataclass(frozen=True)
class HooksInstallResult:
    """The hooks written, each with the earlier hook it chains to (``None``: none)."""

    hooks: tuple[InstalledHook, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": HOOKS_INSTALL_SCHEMA,
            "hooks": [
                {
                    "name": h.name,
                    "path": str(h.path),
                    "chained": str(h.chained) if h.chained else None,
                }
                for h in self.hooks
            ],
        }


def install_hooks(
    repository: Path,
    *,
    max_size: int,
    keys: Sequence[Path] = (),
    policy: Path | None = None,
    chain: bool = False,
) -> HooksInstallResult:
    """Install hubsnap's hooks in the repository at ``repository``."""
    for path in (*keys, *([policy] if policy else [])):
        if not path.is_file():
            raise NotFoundError(f"{path} not found")
    verify = [arg for key in keys for arg in ("--key", str(key.resolve()))]
    if policy is not None:
        verify += ["--policy", str(policy.resolve())]
    hooks = hooks_directory(repository)
    # Both are checked before either is written: a refusal leaves the repository as it was.
    for name in ("pre-commit", "pre-push"):
        check_hook(hooks, name, chain=chain)
    return HooksInstallResult(
        (
            install_hook(hooks, "pre-commit", ["--max-size", str(max_size)], chain=chain),
            install_hook(hooks, "pre-push", verify, chain=chain),
        )
    )
