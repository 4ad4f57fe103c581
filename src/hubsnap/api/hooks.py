"""``hooks install``: hubsnap's pre-commit hook in a repository, chained to what was there.

The pre-commit hook refuses staged LFS-routed paths that are not canonical pointers, plain
files over the size limit, and, on a branch locked to an artifact, pointers that are not that
artifact's layers (:mod:`hubsnap.lfs.staged`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubsnap.lfs.hooks import InstalledHook, hooks_directory, install_hook

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


def install_hooks(repository: Path, *, max_size: int, chain: bool = False) -> HooksInstallResult:
    """Install hubsnap's hooks in the repository at ``repository``."""
    hooks = hooks_directory(repository)
    installed = install_hook(hooks, "pre-commit", ["--max-size", str(max_size)], chain=chain)
    return HooksInstallResult((installed,))
