"""The files level, and the view of one side of a diff that every level reads.

A side is its files by path: each with its layer digest and size, and where its bytes are on
this machine (a store blob), or ``None`` when the side knows the file only by hash (a
metadata-only ``snapshot.yaml``). Equal digests are equal: this level reads no byte.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubsnap.digest import Digest, sha256_bytes
from hubsnap.errors import IntegrityError

__all__ = ["MAX_SMALL_FILE", "ArtifactFile", "FilesDiff", "Side", "diff_files"]

#: Configs, tokenizers and cards are read whole; a tokenizer.json of a 250k vocabulary is
#: ~20 MB, so this leaves room while keeping a hostile "config" from filling memory.
MAX_SMALL_FILE = 64 * 1024 * 1024


@dataclass(frozen=True)
class ArtifactFile:
    """One file of a side: its SHA-256 (``sha256:HEX``, the layer digest; ``None`` for a
    file a snapshot recorded by its git blob id alone), that git blob id when a snapshot
    recorded it, and where its bytes are (``None`` when only hashes are known)."""

    path: str
    digest: str | None
    size: int
    local: Path | None
    git_blob: str | None = None

    def same_content(self, other: ArtifactFile) -> bool:
        """Equal by SHA-256, else by git blob id; two files no common hash can tell apart
        count as different (never guessed equal)."""
        if self.digest is not None and other.digest is not None:
            return self.digest == other.digest
        if self.git_blob and other.git_blob:
            return self.git_blob == other.git_blob
        return False


@dataclass(frozen=True)
class Side:
    """One side of a diff: what the user named, the manifest digest, and its files."""

    reference: str
    digest: Digest | None
    files: Mapping[str, ArtifactFile]
    _read: dict[str, bytes | None] = field(default_factory=dict, compare=False, repr=False)

    def has_bytes(self, path: str) -> bool:
        file = self.files.get(path)
        return file is not None and file.local is not None

    def read_small(self, path: str) -> bytes | None:
        """A small file's bytes (read and checked once), ``None`` when the side lacks it or
        knows it only by hash."""
        if path not in self._read:
            self._read[path] = self._read_checked(path)
        return self._read[path]

    def _read_checked(self, path: str) -> bytes | None:
        file = self.files.get(path)
        if file is None or file.local is None:
            return None
        if file.size > MAX_SMALL_FILE:
            raise IntegrityError(f"{path} in {self.reference} is {file.size} bytes, too large")
        try:
            with file.local.open("rb") as stream:
                data = stream.read(MAX_SMALL_FILE + 1)
        except OSError as e:
            raise IntegrityError(f"cannot read {path} of {self.reference}: {e.strerror}") from e
        if len(data) != file.size or str(sha256_bytes(data)) != file.digest:
            raise IntegrityError(f"{path} of {self.reference} does not match its digest")
        return data


@dataclass(frozen=True)
class FilesDiff:
    """Paths added, removed and changed (by layer digest), and how many are unchanged."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]
    unchanged: int

    def to_json(self) -> dict[str, Any]:
        return {
            "added": list(self.added),
            "removed": list(self.removed),
            "changed": list(self.changed),
            "unchanged": self.unchanged,
        }


def diff_files(base: Side, target: Side) -> FilesDiff:
    """Compare two sides path by path, by hash only."""
    before, after = set(base.files), set(target.files)
    common = sorted(before & after)
    changed = tuple(p for p in common if not base.files[p].same_content(target.files[p]))
    return FilesDiff(
        added=tuple(sorted(after - before)),
        removed=tuple(sorted(before - after)),
        changed=changed,
        unchanged=len(common) - len(changed),
    )
