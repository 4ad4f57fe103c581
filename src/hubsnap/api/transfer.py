"""The transfer verbs: ``push`` (with ``--sign``, signing what it pushed) and ``pull``.

Both work the same against a registry and an OCI layout: a :class:`~hubsnap.api.session.
Session` opens the references as :class:`~hubsnap.oci.repository.Repository` objects. Pulls
go through the local store: an artifact is fetched once, then re-pushed, signed, diffed or
written out from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubsnap.api.session import Session
from hubsnap.api.signing import Prompt, SignResult, sign_artifact, snapshot_revision
from hubsnap.digest import Digest
from hubsnap.errors import NotFoundError, UsageError
from hubsnap.oci.directory import plan_destinations
from hubsnap.oci.materialise import PulledFile, file_layers, linked_here, materialise
from hubsnap.oci.reference import Reference
from hubsnap.oci.repository import Repository, VerifiedManifest
from hubsnap.oci.transfer import copy_artifact
from hubsnap.signing.keys import DEFAULT_PASSWORD_ENV, load_private_key
from hubsnap.snapshot import read_artifact_reference

__all__ = ["PullResult", "PushResult", "pull", "push", "snapshot_source"]


def _with_digest(ref: Reference, digest: Digest) -> str:
    return str(ref.with_digest(digest))


# -- push -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PushResult:
    """A push: ``destination`` is ``DEST@sha256:…``; counts as in ``CopyResult``;
    ``signed`` is the signing of what was pushed (``None`` when not asked to sign)."""

    source: str
    destination: str
    digest: Digest
    blobs_total: int
    blobs_sent: int
    blobs_mounted: int
    bytes_sent: int
    referrers: tuple[Digest, ...]
    dry_run: bool
    warnings: tuple[str, ...] = ()
    signed: SignResult | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": self.source,
            "reference": self.destination,
            "digest": str(self.digest),
            "blobs": self.blobs_total,
            "blobs_sent": self.blobs_sent,
            "blobs_mounted": self.blobs_mounted,
            "bytes_sent": self.bytes_sent,
            "referrers": [str(d) for d in self.referrers],
            "dry_run": self.dry_run,
        }
        if self.signed is not None:
            out["signed"] = self.signed.to_json()
        return out


def snapshot_source(text: str) -> Path | None:
    """The ``snapshot.yaml`` a push source names, or ``None`` when it is a reference."""
    path = Path(text)
    if path.suffix in (".yaml", ".yml") and not text.startswith("oci:"):
        if not path.is_file():
            raise NotFoundError(f"snapshot file {text} not found")
        return path
    return None


def push(
    session: Session,
    source: str,
    destination: str,
    *,
    dry_run: bool = False,
    sign_key: Path | None = None,
    password_env: str = DEFAULT_PASSWORD_ENV,
    prompt: Prompt | None = None,
) -> PushResult:
    """Copy an artifact (with its referrers) from ``source`` to ``destination``; with
    ``sign_key``, then sign it there (a ``snapshot.yaml`` source also gives the requested
    revision for the provenance). The key is loaded before anything is sent."""
    document = snapshot_source(source)
    src_ref = session.parse(read_artifact_reference(document) if document else source)
    dst_ref = session.parse(destination)
    if dst_ref.digest is not None:
        raise UsageError(
            f"push destination {destination!r} names a digest",
            hint="give a repository, optionally with a tag; the digest is the source's",
        )
    key = None
    if sign_key is not None and not dry_run:
        key = load_private_key(sign_key, password_env=password_env, prompt=prompt)
    dst = session.open(dst_ref)
    src, digest, _ = session.resolve(src_ref)
    with dst.writing():
        result = copy_artifact(
            src,
            dst,
            digest,
            tag=dst_ref.tag,
            dry_run=dry_run,
            manifest=session.manifest(src, digest),
            sightings=session.sightings,
        )
    signed = None
    if key is not None:
        requested = snapshot_revision(document, digest) if document is not None else None
        signed = sign_artifact(
            dst, digest, key, requested_revision=requested, hf_endpoint=session.settings.hub_url
        )
    return PushResult(
        source=_with_digest(src_ref, digest),
        destination=_with_digest(dst_ref, digest),
        digest=digest,
        blobs_total=result.blobs_total,
        blobs_sent=result.blobs_sent,
        blobs_mounted=result.blobs_mounted,
        bytes_sent=result.bytes_sent,
        referrers=result.referrers,
        dry_run=dry_run,
        warnings=result.warnings,
        signed=signed,
    )


# -- pull -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PullResult:
    """A pull. ``tag`` is the tag the digest was resolved from (``None`` when pulled by
    digest); ``directory`` is ``None`` when the artifact went only into the local store.
    """

    reference: str
    digest: Digest
    tag: str | None
    store: Path
    directory: Path | None
    files: tuple[PulledFile, ...]
    blobs_fetched: int
    bytes_fetched: int
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "digest": str(self.digest),
            "tag": self.tag,
            "store": str(self.store),
            "directory": str(self.directory) if self.directory else None,
            "files": [
                {"path": f.path, "digest": str(f.digest), "size": f.size} for f in self.files
            ],
            "blobs_fetched": self.blobs_fetched,
            "bytes_fetched": self.bytes_fetched,
        }


def pull(
    session: Session,
    reference: str,
    *,
    output: Path | None = None,
    allow_tag: bool = False,
    link: bool = False,
    force: bool = False,
    from_cache: bool = False,
) -> PullResult:
    """Fetch an artifact and, with ``output``, write its files into that directory.

    The manifest always comes from the repository ``reference`` names (so a repository that
    lacks the artifact is an error even when the local store has it), unless ``from_cache``
    allows the store to answer. Without ``output`` the artifact goes into the local store.
    With ``output`` the files are independent copies, each streamed once (from the store
    when it holds the blob, else from the source) and nothing is added to the store; ``link``
    fills the store instead and hard-links the files to its blobs (sharing their bytes).
    Every destination is checked before the first write and a failure leaves ``output`` as
    it was; ``force`` lets files that differ from the artifact's be replaced.
    """
    ref = session.parse(reference)
    if ref.digest is None and not allow_tag:
        raise UsageError(
            f"{reference} names no digest",
            hint="pull by digest (REF@sha256:…), or pass --allow-tag to resolve the tag",
        )
    local = session.local_store(create=True)
    src, found, tag = _pull_manifest(session, ref, local, from_cache)
    digest, manifest = found.digest, found.manifest
    layers = file_layers(manifest)  # every path checked before a blob is fetched
    plan = (
        plan_destinations(
            output, layers, force=force, same_file=linked_here(local) if link else None
        )
        if output is not None
        else None
    )
    if plan is not None and not link:
        written = materialise(plan, local, src, check=manifest.config, label=digest.hex[:12])
        fetched, sent, warnings = written.blobs_fetched, written.bytes_fetched, []
        files = written.files
    else:
        with local.writing():
            result = copy_artifact(src, local, digest, manifest=found, sightings=session.sightings)
        fetched, sent, warnings = result.blobs_sent, result.bytes_sent, list(result.warnings)
        files = ()
        if plan is not None:
            files = materialise(plan, local, None, link=True, verified=result.sent).files
    return PullResult(
        reference=_with_digest(ref, digest),
        digest=digest,
        tag=tag,
        store=session.settings.store,
        directory=output,
        files=files,
        blobs_fetched=fetched,
        bytes_fetched=sent,
        warnings=tuple((plan.warnings if plan is not None else ()) + tuple(warnings)),
    )


def _pull_manifest(
    session: Session, ref: Reference, local: Repository, from_cache: bool
) -> tuple[Repository, VerifiedManifest, str | None]:
    """The source, the manifest ``ref`` names and the tag it was resolved from: from the
    source, unless the store may answer (``from_cache``) and holds it."""
    if from_cache and ref.digest is not None and local.has_blob(ref.digest):
        return session.open(ref), local.manifest(ref.digest), None
    src = session.open(ref)
    src.require()
    if ref.digest is not None:  # no resolve first: the manifest read is the one request
        return src, session.manifest(src, ref.digest), None
    src, digest, tag = session.resolve(ref)
    return src, session.manifest(src, digest), tag
