"""Writing an artifact's files into a directory: plan every destination, stage, then commit.

A pull into ``DIR`` is planned whole before its first write: every layer path is checked
(safe, no ``.git``, no file that is also a directory, within the filesystem's name and path
limits), every existing thing on the way is looked at (a symlink at or above a destination is
refused, never followed; a file already there is kept when identical and otherwise replaced
only with ``force``), and names that would confuse a reader (case or Unicode-normalisation
twins, bidirectional overrides) are reported. Files are then staged as temp files beside
their final names, each verified against its layer digest, and renamed into place only when
all of them are staged; a failure removes every temp file and directory this pull created,
so ``DIR`` is left as it was.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import tempfile
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from hubsnap.digest import StreamHasher, hash_file
from hubsnap.errors import HubsnapError, IntegrityError, UsageError, from_os_error
from hubsnap.fsutil import check_checkout_path
from hubsnap.models import Descriptor

__all__ = [
    "BIDI_CONTROLS",
    "DestinationPlan",
    "PlannedFile",
    "capped",
    "name_warnings",
    "os_error",
    "plan_destinations",
    "write_plan",
]

#: Characters that reorder how text is displayed: a name holding one can read as another.
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_NAME_MAX = 255
_PATH_MAX = 4096
_TEMP_PREFIX = ".hubsnap-"
_TEMP_SUFFIX = ".part"

#: Bytes for one file: a stream of chunks to write, or a store blob to hard-link.
ChunkSource = Callable[[Descriptor], Iterable[bytes]]


@dataclass(frozen=True)
class PlannedFile:
    """One destination: ``present`` when an identical file is already there (nothing to do)."""

    path: str
    layer: Descriptor
    target: Path
    present: bool


@dataclass(frozen=True)
class DestinationPlan:
    """Every file a pull writes into ``directory``, checked; ``new_dirs`` parents first."""

    directory: Path
    files: tuple[PlannedFile, ...]
    new_dirs: tuple[Path, ...]
    warnings: tuple[str, ...]


def capped(chunks: Iterable[bytes], layer: Descriptor) -> Iterator[bytes]:
    """``chunks`` cut off with an error as soon as they pass ``layer.size``: a source that
    sends more than its descriptor says must not fill the disk before the digest is checked.
    """
    seen = 0
    for chunk in chunks:
        seen += len(chunk)
        if seen > layer.size:
            raise IntegrityError(
                f"blob {layer.digest} is larger than the {layer.size} bytes its descriptor says"
            )
        yield chunk


def os_error(path: Path, error: OSError, verb: str = "write") -> HubsnapError:
    """A filesystem failure at a path the user chose, as one line (exit 2)."""
    return from_os_error(error, verb, path)


def _plain(text: object) -> str:
    """``text`` as is when it is safe for a terminal, else escaped (``ascii``)."""
    value = str(text)
    return (
        value if all(c.isprintable() and c not in BIDI_CONTROLS for c in value) else (ascii(value))
    )


def _shown(text: str) -> str:
    """``text`` quoted with control and bidi characters escaped, safe for a terminal."""
    return (
        ascii(text)
        if any(c in BIDI_CONTROLS or not c.isprintable() for c in text)
        else (repr(text))
    )


def name_warnings(paths: Sequence[str]) -> list[str]:
    """Warnings for names a reader could take for others: bidi controls, case/NFC twins."""
    out = [
        f"path {p!a} contains a bidirectional control character: it may display as another name"
        for p in paths
        if any(c in BIDI_CONTROLS for c in p)
    ]
    seen: dict[str, str] = {}
    for path in paths:
        key = unicodedata.normalize("NFC", path).casefold()
        other = seen.setdefault(key, path)
        if other != path:
            out.append(
                f"paths {other!a} and {path!a} differ only in case or Unicode "
                "normalisation: on some filesystems one replaces the other"
            )
    return out


def _limits(directory: Path) -> tuple[int, int]:
    probe = directory
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return os.pathconf(probe, "PC_NAME_MAX"), os.pathconf(probe, "PC_PATH_MAX")
    except (OSError, ValueError):
        return _NAME_MAX, _PATH_MAX


def _check_lengths(directory: Path, paths: Iterable[str]) -> None:
    name_max, path_max = _limits(directory)
    base = len(os.fsencode(directory.absolute()))
    for path in paths:
        for part in PurePosixPath(path).parts:
            if len(os.fsencode(part)) > name_max:
                raise IntegrityError(
                    f"refusing layer path {_shown(path)}: a name in it is longer than the "
                    f"filesystem allows ({name_max} bytes)"
                )
        if base + 1 + len(os.fsencode(path)) >= path_max:
            raise IntegrityError(
                f"refusing layer path {_shown(path)}: under {directory} it is longer than the "
                f"filesystem allows ({path_max} bytes)"
            )


def _check_conflicts(paths: Sequence[str]) -> None:
    files = set(paths)
    for path in paths:
        for parent in PurePosixPath(path).parents:
            if str(parent) in files:
                raise IntegrityError(
                    f"layer paths {_shown(str(parent))} and {_shown(path)} conflict: "
                    "one would be both a file and a directory"
                )


def _check_directory(directory: Path) -> list[Path]:
    """Refuse symlinks in ``directory`` itself; return its missing ancestors, parents first.

    Links directly under ``/`` (``/tmp`` → ``/private/tmp`` on macOS) belong to the system
    and are followed; any other symlink on the way is refused.
    """
    missing: list[Path] = []
    current = Path(directory.anchor) if directory.is_absolute() else Path()
    parts = directory.parts[1:] if directory.is_absolute() else directory.parts
    for depth, part in enumerate(parts):
        current = current / part
        try:
            is_dir = current.is_dir()
            if current.is_symlink() and not (directory.is_absolute() and depth == 0):
                raise IntegrityError(f"refusing to write through symlink {current}")
        except OSError as e:
            raise os_error(current, e, "use") from e
        if missing or not current.exists():
            missing.append(current)
        elif not is_dir:
            raise UsageError(f"cannot write into {directory}: {current} is not a directory")
    return missing


def _identical(target: Path, layer: Descriptor) -> bool:
    if target.stat().st_size != layer.size:
        return False
    return hash_file(target).sha256 == layer.digest


def plan_destinations(
    directory: Path,
    layers: Sequence[tuple[str, Descriptor]],
    *,
    force: bool = False,
    same_file: Callable[[Path, Descriptor], bool] | None = None,
) -> DestinationPlan:
    """Check every destination of ``layers`` under ``directory`` before anything is written.

    ``same_file`` may say cheaply that an existing file is already the right one (a hard link
    to the verified store blob); otherwise an existing file is hashed to find out.
    """
    paths = [path for path, _ in layers]
    for path in paths:
        check_checkout_path(path, "layer path")
    _check_conflicts(paths)
    _check_lengths(directory, paths)
    warnings = name_warnings(paths)
    new_dirs = _check_directory(directory)
    planned: list[PlannedFile] = []
    checked: set[Path] = set()
    for path, layer in layers:
        relative = PurePosixPath(path)
        current = directory
        for part in relative.parent.parts:
            current = current / part
            if current in checked:
                continue
            checked.add(current)
            if current.is_symlink():
                raise IntegrityError(f"refusing to write through symlink {_plain(current)}")
            if not current.exists() or current in new_dirs:
                new_dirs.append(current)
            elif not current.is_dir():
                raise UsageError(f"refusing to replace {_plain(current)}: it is not a directory")
        target = directory / relative
        present = False
        if target.is_symlink():
            raise IntegrityError(f"refusing to replace symlink {_plain(target)}")
        if target.is_dir():
            raise UsageError(f"refusing to replace directory {_plain(target)}")
        if target.exists():
            try:
                present = (same_file is not None and same_file(target, layer)) or _identical(
                    target, layer
                )
            except OSError as e:
                raise os_error(target, e, "read") from e
            if not present and not force:
                raise UsageError(
                    f"refusing to replace {_plain(target)}: "
                    f"it is not the artifact's {_shown(path)}",
                    hint="pass --force to overwrite files that differ",
                )
        planned.append(PlannedFile(path, layer, target, present))
    unique_dirs = list(dict.fromkeys(new_dirs))
    return DestinationPlan(directory, tuple(planned), tuple(unique_dirs), tuple(warnings))


# -- writing ----------------------------------------------------------------------------------


@dataclass
class _Staged:
    file: PlannedFile
    temp: Path


def _stage_stream(file: PlannedFile, chunks: Iterable[bytes], damaged_hint: str | None) -> Path:
    fd, name = tempfile.mkstemp(dir=file.target.parent, prefix=_TEMP_PREFIX, suffix=_TEMP_SUFFIX)
    temp = Path(name)
    hasher = StreamHasher()
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as out:
            for chunk in capped(chunks, file.layer):
                out.write(chunk)
                hasher.update(chunk)
            out.flush()
            os.fsync(out.fileno())
        digests = hasher.finish()
    except BaseException:
        hasher.close()
        temp.unlink(missing_ok=True)
        raise
    problem = None
    if digests.sha256 != file.layer.digest:
        problem = f"digest mismatch (expected {file.layer.digest}, got {digests.sha256})"
        if damaged_hint is None:  # the source's bytes, not the store's
            problem = f"digest mismatch: expected {file.layer.digest}, got {digests.sha256}"
    elif digests.size != file.layer.size:
        problem = f"size {digests.size}, expected {file.layer.size}"
    if problem:
        temp.unlink(missing_ok=True)
        if damaged_hint is None:
            raise IntegrityError(f"blob {problem} (layer {file.path!r})")
        raise IntegrityError(f"{_plain(file.path)}: {problem}{damaged_hint}")
    return temp


def _stage_link(file: PlannedFile, blob: Path) -> Path | None:
    temp = file.target.parent / f"{_TEMP_PREFIX}{secrets.token_hex(8)}{_TEMP_SUFFIX}"
    try:
        os.link(blob, temp)
    except OSError as e:
        if e.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            return None
        raise
    return temp


def write_plan(
    plan: DestinationPlan,
    chunks: ChunkSource,
    *,
    link: Callable[[Descriptor], Path | None] | None = None,
    damaged_hint: Callable[[Descriptor], str | None] = lambda _: None,
) -> None:
    """Stage every file of ``plan`` beside its target, verified, then rename them all in.

    ``link`` may give a verified store blob to hard-link instead of writing bytes. On any
    failure every temp file, every file this call put in place and every directory it made is
    removed: the directory is left as it was (a file replaced under ``force`` stays replaced).
    """
    made: list[Path] = []
    staged: list[_Staged] = []
    placed: list[Path] = []
    try:
        for directory in plan.new_dirs:
            if directory.is_symlink():
                raise IntegrityError(f"refusing to write through symlink {_plain(directory)}")
            try:
                directory.mkdir()
            except FileExistsError:
                if not directory.is_dir() or directory.is_symlink():
                    raise
                continue
            made.append(directory)
        root = os.path.realpath(plan.directory)
        for file in plan.files:
            if file.present:
                continue
            _still_inside(root, plan.directory, file)
            blob = link(file.layer) if link is not None else None
            temp = _stage_link(file, blob) if blob is not None else None
            if temp is None:
                temp = _stage_stream(file, chunks(file.layer), damaged_hint(file.layer))
            staged.append(_Staged(file, temp))
        for item in staged:
            existed = item.file.target.exists() or item.file.target.is_symlink()
            if item.file.target.is_symlink() or item.file.target.is_dir():
                raise IntegrityError(f"refusing to replace {_plain(item.file.target)}: it changed")
            item.temp.replace(item.file.target)
            if not existed:
                placed.append(item.file.target)
        for directory in {s.file.target.parent for s in staged}:
            _fsync_dir(directory)
    except BaseException as e:
        for item in staged:
            item.temp.unlink(missing_ok=True)
        for path in placed:
            path.unlink(missing_ok=True)
        for directory in reversed(made):
            with contextlib.suppress(OSError):
                directory.rmdir()
        if isinstance(e, OSError) and not isinstance(e, HubsnapError):
            raise os_error(Path(e.filename or plan.directory), e) from e
        raise


def _still_inside(root: str, directory: Path, file: PlannedFile) -> None:
    """Refuse a file whose directory stopped being where the plan saw it (a symlink planted
    on the way since the plan was made)."""
    relative = file.target.parent.relative_to(directory)
    if Path(os.path.realpath(file.target.parent)) != Path(root) / relative:
        raise IntegrityError(f"refusing to write through {_plain(file.target.parent)}: it moved")


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
