"""Housekeeping of the local store: list what it holds, select, tag, remove, collect garbage.

The store is an OCI image layout (:mod:`hubsnap.oci.layout`); an *artifact* is an indexed
manifest with no ``subject``, and its *referrers* (signatures, provenance) are the indexed
manifests whose subject chain leads to it. Artifacts are named by digest, by a store tag, or by
``REPO@REV``: snapshot tags them ``repo:revision`` and ``repo:commit`` (:func:`store_tag`);
stores written before that carry the bare commit sha as the tag, which still selects them.

Deleting is safe against concurrent writers: it holds the store's :class:`~hubsnap.oci.
storelock.StoreLock` exclusively and the index lock, deletes only files under ``blobs/``
(never ``ingest/``), and never a blob that a remaining index entry reaches through any
manifest, index, config, layer or subject. Anything it cannot read stops it before it
deletes anything.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from hubsnap.canonical import loads_object
from hubsnap.digest import Digest
from hubsnap.errors import IntegrityError, NotFoundError, UsageError
from hubsnap.models import ANNOTATION_REVISION, ANNOTATION_SOURCE, MAX_MANIFEST_BYTES
from hubsnap.oci.layout import IndexEntry, LayoutStore

__all__ = [
    "Deleted",
    "Removal",
    "StoredArtifact",
    "check_tag_name",
    "collect_garbage",
    "list_artifacts",
    "plan_removal",
    "reached_blobs",
    "remove",
    "select",
    "store_tag",
    "tag_artifact",
]

# The image-layout spec's grammar for ``org.opencontainers.image.ref.name``.
_COMPONENT = r"[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*"
_REF_NAME = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._/-]+")
_LEAF_KEYS = ("config", "layers", "blobs")
_MANIFEST_KEYS = ("manifests", "subject")


def store_tag(repo_id: str, revision: str) -> str:
    """The readable store tag of ``REPO@REV``: ``org/name:rev`` (repository lowercased as
    OCI names are; characters a tag cannot hold become ``-``)."""
    name = _UNSAFE.sub("-", repo_id.lower()).strip("-./")
    rev = _UNSAFE.sub("-", revision).strip("-./")
    return f"{name}:{rev}"


def check_tag_name(name: str) -> str:
    if len(name) > 255 or not _REF_NAME.match(name):
        raise UsageError(
            f"invalid store tag {name!r}",
            hint="letters, digits and . _ - : @ + between them, / between parts",
        )
    return name


@dataclass(frozen=True)
class StoredArtifact:
    """One artifact in the store. ``repo`` and ``revision`` come from its source and revision
    annotations (``None`` when it has none); ``size`` counts each of its blobs once, and
    ``last_used`` is the latest access time among them (seconds since the epoch)."""

    digest: Digest
    tags: tuple[str, ...]
    repo: str | None
    revision: str | None
    artifact_type: str
    files: int
    size: int
    last_used: float
    referrers: tuple[Digest, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "digest": str(self.digest),
            "tags": list(self.tags),
            "model_id": self.repo,
            "revision": self.revision,
            "artifact_type": self.artifact_type,
            "files": self.files,
            "size": self.size,
            "last_used": self.last_used,
            "referrers": [str(d) for d in self.referrers],
        }


def _repo_of(source: str | None, hub_url: str | None) -> str | None:
    if not source:
        return None
    if hub_url and source.startswith(hub_url.rstrip("/") + "/"):
        return source[len(hub_url.rstrip("/")) + 1 :] or None
    _, sep, rest = source.partition("://")
    path = rest.partition("/")[2] if sep else source
    return path or None


def _named(value: dict[str, Any], keys: tuple[str, ...]) -> Iterator[Digest]:
    """The digests of the descriptors a manifest or index holds under ``keys``."""
    for key in keys:
        item = value.get(key)
        for descriptor in item if isinstance(item, list) else [item]:
            if isinstance(descriptor, dict) and isinstance(descriptor.get("digest"), str):
                try:
                    yield Digest.parse(descriptor["digest"])
                except UsageError:
                    continue  # not a digest we store: nothing of ours to keep


def reached_blobs(store: LayoutStore, roots: Iterable[Digest]) -> set[Digest]:
    """Every blob the manifests ``roots`` reach (themselves included) through config,
    layers, index entries and subjects. A manifest that cannot be read stops everything:
    the blobs it names would otherwise look unused."""
    seen: set[Digest] = set()
    todo = list(roots)
    while todo:
        digest = todo.pop()
        if digest in seen:
            continue
        seen.add(digest)
        if not store.blob_path(digest).exists():
            continue  # named but absent (a removed subject): nothing to keep
        data = store.read_blob(digest)
        where = str(store.blob_path(digest))
        try:
            value = loads_object(data, where, max_bytes=MAX_MANIFEST_BYTES)
        except (ValueError, UsageError) as e:
            raise IntegrityError(
                f"manifest {digest} in {store.root} is unreadable: {e}",
                hint="hubsnap store verify names the damage and its repair",
            ) from e
        seen.update(_named(value, _LEAF_KEYS))
        todo.extend(d for d in _named(value, _MANIFEST_KEYS) if d not in seen)
    return seen


def _referrer_map(store: LayoutStore, entries: list[IndexEntry]) -> dict[Digest, list[Digest]]:
    children: dict[Digest, list[Digest]] = {}
    for digest in dict.fromkeys(e.descriptor.digest for e in entries):
        try:
            _, manifest = store.read_manifest(digest)
        except IntegrityError:
            continue  # an index or foreign manifest: it refers to nothing
        if manifest.subject is not None:
            children.setdefault(manifest.subject.digest, []).append(digest)
    return children


def _descendants(children: dict[Digest, list[Digest]], roots: Iterable[Digest]) -> list[Digest]:
    found: list[Digest] = []
    todo = list(roots)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.append(child)
                todo.append(child)
    return found


def list_artifacts(store: LayoutStore, hub_url: str | None = None) -> list[StoredArtifact]:
    """The store's artifacts, newest index entry last; referrers are listed under theirs."""
    entries = store.entries()
    children = _referrer_map(store, entries)
    referrers = {d for kids in children.values() for d in kids}
    tags: dict[Digest, list[str]] = {}
    for entry in entries:
        tags.setdefault(entry.descriptor.digest, [])
        if entry.tag:
            tags[entry.descriptor.digest].append(entry.tag)
    found = []
    for digest, names in tags.items():
        if digest in referrers:
            continue
        found.append(_describe(store, digest, tuple(names), children, hub_url))
    return found


