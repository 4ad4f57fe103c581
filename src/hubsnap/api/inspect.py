"""The ``inspect`` verb: an artifact's manifest and its referrers tree, bounded.

Referrers are remote data: the tree visits each once, leaves out one whose manifest names
another subject, and stops at :data:`~hubsnap.oci.transfer.MAX_REFERRERS`, saying so in
``warnings`` (with names in the manifest a reader could mistake for others).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from hubsnap.api.session import Session
from hubsnap.api.signatures import SignatureDescription, describe_signatures
from hubsnap.digest import Digest
from hubsnap.models import MEDIA_TYPE_IMAGE_MANIFEST, Descriptor, Manifest
from hubsnap.oci.directory import name_warnings
from hubsnap.oci.repository import Repository
from hubsnap.oci.transfer import ReferrerWalk

__all__ = ["InspectResult", "ReferrerNode", "inspect"]

_REFERRER_DEPTH = 4


@dataclass(frozen=True)
class ReferrerNode:
    """A referrer and, recursively, its own referrers (signatures of attestations...).

    ``signature`` says, for a signature bundle of the inspected artifact, whether it is the
    OMS signature, the provenance or a signed diff report, and which key signed it (the
    bundle's key hint); it is
    the payload's own claim, not a verification (that is ``verify``'s), and ``None`` for
    other referrers.
    """

    descriptor: Descriptor
    referrers: tuple[ReferrerNode, ...] = ()
    signature: SignatureDescription | None = None

    def to_json(self) -> dict[str, Any]:
        out = self.descriptor.to_json()
        out["referrers"] = [r.to_json() for r in self.referrers]
        if self.signature is not None:
            out["signature"] = {
                "kind": str(self.signature.kind) if self.signature.kind else None,
                "key_hint": self.signature.key_hint,
                "problem": self.signature.problem,
            }
        return out


@dataclass(frozen=True)
class InspectResult:
    """An artifact's manifest, where it was found, and its referrers tree."""

    reference: str
    digest: Digest
    size: int
    manifest: Manifest
    referrers: tuple[ReferrerNode, ...] = field(default_factory=tuple)
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "digest": str(self.digest),
            "size": self.size,
            "manifest": self.manifest.to_json(),
            "referrers": [r.to_json() for r in self.referrers],
        }


def _referrer_tree(
    repo: Repository, subject: Digest, depth: int, walk: ReferrerWalk
) -> tuple[ReferrerNode, ...]:
    if depth >= _REFERRER_DEPTH:
        return ()
    nodes = []
    for descriptor in walk.children(repo, subject):
        if descriptor.media_type == MEDIA_TYPE_IMAGE_MANIFEST:
            found = walk.manifest(repo, descriptor.digest)
            if found is None or not walk.accepts(found.manifest, descriptor.digest, subject):
                continue
        nodes.append(
            ReferrerNode(descriptor, _referrer_tree(repo, descriptor.digest, depth + 1, walk))
        )
    return tuple(nodes)


def _label_signatures(
    nodes: tuple[ReferrerNode, ...], repo: Repository, subject: Digest
) -> tuple[ReferrerNode, ...]:
    """The subject's direct referrers, each signature bundle labelled with what it is."""
    if not nodes:
        return nodes
    described = {d.referrer: d for d in describe_signatures(repo, subject)}
    return tuple(replace(node, signature=described.get(node.descriptor.digest)) for node in nodes)


def inspect(session: Session, reference: str) -> InspectResult:
    """Read a manifest (by digest or tag) and the referrers that point at it.

    Referrers are walked once each, at most :data:`~hubsnap.oci.transfer.MAX_REFERRERS` in
    all; one whose manifest names another subject is left out (``warnings`` says so), as
    are names a reader could mistake for others.
    """
    ref = session.parse(reference)
    repo, digest, _ = session.resolve(ref)
    found = session.manifest(repo, digest)
    manifest = found.manifest
    walk = ReferrerWalk(digest)
    tree = _label_signatures(_referrer_tree(repo, digest, 0, walk), repo, digest)
    paths = [layer.filepath for layer in manifest.layers if layer.filepath is not None]
    warnings = (*name_warnings(paths), *walk.warnings)
    shown = str(ref.with_digest(digest))
    return InspectResult(shown, digest, found.size, manifest, tree, warnings)
