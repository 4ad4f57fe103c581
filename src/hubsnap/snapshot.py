"""Snapshots: which files of a commit are taken, and the ``snapshot.yaml`` that records them.

A snapshot pins a Hub repository to one commit and lists every file of it with its size,
SHA-256, BLAKE3 and whether Git LFS stores it, plus the ``fingerprint`` map (config,
tokenizer and weight-index files → SHA-256) and the artifact it was packed into. The
document's shape is ``schemas/snapshot.schema.json``; it is written atomically, keys in a
fixed order, so the same snapshot gives the same bytes.

Selections: ``full`` (every file: a complete, deployable artifact), ``filtered``
(``--include``/``--exclude`` globs) and ``metadata-only`` (the light fingerprint: configs,
tokenizer files, weight indexes and the model card are downloaded; every other file is
recorded with the Hub's own size and, for LFS files, SHA-256, but not downloaded).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from hubsnap.documents import InvalidDocument, dump_yaml, load_yaml
from hubsnap.errors import NotFoundError, UsageError
from hubsnap.fsutil import atomic_write_bytes
from hubsnap.hubtypes import HubFile, check_repo_id
from hubsnap.localfile import read_regular_file

__all__ = [
    "SCHEMA_VERSION",
    "Selection",
    "SnapshotDocument",
    "SnapshotFile",
    "is_fingerprint_file",
    "is_metadata_file",
    "parse_card",
    "read_artifact_reference",
    "read_recorded_files",
    "read_snapshot_document",
    "select_files",
    "split_repo_revision",
    "write_snapshot",
]

SCHEMA_VERSION = "hubsnap.dev/snapshot/v1"
_HEX = frozenset("0123456789abcdef")
#: A snapshot of 100,000 files is about 30 MiB of YAML.
MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024
#: Front matter is a few KiB; evaluation tables (``model-index``) make the largest ones.
MAX_CARD_METADATA_BYTES = 1024 * 1024

#: Files whose hashes identify what a model *is* (the seed's fingerprint): configs,
#: tokenizers and the index of sharded weights.
_FINGERPRINT_NAMES = (
    "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
    "special_tokens_map.json", "added_tokens.json", "vocab.txt", "vocab.json", "merges.txt",
    "tokenizer.model", "spiece.model", "sentencepiece.bpe.model", "preprocessor_config.json",
    "*.index.json", "*.tiktoken", "chat_template.jinja",
)  # fmt: skip
_CARD_NAMES = ("README.md",)


def _matches(path: str, patterns: Sequence[str]) -> bool:
    name = PurePosixPath(path).name
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def is_fingerprint_file(path: str) -> bool:
    return _matches(path, _FINGERPRINT_NAMES)


def is_metadata_file(path: str) -> bool:
    """Downloaded by ``--metadata-only``: fingerprint files and the top-level model card."""
    return is_fingerprint_file(path) or path in _CARD_NAMES


@dataclass(frozen=True)
class Selection:
    """How files are chosen. Globs match the whole repository path (``*`` crosses ``/``)."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    metadata_only: bool = False

    @property
    def mode(self) -> str:
        if self.metadata_only:
            return "metadata-only"
        return "filtered" if self.include or self.exclude else "full"

    def wants(self, path: str) -> bool:
        if self.include and not any(fnmatch.fnmatchcase(path, p) for p in self.include):
            return False
        return not any(fnmatch.fnmatchcase(path, p) for p in self.exclude)


def select_files(
    files: Sequence[HubFile], selection: Selection
) -> tuple[list[HubFile], list[HubFile]]:
    """``(download, record_only)``: files to fetch, and files only listed in the snapshot."""
    chosen = [f for f in files if selection.wants(f.path)]
    if not selection.metadata_only:
        return chosen, []
    download = [f for f in chosen if is_metadata_file(f.path)]
    return download, [f for f in chosen if not is_metadata_file(f.path)]


def split_repo_revision(spec: str) -> tuple[str, str]:
    """``REPO_ID[@REVISION]`` → ``(repo_id, revision)``; the revision defaults to ``main``."""
    repo_id, sep, revision = spec.partition("@")
    if not repo_id or (sep and not revision):
        raise UsageError(f"invalid model {spec!r}", hint="use REPO_ID[@REVISION]")
    try:
        check_repo_id(repo_id)  # a malformed id is a typing mistake (2), not a missing repo (3)
    except NotFoundError as e:
        raise UsageError(e.message, hint=e.hint) from None
    return repo_id, revision or "main"


def parse_card(data: bytes) -> dict[str, Any]:
    """The YAML front matter of a model card, ``{}`` when it has none or it is malformed.

    Malformed includes what :func:`~hubsnap.documents.load_yaml` refuses (anchors, deep
    nesting, huge numbers); dates stay strings, so ``date: 2023-02-30`` is just text.
    """
    text = data.decode("utf-8", "replace").replace("\r\n", "\n")
    if not text.startswith("---\n"):
        return {}
    end = text.find("\n---", 4)
    if end < 0:
        return {}
    try:
        meta = load_yaml(text[4:end], "model card metadata", max_bytes=MAX_CARD_METADATA_BYTES)
    except InvalidDocument:
        return {}
    return meta if isinstance(meta, dict) else {}


