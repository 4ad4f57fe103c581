"""SLSA provenance v1 statements for model artifacts, and the hash links between them.

The statement's subject is the model manifest digest. Two build types share one typed value,
:class:`Provenance`:

* ``hub-snapshot`` — an artifact hubsnap built from a Hub commit (its manifest carries the
  OCI source and revision annotations). ``externalParameters.source`` records the Hub
  repository, URL and requested revision; the ``hubsnap:source`` dependency the commit.
* ``oci-artifact`` — any other ModelPack artifact (modctl, KitOps, oras). It records where it
  was signed (``externalParameters.artifact``) and what the artifact itself says of its source
  (``source.origin``: the OCI annotations, the ModelPack config's ``descriptor.sourceURL`` /
  ``revision``, or ``unknown``), never more than that.

Both record the model card (the ``README.md`` layer digest plus its YAML front-matter fields
``license``, ``base_model``, ``base_model_relation``, ``datasets`` and ``pipeline_tag``).
When the model derives from an artifact that is itself signed, a ``resolvedDependencies``
entry named ``hubsnap:parent`` records the parent manifest digest and, as the annotation
``provenanceEnvelope``, the digest of the parent's provenance DSSE envelope: each link in
base → fine-tune → quantisation is bound to the exact signed statement above it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hubsnap import __version__
from hubsnap.digest import Digest
from hubsnap.errors import IntegrityError, UsageError
from hubsnap.signing.dsse import STATEMENT_TYPE
from hubsnap.signing.kinds import SourceOrigin
from hubsnap.snapshot import parse_card

__all__ = [
    "BUILD_TYPE",
    "CARD_FIELDS",
    "OCI_BUILD_TYPE",
    "PARENT_DEPENDENCY",
    "PROVENANCE_PREDICATE_TYPE",
    "ModelCard",
    "ParentLink",
    "Provenance",
    "build_provenance_statement",
    "format_time",
    "parse_model_card",
    "parse_provenance",
    "parse_time",
]

PROVENANCE_PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://hubsnap.dev/buildtypes/hub-snapshot/v1"
OCI_BUILD_TYPE = "https://hubsnap.dev/buildtypes/oci-artifact/v1"
BUILDER_ID = "pkg:pypi/hubsnap"
PARENT_DEPENDENCY = "hubsnap:parent"
SOURCE_DEPENDENCY = "hubsnap:source"
CARD_DEPENDENCY = "hubsnap:model-card"
CARD_FIELDS = ("license", "base_model", "base_model_relation", "datasets", "pipeline_tag")
_GIT_COMMIT = re.compile(r"^[0-9a-f]{40}$")


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with second precision, as SLSA timestamps are written."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: object) -> datetime | None:
    """The inverse of :func:`format_time`; ``None`` for anything else."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


@dataclass(frozen=True)
class ModelCard:
    """The model card's layer digest and the metadata fields hubsnap records (absent → omitted)."""

    digest: Digest
    metadata: Mapping[str, str | list[str]] = field(default_factory=dict)

    @property
    def base_models(self) -> list[str]:
        value = self.metadata.get("base_model")
        if value is None:
            return []
        return [value] if isinstance(value, str) else list(value)

    def to_json(self) -> dict[str, Any]:
        return {"digest": str(self.digest), "metadata": dict(self.metadata)}


def _as_text(value: object) -> str | list[str] | None:
    # YAML gives dates, numbers and nested lists; the statement records plain strings only.
    if value is None:
        return None
    if isinstance(value, list):
        return [str(v) for v in value if v is not None and not isinstance(v, dict | list)]
    if isinstance(value, dict):
        return None
    return str(value)


def parse_model_card(data: bytes, digest: Digest) -> ModelCard:
    """The recorded metadata of a README.md; a card without valid front matter has none."""
    front_matter = parse_card(data)
    metadata: dict[str, str | list[str]] = {}
    for key in CARD_FIELDS:
        value = _as_text(front_matter.get(key))
        if value is not None:
            metadata[key] = value
    return ModelCard(digest, metadata)


@dataclass(frozen=True)
class ParentLink:
    """A signed parent: its manifest digest, provenance envelope digest and where it was."""

    manifest: Digest
    provenance_envelope: Digest
    uri: str
    source_url: str | None = None

    def to_json(self) -> dict[str, Any]:
        annotations: dict[str, str] = {"provenanceEnvelope": str(self.provenance_envelope)}
        if self.source_url:
            annotations["source"] = self.source_url
        return {
            "name": PARENT_DEPENDENCY,
            "uri": self.uri,
            "digest": {self.manifest.algorithm: self.manifest.hex},
            "annotations": annotations,
        }