def _describe(
    store: LayoutStore,
    digest: Digest,
    tags: tuple[str, ...],
    children: dict[Digest, list[Digest]],
    hub_url: str | None,
) -> StoredArtifact:
    blobs = reached_blobs(store, [digest])
    size, last = 0, 0.0
    for blob in blobs:
        try:
            info = store.blob_path(blob).lstat()
        except FileNotFoundError:
            continue
        size += info.st_size
        last = max(last, info.st_atime, info.st_mtime)
    try:
        _, manifest = store.read_manifest(digest)
    except IntegrityError:
        manifest = None
    annotations = manifest.annotations if manifest is not None else {}
    kind = (manifest.artifact_type or manifest.config.media_type) if manifest else "unknown"
    return StoredArtifact(
        digest=digest,
        tags=tags,
        repo=_repo_of(annotations.get(ANNOTATION_SOURCE), hub_url),
        revision=annotations.get(ANNOTATION_REVISION),
        artifact_type=kind,
        files=len(manifest.layers) if manifest is not None else 0,
        size=size,
        last_used=last,
        referrers=tuple(_descendants(children, [digest])),
    )


def select(store: LayoutStore, text: str, hub_url: str | None = None) -> list[Digest]:
    """The artifacts ``text`` names: ``sha256:…``, a store tag, or ``REPO@REV`` (the readable
    tag, else artifacts whose source is REPO and whose commit or old bare-sha tag is REV, or
    starts with it when REV is an abbreviated commit of 7 or more hex digits)."""
    entries = store.require().entries()
    if text.startswith("sha256:"):
        digest = Digest.parse(text)
        if any(e.descriptor.digest == digest for e in entries):
            return [digest]
        raise _not_found(text, store)
    tagged = [e.descriptor.digest for e in entries if e.tag == text]
    if tagged:
        return list(dict.fromkeys(tagged))
    repo, at, rev = text.rpartition("@")
    if at and repo and rev:
        readable = store_tag(repo, rev)
        tagged = [e.descriptor.digest for e in entries if e.tag == readable]
        if tagged:
            return list(dict.fromkeys(tagged))
        matches = []
        for item in list_artifacts(store, hub_url):
            if item.repo is None or item.repo.lower() != repo.lower():
                continue
            commit = item.revision or ""
            abbreviated = len(rev) >= 7 and re.fullmatch(r"[0-9a-f]+", rev) is not None
            if rev == commit or rev in item.tags or (abbreviated and commit.startswith(rev)):
                matches.append(item.digest)
        if matches:
            return matches
    raise _not_found(text, store)


