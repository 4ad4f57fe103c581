"""Installing hubsnap's git hooks without replacing anyone else's.

A hook hubsnap writes is a small shell script that runs :mod:`hubsnap.hookrun` and then,
if there was a hook before, the one it chains to (kept beside it as ``HOOK.hubsnap-chained``,
run with the same arguments). git-lfs's own hooks are chained to always; any other existing
hook (husky's, the pre-commit framework's, a hand-written one) only when asked, so that no
hook is displaced silently. Hooks go where git looks for them (``core.hooksPath`` honoured).
Re-installing rewrites hubsnap's script and keeps the chain.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hubsnap.errors import UsageError

__all__ = [
    "CHAINED_SUFFIX",
    "HOOK_MARKER",
    "InstalledHook",
    "check_hook",
    "hooks_directory",
    "install_hook",
    "parse_size",
]

HOOK_MARKER = "# hubsnap hook:"
CHAINED_SUFFIX = ".hubsnap-chained"
_SIZE = re.compile(r"^(\d+)\s*([kmg]i?b?|b)?$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``10MiB``, ``10MB``, ``512k`` or a plain byte count."""
    match = _SIZE.match(text.strip())
    if not match:
        raise UsageError(f"invalid size {text!r}", hint="e.g. 10MiB, 500KB or 1048576")
    unit = (match.group(2) or "b").lower()
    if unit == "b":
        return int(match.group(1))
    base = 1024 if "i" in unit else 1000
    scale: int = base ** ("kmg".index(unit[0]) + 1)
    return int(match.group(1)) * scale


@dataclass(frozen=True)
class InstalledHook:
    """A hook written: its path and the earlier hook it chains to (``None`` if none)."""

    name: str
    path: Path
    chained: Path | None


def hooks_directory(root: Path) -> Path:
    """Where git runs this repository's hooks from."""
    done = subprocess.run(
        ["git", "rev-parse", "--git-path", "hooks"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise UsageError(f"{root} is not a git repository")
    path = Path(done.stdout.strip())
    return path if path.is_absolute() else root / path


def _is_git_lfs_hook(text: str) -> bool:
    body = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    return bool(body) and all(
        "git-lfs" in ln or "git lfs" in ln or ln in ("fi", "}") for ln in body
    )


_SHELLS = frozenset({"sh", "dash", "bash", "zsh", "ksh"})


def _shell_of(text: str) -> str | None:
    """The shell a hook script names in its ``#!`` line (directly or through ``env``)."""
    first = text.split("\n", 1)[0]
    if not first.startswith("#!"):
        return None
    words = first[2:].split()
    if words and Path(words[0]).name == "env":
        words = [w for w in words[1:] if not w.startswith("-")]
    name = Path(words[0]).name if words else ""
    return name if name in _SHELLS else None


def _run_chained(name: str, shell: str | None, stdin: str) -> str:
    """The line that runs the chained hook with the same arguments (and stdin).

    A shell script is sourced by its own shell with ``$0`` set to the hook's own path, so
    that a hook that finds its siblings or its name through ``$0`` (husky's runner, the
    pre-commit framework's) behaves as if git had run it; anything else is executed."""
    chained = f'"$(dirname "$0")/{name}{CHAINED_SUFFIX}"'
    run = "" if stdin else "exec "
    if shell is None:
        run += f'{chained} "$@"{stdin}'
    else:
        run = (
            f"HUBSNAP_CHAINED_HOOK={chained} {run}{shell} -c "
            f'\'. "$HUBSNAP_CHAINED_HOOK"\' "$0" "$@"{stdin}'
        )
    if not stdin:
        return f"if [ -x {chained} ]; then {run}; fi\n"
    return f"if [ -x {chained} ]; then {run}; exit $?; fi\n"


def _script(name: str, command: str, shell: str | None) -> str:
    head = (
        "#!/bin/sh\n"
        f"{HOOK_MARKER} {name} (written by `hubsnap hooks install`; the hook it chains to runs"
        " after it)\n"
    )
    if name != "pre-push":
        return head + f"{command} || exit $?\n" + _run_chained(name, shell, "")
    # pre-push reads the pushed refs on stdin; the chained hook (git-lfs's) gets them too.
    return (
        head
        + (
            'refs="$(mktemp)" || exit 2\n'
            "trap 'rm -f \"$refs\"' EXIT\n"
            'cat > "$refs"\n'
            f'{command} "$@" < "$refs" || exit $?\n'
        )
        + _run_chained(name, shell, ' < "$refs"')
    )


def _write_executable(path: Path, text: str) -> None:
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as stream:
            stream.write(text)
        # A hook must be executable by whoever runs git here, as git's own samples are.
        Path(name).chmod(0o755)
        Path(name).replace(path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def check_hook(hooks: Path, name: str, *, chain: bool) -> bool:
    """Whether an existing ``name`` hook will be chained to; refuse what cannot be.

    A git-lfs hook found where hubsnap's was (``git lfs install --force`` puts its own back)
    is chained again in place of the git-lfs hook kept before."""
    path = hooks / name
    chained = hooks / f"{name}{CHAINED_SUFFIX}"
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise UsageError(f"{path} is not a regular file", hint="remove it or point it elsewhere")
    if not path.exists() or HOOK_MARKER in path.read_text("utf-8", "replace"):
        return False
    text = path.read_text("utf-8", "replace")
    lfs = _is_git_lfs_hook(text)
    if chained.is_symlink() or (chained.exists() and not chained.is_file()):
        raise UsageError(f"{chained} already exists", hint="remove it, then retry")
    if chained.exists():
        before = chained.read_text("utf-8", "replace")
        if not (lfs and (before == text or _is_git_lfs_hook(before))):
            raise UsageError(f"{chained} already exists", hint="remove it, then retry")
    if not (chain or lfs):
        raise UsageError(
            f"{path} already exists", hint="pass --chain to run it after hubsnap's checks"
        )
    return True


def install_hook(hooks: Path, name: str, arguments: list[str], *, chain: bool) -> InstalledHook:
    """Write hubsnap's ``name`` hook, running ``hookrun`` with ``arguments``."""
    hooks.mkdir(parents=True, exist_ok=True)
    path = hooks / name
    chained = hooks / f"{name}{CHAINED_SUFFIX}"
    if check_hook(hooks, name, chain=chain):
        path.replace(chained)
    shell = _shell_of(chained.read_text("utf-8", "replace")) if chained.is_file() else None
    command = shlex.join([sys.executable, "-m", "hubsnap.hookrun", name, *arguments])
    _write_executable(path, _script(name, command, shell))
    return InstalledHook(name, path, chained if chained.exists() else None)