@dataclass(frozen=True)
class Provenance:
    """An SLSA provenance v1 statement about one model artifact (see the module).

    ``artifact`` is ``None`` for a ``hub-snapshot`` statement and the signed artifact's URI
    for an ``oci-artifact`` one. ``source_url``/``commit`` are ``None`` when the artifact says
    nothing of them (``origin`` is then ``unknown``); ``repo_id`` and ``requested_revision``
    only exist for ``hub-snapshot``. ``signed_at``/``builder_version`` are ``None`` when a
    statement lacks them.
    """

    subject: Digest
    source_url: str | None
    repo_id: str | None
    requested_revision: str | None
    commit: str | None
    card: ModelCard | None
    parent: ParentLink | None
    signed_at: datetime | None
    builder_version: str | None = __version__
    origin: SourceOrigin = SourceOrigin.ANNOTATIONS
    artifact: str | None = None

    @property
    def build_type(self) -> str:
        return BUILD_TYPE if self.artifact is None else OCI_BUILD_TYPE

    def to_json(self) -> dict[str, Any]:
        dependencies: list[dict[str, Any]] = []
        if self.artifact is None:
            source: dict[str, Any] = {}
            for key, value in (
                ("repository", self.repo_id),
                ("url", self.source_url),
                ("revision", self.requested_revision),
            ):
                if value is not None:
                    source[key] = value
            external: dict[str, Any] = {"source": source}
            if self.commit is not None:
                dependencies.append(
                    {
                        "name": SOURCE_DEPENDENCY,
                        "uri": f"{self.source_url}@{self.commit}",
                        "digest": {"gitCommit": self.commit},
                    }
                )
            card_uri = f"{self.source_url}/blob/{self.commit}/README.md"
            subject_name = self.source_url or ""
        else:
            claim: dict[str, Any] = {"origin": str(self.origin)}
            if self.source_url is not None:
                claim["url"] = self.source_url
            if self.commit is not None:
                claim["revision"] = self.commit
            external = {"artifact": self.artifact, "source": claim}
            if self.source_url is not None:
                dependency: dict[str, Any] = {"name": SOURCE_DEPENDENCY, "uri": self.source_url}
                if self.commit is not None:
                    dependency["uri"] = f"{self.source_url}@{self.commit}"
                    if _GIT_COMMIT.match(self.commit):
                        dependency["digest"] = {"gitCommit": self.commit}
                dependencies.append(dependency)
            card_uri = f"{self.artifact}#README.md"
            subject_name = self.source_url or self.artifact
        if self.card is not None:
            external["modelCard"] = self.card.to_json()
            dependencies.append(
                {
                    "name": CARD_DEPENDENCY,
                    "uri": card_uri,
                    "digest": {self.card.digest.algorithm: self.card.digest.hex},
                }
            )
        if self.parent is not None:
            dependencies.append(self.parent.to_json())
        run: dict[str, Any] = {"builder": {"id": BUILDER_ID}}
        if self.builder_version is not None:
            run["builder"]["version"] = {"hubsnap": self.builder_version}
        if self.signed_at is not None:
            stamp = format_time(self.signed_at)
            run["metadata"] = {"startedOn": stamp, "finishedOn": stamp}
        return {
            "_type": STATEMENT_TYPE,
            "subject": [{"name": subject_name, "digest": {"sha256": self.subject.hex}}],
            "predicateType": PROVENANCE_PREDICATE_TYPE,
            "predicate": {
                "buildDefinition": {
                    "buildType": self.build_type,
                    "externalParameters": external,
                    "resolvedDependencies": dependencies,
                },
                "runDetails": run,
            },
        }

    @classmethod
    def from_json(cls, statement: dict[str, Any]) -> Provenance:
        """Read a *verified* statement; :class:`IntegrityError` when it is malformed."""
        return parse_provenance(statement)


