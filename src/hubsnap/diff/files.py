"""The files level, and the view of one side of a diff that every level reads.

A side is its files by path: each with its layer digest and size, and where its bytes are on
this machine (a store blob), or ``None`` when they are not here: then either the side knows
the file only by hash (a metadata-only ``snapshot.yaml``), or it is on a registry the side
reads it from (:class:`RemoteFiles`): small files whole, verified by their digest, and
safetensors headers as byte ranges, never the weights. Equal digests are equal: this level
reads no byte.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from hubsnap.diff.safetensors import header_length
from hubsnap.digest import Digest, sha256_bytes
from hubsnap.errors import IntegrityError

__all__ = ["MAX_SMALL_FILE", "ArtifactFile", "FilesDiff", "RemoteFiles", "Side", "diff_files"]

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


class RemoteFiles(Protocol):
    """Where a side reads the files that are not on this machine (a registry repository)."""

    def read_whole(self, file: ArtifactFile, limit: int) -> bytes:
        """The file's bytes, at most ``limit`` of them (the side checks them against the
        file's digest)."""
        ...

    def read_span(self, file: ArtifactFile, start: int, length: int) -> bytes:
        """``length`` bytes of the file from ``start``, unverified (a slice has no digest)."""
        ...


@dataclass(frozen=True)
class Side:
    """One side of a diff: what the user named, the manifest digest, its files, and where
    those not on this machine are read from (``None``: nowhere, they are known by hash)."""

    reference: str
    digest: Digest | None
    files: Mapping[str, ArtifactFile]
    remote: RemoteFiles | None = field(default=None, compare=False, repr=False)
    _read: dict[str, bytes | None] = field(default_factory=dict, compare=False, repr=False)

    def has_bytes(self, path: str) -> bool:
        """Whether ``path``'s bytes can be read: here, or from the side's registry."""
        file = self.files.get(path)
        if file is None:
            return False
        return file.local is not None or (self.remote is not None and file.digest is not None)

    def header_prefix(self, path: str) -> bytes | None:
        """A remote safetensors file's first ``8 + N`` bytes (its header length and header),
        read as two byte ranges, for :func:`~hubsnap.diff.safetensors.parse_header`; ``None``
        for a file on this machine (the reader opens it itself) or known only by hash.

        These bytes are not verified against the file's digest (a slice cannot be): they
        are only ever parsed by the strict reader, which holds them to the file's size, and
        the length they claim is checked against that size and the 100 MB cap before the
        header is asked for.
        """
        file = self.files.get(path)
        if file is None or file.local is not None or self.remote is None or file.digest is None:
            return None
        remote = self.remote
        try:
            head = remote.read_span(file, 0, min(8, file.size))
        except IntegrityError as e:
            raise self._fault(path, e) from e
        try:
            length = header_length(head, file.size, path)
        except IntegrityError as e:
            raise IntegrityError(e.message, hint=f"in {self.reference}") from e
        try:
            return head + remote.read_span(file, 8, length)
        except IntegrityError as e:
            raise self._fault(path, e) from e

    def _fault(self, path: str, error: IntegrityError) -> IntegrityError:
        """A registry's bad answer for one file, naming the file."""
        return IntegrityError(f"{path} of {self.reference}: {error.message}", hint=error.hint)

    def read_small(self, path: str) -> bytes | None:
        """A small file's bytes (read and checked once), ``None`` when the side lacks it or
        knows it only by hash."""
        if path not in self._read:
            self._read[path] = self._read_checked(path)
        return self._read[path]

    def _read_checked(self, path: str) -> bytes | None:
        if not self.has_bytes(path):
            return None
        file = self.files[path]
        if file.size > MAX_SMALL_FILE:
            raise IntegrityError(f"{path} in {self.reference} is {file.size} bytes, too large")
        if file.local is None:
            assert self.remote is not None
            try:
                data = self.remote.read_whole(file, MAX_SMALL_FILE)
            except IntegrityError as e:
                raise self._fault(path, e) from e
        else:
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
