"""The signing verbs: ``keygen``, ``sign``, ``verify`` and ``export_signature``.

``sign`` resolves the reference to a manifest digest first, then attaches two referrers to
that exact digest: the OMS signature over the manifest's files and the SLSA provenance.

Provenance inputs, and where they come from:

* Hub source and commit: the manifest's ``org.opencontainers.image.source`` and
  ``org.opencontainers.image.revision`` annotations (what ``snapshot`` wrote).
* Requested revision: ``requested_revision`` when the caller knows it (``snapshot --sign``,
  ``sign --revision``, or ``sign --snapshot snapshot.yaml``, whose recorded artifact digest
  must be the one signed), else the commit — the artifact itself only records the commit.
* Model card: the ``README.md`` layer, read from the repository (capped at 1 MiB).
* Parent: ``parent`` (``sign --parent REF``), else the base annotations, else the card's
  ``base_model`` found in the same local store or beside the repository on the registry —
  see :mod:`hubsnap.signing.lineage`. The parent must carry a provenance signed by the
  signing key or one of ``parent_keys``; its envelope digest is recorded.

Both statements are built and signed, and both bundles uploaded, before either referrer
manifest is stored, so a failure leaves at most the window between the two manifest puts
(and then says which referrer landed).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hubsnap.api.transfer import TransportOptions, open_repository
from hubsnap.config import Settings
from hubsnap.digest import Digest
from hubsnap.documents import InvalidDocument, load_json
from hubsnap.errors import IntegrityError, UsageError, from_os_error
from hubsnap.fsutil import atomic_write_bytes
from hubsnap.models import (
    ANNOTATION_REVISION,
    ANNOTATION_SOURCE,
    Descriptor,
)
from hubsnap.oci.layout import LayoutStore
from hubsnap.oci.reference import LayoutReference, parse_reference
from hubsnap.oci.registry import RegistryRepository
from hubsnap.oci.repository import LayoutRepository, Repository
from hubsnap.signing.attach import (
    KIND_OMS,
    KIND_PROVENANCE,
    attach_bundles,
    load_signature_referrers,
    prepare_referrer,
)
from hubsnap.signing.dsse import sign_statement
from hubsnap.signing.keys import (
    DEFAULT_PASSWORD_ENV,
    KeyPair,
    PrivateKey,
    PublicKey,
    generate_key,
    load_private_key,
    load_public_key,
    save_key_pair,
)
from hubsnap.signing.lineage import parent_link, read_model_card
from hubsnap.signing.oms import OMS_PREDICATE_TYPE, build_oms_statement
from hubsnap.signing.policy import Requirements, TrustPolicy, load_policy
from hubsnap.signing.provenance import (
    ParentLink,
    build_provenance_statement,
)
from hubsnap.signing.verify import ArtifactCheck, Verifier
from hubsnap.snapshot import read_snapshot_document

__all__ = [
    "ExportResult",
    "SignResult",
    "export_signature",
    "keygen",
    "sign",
    "sign_artifact",
    "snapshot_revision",
    "verify",
]

Prompt = Callable[[str], str]


class _Repositories:
    """Opens the repositories one verb touches, and closes registry connections after."""

    def __init__(self, settings: Settings, transport: TransportOptions | None = None) -> None:
        self.settings = settings
        self.transport = transport
        self._stack = contextlib.ExitStack()

    def open(self, text: str) -> tuple[Repository, str | Digest]:
        """The repository a reference names, and the tag or digest inside it."""
        reference = parse_reference(text, store=self.settings.store)
        if isinstance(reference, LayoutReference):
            # Absolute paths: they are recorded in provenance and matched by policy scopes.
            store = LayoutStore(reference.path.expanduser().resolve()).require()
            return LayoutRepository(store), reference.digest or reference.tag or "latest"
        repository = open_repository(reference, self.settings, transport=self.transport)
        if isinstance(repository, RegistryRepository):
            self._stack.callback(repository.close)
        return repository, reference.digest or reference.tag or "latest"

    def resolve(self, text: str) -> tuple[Repository, Digest]:
        repository, reference = self.open(text)
        return repository, repository.resolve(reference).digest

    def __enter__(self) -> _Repositories:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()


def keygen(
    output: Path,
    *,
    curve: str = "p256",
    password_env: str | None = None,
    encrypt: bool = False,
    prompt: Prompt | None = None,
) -> KeyPair:
    """Generate a key pair, encrypted when ``password_env`` names a variable (its password,
    or the prompt's when it is unset) or when ``encrypt`` asks for a prompted password."""
    password = None
    if password_env is not None:
        password = os.environ.get(password_env) or None
        if password is None and prompt is not None:
            password = prompt("Password for the new key")
        if not password:
            raise UsageError(f"{password_env} is not set", hint="export it or omit --password-env")
    elif encrypt:
        password = prompt("Password for the new key") if prompt is not None else None
        if not password:
            raise UsageError(
                "--encrypt needs a password typed at a terminal",
                hint="run interactively, or pass --password-env VAR",
            )
    try:
        return save_key_pair(generate_key(curve), output, password=password)
    except OSError as e:
        raise from_os_error(e, "write the key", output) from e


@dataclass(frozen=True)
class SignResult:
    """What was attached. ``parent`` is ``None`` when the provenance names no parent."""

    subject: str
    digest: Digest
    signer: str
    signature: Digest
    provenance: Digest
    provenance_envelope: Digest
    parent: ParentLink | None
    files: int
    notes: tuple[str, ...] = ()


def sign_artifact(
    repository: Repository,
    digest: Digest,
    key: PrivateKey,
    *,
    signed_at: datetime | None = None,
    parent: tuple[Repository, Digest] | None = None,
    parent_keys: Sequence[PublicKey] = (),
    requested_revision: str | None = None,
    hf_endpoint: str = "https://huggingface.co",
) -> SignResult:
    """Sign a model manifest already in ``repository``: attach OMS signature and provenance.

    This is the whole cost of signing once the key is loaded (the benchmark times it).
    """
    now = signed_at or datetime.now(UTC)
    data, manifest = repository.get_manifest(digest)
    if not manifest.is_model:
        raise UsageError(f"{digest} is not a model artifact", hint="sign the model manifest")
    subject = Descriptor(manifest.media_type, digest, len(data))
    source_url = manifest.annotations.get(ANNOTATION_SOURCE, "")
    commit = manifest.annotations.get(ANNOTATION_REVISION, "")
    if not source_url or not commit:
        raise IntegrityError(f"{digest} lacks its source or revision annotation")
    repo_id = source_url.removeprefix(hf_endpoint).strip("/") or source_url
    card = read_model_card(repository, manifest)
    trusted = (key.public(), *parent_keys)
    link, notes = parent_link(
        repository,
        manifest=manifest,
        child_id=repo_id,
        card=card,
        parent=parent,
        keys=trusted,
        hf_endpoint=hf_endpoint,
    )

    oms_statement = build_oms_statement(manifest, repo_id)
    oms_bundle = sign_statement(oms_statement, key)
    provenance_bundle = sign_statement(
        build_provenance_statement(
            manifest_digest=digest,
            source_url=source_url,
            repo_id=repo_id,
            requested_revision=requested_revision or commit,
            commit=commit,
            card=card,
            parent=link,
            signed_at=now,
        ),
        key,
    )
    signature, provenance = attach_bundles(
        repository,
        (
            prepare_referrer(subject, oms_bundle, KIND_OMS, now),
            prepare_referrer(subject, provenance_bundle, KIND_PROVENANCE, now),
        ),
    )
    return SignResult(
        subject=f"{repository.describe()}@{digest}",
        digest=digest,
        signer=key.public().fingerprint,
        signature=signature,
        provenance=provenance,
        provenance_envelope=provenance_bundle.envelope.digest,
        parent=link,
        files=len(oms_statement["predicate"]["resources"]),
        notes=notes,
    )


def sign(
    settings: Settings,
    reference: str,
    key_path: Path,
    *,
    parent: str | None = None,
    parent_keys: Sequence[Path] = (),
    requested_revision: str | None = None,
    snapshot: Path | None = None,
    password_env: str = DEFAULT_PASSWORD_ENV,
    prompt: Prompt | None = None,
    signed_at: datetime | None = None,
    transport: TransportOptions | None = None,
) -> SignResult:
    """``hubsnap sign``: resolve ``reference`` to a digest, then sign that digest.

    ``snapshot`` (a ``snapshot.yaml``) supplies the requested revision; it must record the
    artifact being signed. ``transport`` (plain HTTP, CA file) applies to registry
    references, as for ``push``.
    """
    if snapshot is not None and requested_revision is not None:
        raise UsageError("--snapshot and --revision both name the requested revision")
    key = load_private_key(key_path, password_env=password_env, prompt=prompt)
    extra = tuple(load_public_key(p) for p in parent_keys)
    with _Repositories(settings, transport) as repositories:
        repository, digest = repositories.resolve(reference)
        if snapshot is not None:
            requested_revision = snapshot_revision(snapshot, digest)
        parent_target = repositories.resolve(parent) if parent else None
        return sign_artifact(
            repository,
            digest,
            key,
            signed_at=signed_at,
            parent=parent_target,
            parent_keys=extra,
            requested_revision=requested_revision,
            hf_endpoint=settings.hf_endpoint,
        )


def snapshot_revision(path: Path, digest: Digest) -> str:
    """The requested revision a ``snapshot.yaml`` records for the artifact ``digest``."""
    document = read_snapshot_document(path)
    artifact, revision = document.get("artifact"), document.get("revision")
    if not isinstance(artifact, dict) or not isinstance(revision, str) or not revision:
        raise UsageError(f"{path} is not a hubsnap snapshot document")
    if artifact.get("digest") != str(digest):
        raise UsageError(
            f"{path} records artifact {artifact.get('digest')}, not {digest}",
            hint="pass the snapshot.yaml written for this artifact",
        )
    return revision


def verify(
    settings: Settings,
    reference: str,
    *,
    keys: Sequence[Path] = (),
    policy: Path | None = None,
    chain: bool = False,
    now: datetime | None = None,
    transport: TransportOptions | None = None,
) -> ArtifactCheck:
    """``hubsnap verify``: the report; the caller decides what a failure means (see level)."""
    if not keys and policy is None:
        raise UsageError("no trusted key", hint="pass --key KEY.pub or --policy policy.yaml")
    public_keys = tuple(load_public_key(p) for p in keys)
    if policy is not None:
        trust = load_policy(policy).with_keys(public_keys)
    else:
        trust = TrustPolicy.from_keys(public_keys, Requirements())
    with _Repositories(settings, transport) as repositories:
        repository, digest = repositories.resolve(reference)
        verifier = Verifier(
            trust=trust,
            open_repository=lambda uri: repositories.open(uri)[0],
            now=now or datetime.now(UTC),
            chain=chain,
        )
        return verifier.verify(repository, digest)


@dataclass(frozen=True)
class ExportResult:
    digest: Digest
    referrer: Digest
    output: Path
    size: int


def _predicate_type(payload: bytes) -> str | None:
    # Only picks which bundle to export; the exported file is verified by its reader.
    try:
        value = load_json(payload, "DSSE payload")
    except InvalidDocument:
        return None
    kind = value.get("predicateType") if isinstance(value, dict) else None
    return kind if isinstance(kind, str) else None


def export_signature(
    settings: Settings,
    reference: str,
    output: Path,
    *,
    transport: TransportOptions | None = None,
) -> ExportResult:
    """Write the newest OMS bundle of ``reference`` to ``output`` for ``model_signing``.

    Nothing is trusted here: the file is what ``model_signing verify`` checks.
    """
    with _Repositories(settings, transport) as repositories:
        repository, digest = repositories.resolve(reference)
        referrers = load_signature_referrers(repository, digest)
    candidates = []
    for referrer in referrers:
        if referrer.bundle is None or referrer.kind not in (KIND_OMS, None):
            continue
        if _predicate_type(referrer.bundle.envelope.payload) != OMS_PREDICATE_TYPE:
            continue
        candidates.append(referrer)
    if not candidates:
        raise IntegrityError(
            f"no signature found for {repository.describe()}@{digest}",
            hint="sign it with hubsnap sign",
        )
    chosen = max(candidates, key=lambda r: (r.created or "", str(r.digest)))
    assert chosen.bundle is not None
    data = chosen.bundle.to_bytes()
    try:
        atomic_write_bytes(output, data)
    except OSError as e:
        raise UsageError(f"cannot write {output}: {e.strerror}") from e
    return ExportResult(digest, chosen.digest, output, len(data))