def build_provenance_statement(
    *,
    manifest_digest: Digest,
    source_url: str,
    repo_id: str,
    requested_revision: str,
    commit: str,
    card: ModelCard | None,
    parent: ParentLink | None,
    signed_at: datetime,
    builder_version: str = __version__,
) -> Provenance:
    """The ``hub-snapshot`` provenance of an artifact hubsnap built from a Hub commit."""
    return Provenance(
        subject=manifest_digest,
        source_url=source_url,
        repo_id=repo_id,
        requested_revision=requested_revision,
        commit=commit,
        card=card,
        parent=parent,
        signed_at=signed_at,
        builder_version=builder_version,
    )


def _digest_of(value: object, what: str) -> Digest:
    if not isinstance(value, dict) or not isinstance(value.get("sha256"), str):
        raise IntegrityError(f"provenance {what} has no sha256 digest")
    try:
        return Digest.sha256(value["sha256"])
    except UsageError as e:
        raise IntegrityError(f"provenance {what} digest is malformed") from e


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _card(value: object) -> ModelCard | None:
    if not isinstance(value, dict) or not isinstance(value.get("digest"), str):
        return None
    try:
        digest = Digest.parse(value["digest"])
    except UsageError as e:
        raise IntegrityError("provenance model card digest is malformed") from e
    raw = value.get("metadata")
    metadata = {
        k: v
        for k, v in (raw.items() if isinstance(raw, dict) else [])
        if isinstance(k, str) and isinstance(v, str | list)
    }
    return ModelCard(digest, metadata)


def _parent(dep: dict[str, Any]) -> ParentLink:
    annotations = _mapping(dep.get("annotations"))
    envelope_text = annotations.get("provenanceEnvelope")
    if not isinstance(envelope_text, str) or not envelope_text.startswith("sha256:"):
        raise IntegrityError("provenance parent link has no provenanceEnvelope digest")
    return ParentLink(
        manifest=_digest_of(dep.get("digest"), "parent"),
        provenance_envelope=_digest_of({"sha256": envelope_text[7:]}, "parent envelope"),
        uri=_optional_str(dep.get("uri")) or "",
        source_url=_optional_str(annotations.get("source")),
    )


def _builder_version(run: dict[str, Any]) -> str | None:
    version = _mapping(_mapping(run.get("builder")).get("version")).get("hubsnap")
    return _optional_str(version)


def parse_provenance(statement: dict[str, Any]) -> Provenance:
    """Read a *verified* provenance statement; :class:`IntegrityError` when it is malformed."""
    if statement.get("predicateType") != PROVENANCE_PREDICATE_TYPE:
        raise IntegrityError("statement is not SLSA provenance v1")
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(subjects[0], dict):
        raise IntegrityError("provenance must have exactly one subject")
    subject = _digest_of(subjects[0].get("digest"), "subject")
    predicate = _mapping(statement.get("predicate"))
    definition = predicate.get("buildDefinition")
    if not isinstance(definition, dict):
        raise IntegrityError("provenance has no buildDefinition")
    external = _mapping(definition.get("externalParameters"))
    source = _mapping(external.get("source"))
    commit = None
    parent = None
    dependencies = definition.get("resolvedDependencies")
    for dep in dependencies if isinstance(dependencies, list) else []:
        if not isinstance(dep, dict):
            continue
        if dep.get("name") == SOURCE_DEPENDENCY:
            commit = _optional_str(_mapping(dep.get("digest")).get("gitCommit"))
        elif dep.get("name") == PARENT_DEPENDENCY:
            if parent is not None:
                raise IntegrityError("provenance names more than one parent")
            parent = _parent(dep)
    run = _mapping(predicate.get("runDetails"))
    card = _card(external.get("modelCard"))
    signed_at = parse_time(_mapping(run.get("metadata")).get("finishedOn"))
    version = _builder_version(run)
    if definition.get("buildType") == OCI_BUILD_TYPE:
        artifact = external.get("artifact")
        try:
            origin = SourceOrigin(str(source.get("origin")))
        except ValueError as e:
            raise IntegrityError("provenance source origin is not one hubsnap records") from e
        if not isinstance(artifact, str):
            raise IntegrityError("provenance of an OCI artifact does not name the artifact")
        return Provenance(
            subject,
            _optional_str(source.get("url")),
            None,
            None,
            _optional_str(source.get("revision")),
            card,
            parent,
            signed_at,
            version,
            origin,
            artifact,
        )
    return Provenance(
        subject,
        _optional_str(source.get("url")) or _optional_str(subjects[0].get("name")),
        _optional_str(source.get("repository")),
        _optional_str(source.get("revision")),
        commit,
        card,
        parent,
        signed_at,
        version,
    )
