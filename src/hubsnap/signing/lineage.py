"""Lineage: the model card and the signed parent a new provenance statement links to.

The parent comes from, in order: the caller (``sign --parent REF``); the manifest's
``org.opencontainers.image.base.digest`` annotation, looked up in the same repository; or, for
each ``base_model`` in the model card, the newest model artifact in the same local store whose
``org.opencontainers.image.source`` is that model's Hub URL (a registry cannot be searched by
annotation, so there ``--parent`` or the base annotations are needed). A parent is only
linked when it carries a provenance that one of the trusted keys verifies; the link records
that provenance's envelope digest.
"""

from __future__ import annotations

from collections.abc import Sequence

from hubsnap.digest import Digest
from hubsnap.errors import IntegrityError, UsageError
from hubsnap.models import ANNOTATION_BASE_DIGEST, ANNOTATION_SOURCE, Manifest
from hubsnap.oci.artifact import model_files
from hubsnap.oci.repository import LayoutRepository, Repository
from hubsnap.signing.attach import KIND_PROVENANCE, load_signature_referrers
from hubsnap.signing.keys import PublicKey
from hubsnap.signing.provenance import ModelCard, ParentLink, parse_model_card
from hubsnap.signing.verify import check_signature

__all__ = ["find_by_source", "parent_link", "provenance_envelope", "read_model_card"]

_MAX_CARD_BYTES = 1024 * 1024


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
    valid = [c for c in checks if c.ok and c.kind == KIND_PROVENANCE]
    if not valid:
        return None
    newest = max(
        valid, key=lambda c: (c.signed_at.timestamp() if c.signed_at else 0.0, str(c.envelope))
    )
    return newest.envelope


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


def parent_link(
    repository: Repository,
    *,
    manifest: Manifest,
    card: ModelCard | None,
    parent: tuple[Repository, Digest] | None,
    keys: Sequence[PublicKey],
    hf_endpoint: str,
) -> tuple[ParentLink | None, tuple[str, ...]]:
    if parent is None and ANNOTATION_BASE_DIGEST in manifest.annotations:
        try:
            parent = (repository, Digest.parse(manifest.annotations[ANNOTATION_BASE_DIGEST]))
        except UsageError as e:
            raise IntegrityError(f"manifest base digest annotation is malformed: {e}") from e
    notes: list[str] = []
    if parent is None and card is not None:
        for base in card.base_models:
            found = find_by_source(repository, f"{hf_endpoint}/{base}")
            if found is not None:
                parent = (repository, found)
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