def _not_found(text: str, store: LayoutStore) -> NotFoundError:
    tags = sorted({e.tag for e in store.entries() if e.tag})
    listed = ", ".join(tags[:8]) + (f" and {len(tags) - 8} more" if len(tags) > 8 else "")
    hint = f"the store's tags: {listed}; " if tags else ""
    return NotFoundError(
        f"{text} not found in {store.root}",
        hint=hint + "hubsnap store ls lists its artifacts (name one by sha256:…, tag or REPO@REV)",
    )


def tag_artifact(store: LayoutStore, digest: Digest, name: str) -> None:
    """Tag the indexed manifest ``digest`` as ``name`` (moving the tag if it named another)."""
    data, _ = store.read_manifest(digest)
    store.put_manifest(data, tag=check_tag_name(name))


@dataclass(frozen=True)
class Removal:
    """What ``store rm`` removes: the selected artifacts and all their referrers."""

    artifacts: tuple[Digest, ...]
    referrers: tuple[Digest, ...]

    @property
    def manifests(self) -> set[Digest]:
        return {*self.artifacts, *self.referrers}


def plan_removal(store: LayoutStore, artifacts: Iterable[Digest]) -> Removal:
    chosen = tuple(dict.fromkeys(artifacts))
    children = _referrer_map(store, store.entries())
    found = [d for d in _descendants(children, chosen) if d not in chosen]
    return Removal(chosen, tuple(found))


@dataclass(frozen=True)
class Deleted:
    """Blobs a deleting verb removed (or, with ``dry_run``, would remove)."""

    blobs: tuple[tuple[Digest, int], ...]
    swept: int = 0

    @property
    def bytes(self) -> int:
        return sum(size for _, size in self.blobs)


def _unreached_blobs(store: LayoutStore, keep: set[Digest]) -> list[tuple[Digest, int]]:
    folder = store.root / "blobs" / "sha256"
    found = []
    try:
        names = sorted(p.name for p in folder.iterdir())
    except FileNotFoundError:
        return []
    for name in names:
        try:
            digest = Digest.sha256(name)
        except UsageError:
            continue  # not a blob name: not ours to judge
        if digest in keep:
            continue
        info = (folder / name).lstat()
        if stat.S_ISREG(info.st_mode):
            found.append((digest, info.st_size))
    return found


def _delete(store: LayoutStore, blobs: list[tuple[Digest, int]], dry_run: bool) -> None:
    if dry_run:
        return
    for digest, _ in blobs:
        store.blob_path(digest).unlink(missing_ok=True)


def collect_garbage(store: LayoutStore, *, dry_run: bool = False, wait: float = 30.0) -> Deleted:
    """Delete the blobs that no index entry reaches; sweep ingest files of dead writers and
    the partial downloads interrupted runs left (nobody else uses the store meanwhile)."""
    store.require()
    with store.lock.exclusive(wait), store.locked():
        keep = reached_blobs(store, [e.descriptor.digest for e in store.entries()])
        garbage = _unreached_blobs(store, keep)
        _delete(store, garbage, dry_run)
        swept = 0 if dry_run else len(store.sweep_ingest(older_than=0, partials_older_than=0))
    return Deleted(tuple(garbage), swept)


def remove(
    store: LayoutStore, removal: Removal, *, dry_run: bool = False, wait: float = 30.0
) -> Deleted:
    """Drop ``removal``'s manifests from the index and delete the blobs only they used."""
    store.require()
    doomed = removal.manifests
    with store.lock.exclusive(wait):
        remaining = [e for e in store.entries() if e.descriptor.digest not in doomed]
        keep = reached_blobs(store, [e.descriptor.digest for e in remaining])
        candidates = reached_blobs(store, doomed) - keep
        blobs = [
            (d, store.blob_path(d).lstat().st_size)
            for d in sorted(candidates)
            if store.blob_path(d).is_file()
        ]
        if not dry_run:
            store.update_index(
                lambda entries: [e for e in entries if e.descriptor.digest not in doomed]
            )
        _delete(store, blobs, dry_run)
    return Deleted(tuple(blobs))
