"""Lineage: the model card and the signed parent a new provenance statement links to.

The parent comes from, in order: the caller (``sign --parent REF``); the manifest's
``org.opencontainers.image.base.digest`` annotation, looked up in the same repository; or, for
each ``base_model`` in the model card, the newest model artifact whose
``org.opencontainers.image.source`` is that model's Hub URL, found

* in a local store: among all the store's models;
* in a registry: among the tagged models of the repositories :func:`base_repositories`
  names — the child's repository with its Hub id (or just the model name) swapped for the
  base's, lowercased (``REG/mirror/org/tuned`` for ``org/tuned`` → ``REG/mirror/org/base``
  for ``org/base``; ``REG/models/tuned`` → ``REG/models/base``), then the child's own
  repository. A registry cannot be searched by annotation and its catalogue is rarely open
  to clients, so a base pushed elsewhere needs ``--parent``. At most :data:`MAX_TAGS` tags
  of a repository are examined; referrer fallback tags (``sha256-…``) are skipped.

A candidate is only linked when it carries a provenance that one of the trusted keys
verifies; the link records that provenance's envelope digest.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from hubsnap.digest import Digest
from hubsnap.errors import HubsnapError, IntegrityError, NotFoundError, UsageError
from hubsnap.models import (
    ANNOTATION_BASE_DIGEST,
    ANNOTATION_CREATED,
    ANNOTATION_SOURCE,
    Manifest,
)
from hubsnap.oci.artifact import model_files
from hubsnap.oci.registry import RegistryRepository
from hubsnap.oci.repository import LayoutRepository, Repository
from hubsnap.signing.attach import KIND_PROVENANCE, load_signature_referrers
from hubsnap.signing.keys import PublicKey
from hubsnap.signing.provenance import ModelCard, ParentLink, parse_model_card
from hubsnap.signing.verify import check_signature, newest

__all__ = [
    "MAX_TAGS",
    "base_repositories",
    "find_base",
    "find_by_source",
    "parent_link",
    "provenance_envelope",
    "read_model_card",
]

_MAX_CARD_BYTES = 1024 * 1024
#: Tags examined per repository when looking for a base model on a registry.
MAX_TAGS = 64
_REFERRER_TAG = re.compile(r"^sha256-[0-9a-f]{64}")


def read_model_card(repository: Repository, manifest: Manifest) -> ModelCard | None:
    """The ``README.md`` layer's digest and metadata; ``None`` without one (or over 1 MiB)."""
    for path, layer in model_files(manifest):
        if path == "README.md" and layer.size <= _MAX_CARD_BYTES:
            return parse_model_card(
                repository.get_blob_bytes(layer.digest, _MAX_CARD_BYTES), layer.digest
            )
    return None


def provenance_envelope(
    repository: Repository, digest: Digest, keys: Sequence[PublicKey]
) -> Digest | None:
    """The envelope digest of the newest provenance of ``digest`` that ``keys`` verify."""
    _, manifest = repository.get_manifest(digest)
    checks = [
        check_signature(r, manifest, digest, tuple(keys))
        for r in load_signature_referrers(repository, digest)
    ]
    chosen = newest([c for c in checks if c.ok and c.kind == KIND_PROVENANCE])
    return chosen.envelope if chosen else None


def find_by_source(repository: Repository, source_url: str) -> Digest | None:
    """The newest model in a local store whose source annotation is ``source_url``."""
    if not isinstance(repository, LayoutRepository):
        return None
    found = None
    for entry in repository.store.entries():
        descriptor = entry.descriptor
        if descriptor.artifact_type is None or "model" not in descriptor.artifact_type:
            continue
        _, manifest = repository.get_manifest(descriptor.digest)
        if manifest.is_model and manifest.annotations.get(ANNOTATION_SOURCE) == source_url:
            found = descriptor.digest  # index order: the last one is the newest
    return found


