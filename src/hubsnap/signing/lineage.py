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

Both are :meth:`~hubsnap.oci.repository.Repository.manifests` of the repositories
:meth:`~hubsnap.oci.repository.Repository.sibling` names (a layout is its own only
sibling); the newest is the one with the latest created annotation, ties going to the one
listed last (a layout lists oldest first).

A candidate is only linked when it carries a provenance that one of the trusted keys
verifies; the link records that provenance's envelope digest.
"""

from __future__ import annotations

from collections.abc import Sequence

from hubsnap.digest import Digest
from hubsnap.errors import HubsnapError, IntegrityError, UsageError
from hubsnap.models import (
    ANNOTATION_BASE_DIGEST,
    ANNOTATION_CREATED,
    ANNOTATION_SOURCE,
    Manifest,
)
from hubsnap.oci.artifact import model_files
from hubsnap.oci.repository import Repository
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
#: Manifests of a local store examined when looking for a base model.
_MAX_LISTED = 100_000


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
    manifest = repository.manifest(digest).manifest
    checks = [
        check_signature(r, manifest, digest, tuple(keys))
        for r in load_signature_referrers(repository, digest)
    ]
    chosen = newest([c for c in checks if c.ok and c.kind == KIND_PROVENANCE])
    return chosen.envelope if chosen else None


def find_by_source(
    repository: Repository, source_url: str, *, limit: int = _MAX_LISTED
) -> Digest | None:
    """The newest model ``repository`` lists whose source annotation is ``source_url``."""
    best: tuple[str, int, Digest] | None = None
    seen: set[Digest] = set()
    for position, descriptor in enumerate(repository.manifests(limit)):
        if descriptor.digest in seen or "model" not in (descriptor.artifact_type or ""):
            continue
        seen.add(descriptor.digest)
        manifest = repository.manifest(descriptor.digest).manifest
        if not manifest.is_model or manifest.annotations.get(ANNOTATION_SOURCE) != source_url:
            continue
        rank = (manifest.annotations.get(ANNOTATION_CREATED, ""), position)
        if best is None or rank >= best[:2]:
            best = (*rank, descriptor.digest)
    return best[2] if best else None


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


def find_base(
    repository: Repository, *, child_id: str, base_id: str, hf_endpoint: str
) -> tuple[Repository, Digest] | None:
    """The newest artifact of Hub model ``base_id`` near ``repository`` (see the module)."""
    source_url = f"{hf_endpoint}/{base_id}"
    limit = MAX_TAGS if repository.registry is not None else _MAX_LISTED
    for name in base_repositories(repository.name, child_id, base_id):
        home = repository.sibling(name)
        found = find_by_source(home, source_url, limit=limit)
        if found is not None:
            return home, found
    return None


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
    parent_manifest = home.manifest(digest).manifest
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