@dataclass(frozen=True)
class SnapshotFile:
    """One file as recorded. ``sha256`` is ``None`` only for a plain-git file that was not
    downloaded (the Hub gives only its git blob id); ``blake3`` is ``None`` when not
    downloaded."""

    path: str
    size: int
    lfs: bool
    git_blob_id: str
    sha256: str | None
    blake3: str | None
    downloaded: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "size": self.size,
            "sha256": self.sha256,
            "blake3": self.blake3,
            "lfs": self.lfs,
            "git_blob_id": self.git_blob_id,
            "downloaded": self.downloaded,
        }


@dataclass(frozen=True)
class SnapshotDocument:
    """What ``snapshot.yaml`` says. ``artifact_digest``/``reference`` are ``None`` only in a
    dry run, which writes no document."""

    model_id: str
    source: str
    revision: str
    commit: str
    commit_date: str
    selection: Selection
    files: tuple[SnapshotFile, ...]
    artifact_digest: str | None
    artifact_reference: str | None
    artifact_tag: str | None
    card: Mapping[str, Any] = field(default_factory=dict)
    #: The ``HF_ENDPOINT`` the files came through; ``source`` names the canonical Hub.
    endpoint: str | None = None

    @property
    def fingerprint(self) -> dict[str, str]:
        return {
            f.path: f.sha256
            for f in self.files
            if f.sha256 is not None and is_fingerprint_file(f.path)
        }

    def to_json(self) -> dict[str, Any]:
        card = {k: self.card[k] for k in ("license", "base_model") if k in self.card}
        return {
            "schema": SCHEMA_VERSION,
            "model_id": self.model_id,
            "source": self.source,
            **({"endpoint": self.endpoint} if self.endpoint else {}),
            "revision": self.revision,
            "commit": self.commit,
            "commit_date": self.commit_date,
            "selection": {
                "mode": self.selection.mode,
                "include": list(self.selection.include),
                "exclude": list(self.selection.exclude),
            },
            "fingerprint": self.fingerprint,
            "files": [f.to_json() for f in self.files],
            "card": card,
            "artifact": {
                "digest": self.artifact_digest,
                "reference": self.artifact_reference,
                "tag": self.artifact_tag,
                "complete": self.selection.mode == "full",
                "files": sum(1 for f in self.files if f.downloaded),
            },
        }

    def to_yaml(self) -> bytes:
        return dump_yaml(self.to_json())


def write_snapshot(path: Path, document: SnapshotDocument) -> None:
    atomic_write_bytes(path, document.to_yaml())


def read_snapshot_document(path: Path) -> dict[str, Any]:
    """The mapping a ``snapshot.yaml`` holds; :class:`UsageError` (exit 2) for anything else.

    A FIFO, device or directory is refused unread, and no more than the cap is read.
    """
    data = read_regular_file(path, limit=MAX_SNAPSHOT_BYTES, what="snapshot document")
    try:
        document = load_yaml(data, str(path), max_bytes=MAX_SNAPSHOT_BYTES)
    except InvalidDocument as e:
        raise UsageError(str(e)) from e
    if not isinstance(document, dict):
        raise UsageError(f"{path} is not a hubsnap snapshot document")
    return document


def read_artifact_reference(path: Path) -> str:
    """The artifact a ``snapshot.yaml`` records, as ``oci:STORE@sha256:…`` (what push reads)."""
    document = read_snapshot_document(path)
    artifact = document.get("artifact")
    if not isinstance(artifact, dict) or document.get("schema") != SCHEMA_VERSION:
        raise UsageError(f"{path} is not a hubsnap snapshot document")
    reference, digest = artifact.get("reference"), artifact.get("digest")
    if not isinstance(reference, str) or not isinstance(digest, str):
        raise UsageError(f"{path} records no artifact", hint="it was written by a dry run?")
    if not reference.startswith("oci:") or not reference.endswith(f"@{digest}"):
        raise UsageError(f"{path}: artifact reference and digest disagree")
    return reference


def read_recorded_files(path: Path) -> tuple[SnapshotFile, ...]:
    """Every file a ``snapshot.yaml`` records (downloaded or known only by hash)."""
    entries = read_snapshot_document(path).get("files")
    if not isinstance(entries, list):
        raise UsageError(f"{path} is not a hubsnap snapshot document")
    files = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise UsageError(f"{path}: a file entry has no path")
        sha256, size = entry.get("sha256"), entry.get("size")
        if sha256 is not None and (
            not isinstance(sha256, str) or len(sha256) != 64 or not _HEX.issuperset(sha256)
        ):
            raise UsageError(f"{path}: {entry['path']} has a malformed sha256")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise UsageError(f"{path}: {entry['path']} has no valid size")
        files.append(
            SnapshotFile(
                path=entry["path"],
                size=size,
                lfs=bool(entry.get("lfs")),
                git_blob_id=str(entry.get("git_blob_id") or ""),
                sha256=sha256,
                blake3=entry.get("blake3"),
                downloaded=bool(entry.get("downloaded")),
            )
        )
    return tuple(files)