def base_repositories(repository: str, child_id: str, base_id: str) -> list[str]:
    """The registry repositories where ``base_id``'s artifact is looked for, in order."""
    names = []
    child, base = child_id.lower(), base_id.lower()
    pairs = ((child, base), (child.rpartition("/")[2], base.rpartition("/")[2]))
    for old, new in pairs:
        if repository == old or repository.endswith("/" + old):
            names.append(repository[: len(repository) - len(old)] + new)
    names.append(repository)
    return list(dict.fromkeys(names))


def _tags(repository: RegistryRepository) -> list[str]:
    """The repository's tags (at most :data:`MAX_TAGS`, referrer tags left out); none if the
    repository does not exist."""
    # Referrer tags (sha256-<hex>) are listed too; ask for enough to keep MAX_TAGS named ones.
    named = [t for t in repository.tags(MAX_TAGS * 4) if not _REFERRER_TAG.match(t)]
    return named[:MAX_TAGS]


def _newest_tagged(repository: RegistryRepository, source_url: str) -> Digest | None:
    """The tagged model in ``repository`` from ``source_url`` with the newest created date."""
    seen: set[Digest] = set()
    best: tuple[str, str, Digest] | None = None
    for tag in _tags(repository):
        try:
            descriptor = repository.resolve(tag)
        except NotFoundError:
            continue  # deleted between listing and reading
        if descriptor.digest in seen or "model" not in (descriptor.artifact_type or ""):
            continue
        seen.add(descriptor.digest)
        _, manifest = repository.get_manifest(descriptor.digest)
        if not manifest.is_model or manifest.annotations.get(ANNOTATION_SOURCE) != source_url:
            continue
        rank = (manifest.annotations.get(ANNOTATION_CREATED, ""), str(descriptor.digest))
        if best is None or rank > best[:2]:
            best = (*rank, descriptor.digest)
    return best[2] if best else None


def find_base(
    repository: Repository, *, child_id: str, base_id: str, hf_endpoint: str
) -> tuple[Repository, Digest] | None:
    """The newest artifact of Hub model ``base_id`` near ``repository`` (see the module)."""
    source_url = f"{hf_endpoint}/{base_id}"
    if isinstance(repository, RegistryRepository):
        for name in base_repositories(repository.repository, child_id, base_id):
            sibling = RegistryRepository(repository.client, name)
            found = _newest_tagged(sibling, source_url)
            if found is not None:
                return sibling, found
        return None
    found = find_by_source(repository, source_url)
    return (repository, found) if found is not None else None


def parent_link(
    repository: Repository,
    *,
    manifest: Manifest,
    child_id: str,
    card: ModelCard | None,
    parent: tuple[Repository, Digest] | None,
    keys: Sequence[PublicKey],
    hf_endpoint: str,
) -> tuple[ParentLink | None, tuple[str, ...]]:
    """The link to record (``None`` for a root) and notes on base models not found."""
    if parent is None and ANNOTATION_BASE_DIGEST in manifest.annotations:
        try:
            parent = (repository, Digest.parse(manifest.annotations[ANNOTATION_BASE_DIGEST]))
        except UsageError as e:
            raise IntegrityError(f"manifest base digest annotation is malformed: {e}") from e
    notes: list[str] = []
    if parent is None and card is not None:
        for base in card.base_models:
            try:
                parent = find_base(
                    repository, child_id=child_id, base_id=base, hf_endpoint=hf_endpoint
                )
            except HubsnapError as e:
                notes.append(f"base model {base}: lookup failed ({e.message})")
                continue
            if parent is not None:
                break
            notes.append(f"base model {base} has no artifact in {repository.describe()}")
    if parent is None:
        return None, tuple(notes)
    home, digest = parent
    _, parent_manifest = home.get_manifest(digest)
    envelope = provenance_envelope(home, digest, keys)
    if envelope is None:
        raise IntegrityError(
            f"parent {home.describe()}@{digest} has no provenance signed by a trusted key",
            hint="sign the parent first, or pass its key with --parent-key",
        )
    link = ParentLink(
        manifest=digest,
        provenance_envelope=envelope,
        uri=f"{home.describe()}@{digest}",
        source_url=parent_manifest.annotations.get(ANNOTATION_SOURCE),
    )
    return link, ()
