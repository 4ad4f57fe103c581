"""SLSA provenance v1 statements for model artifacts, and the hash links between them.

The statement's subject is the model manifest digest (named by its Hub source URL). Its
``buildDefinition`` records the Hub source (repository, requested revision, commit) and the
model card (the ``README.md`` layer digest plus its YAML front-matter fields ``license``,
``base_model``, ``base_model_relation``, ``datasets`` and ``pipeline_tag``). When the model
derives from an artifact that is itself signed, a ``resolvedDependencies`` entry named
``hubsnap:parent`` records the parent manifest digest and, as the annotation
``provenanceEnvelope``, the digest of the parent's provenance DSSE envelope: each link in
base → fine-tune → quantisation is bound to the exact signed statement above it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hubsnap import __version__
from hubsnap.digest import Digest
from hubsnap.errors import IntegrityError, UsageError
from hubsnap.signing.dsse import STATEMENT_TYPE
from hubsnap.snapshot import parse_card

__all__ = [
    "BUILD_TYPE",
    "CARD_FIELDS",
    "PARENT_DEPENDENCY",
    "PROVENANCE_PREDICATE_TYPE",
    "ModelCard",
    "ParentLink",
    "Provenance",
    "build_provenance_statement",
    "format_time",
    "parse_model_card",
    "parse_provenance",
]

PROVENANCE_PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://hubsnap.dev/buildtypes/hub-snapshot/v1"
BUILDER_ID = "pkg:pypi/hubsnap"
PARENT_DEPENDENCY = "hubsnap:parent"
SOURCE_DEPENDENCY = "hubsnap:source"
CARD_DEPENDENCY = "hubsnap:model-card"
CARD_FIELDS = ("license", "base_model", "base_model_relation", "datasets", "pipeline_tag")


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with second precision, as SLSA timestamps are written."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: object) -> datetime | None:
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
    metadata: dict[str, str | list[str]] = field(default_factory=dict)

    @property
    def base_models(self) -> list[str]:
        value = self.metadata.get("base_model")
        if value is None:
            return []
        return [value] if isinstance(value, str) else list(value)


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


@dataclass(frozen=True)
class Provenance:
    """What a verified provenance statement says. Optional fields are ``None`` when absent."""

    subject: Digest
    source_url: str
    repo_id: str | None
    requested_revision: str | None
    commit: str | None
    card: ModelCard | None
    parent: ParentLink | None
    signed_at: datetime | None


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
) -> dict[str, Any]:
    """The in-toto Statement v1 with an SLSA provenance v1 predicate for one artifact."""
    source: dict[str, Any] = {
        "repository": repo_id,
        "url": source_url,
        "revision": requested_revision,
    }
    dependencies: list[dict[str, Any]] = [
        {
            "name": SOURCE_DEPENDENCY,
            "uri": f"{source_url}@{commit}",
            "digest": {"gitCommit": commit},
        }
    ]
    external: dict[str, Any] = {"source": source}
    if card is not None:
        external["modelCard"] = {"digest": str(card.digest), "metadata": dict(card.metadata)}
        dependencies.append(
            {
                "name": CARD_DEPENDENCY,
                "uri": f"{source_url}/blob/{commit}/README.md",
                "digest": {card.digest.algorithm: card.digest.hex},
            }
        )
    if parent is not None:
        annotations: dict[str, str] = {"provenanceEnvelope": str(parent.provenance_envelope)}
        if parent.source_url:
            annotations["source"] = parent.source_url
        dependencies.append(
            {
                "name": PARENT_DEPENDENCY,
                "uri": parent.uri,
                "digest": {parent.manifest.algorithm: parent.manifest.hex},
                "annotations": annotations,
            }
        )
    stamp = format_time(signed_at)
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": source_url, "digest": {"sha256": manifest_digest.hex}}],
        "predicateType": PROVENANCE_PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": external,
                "resolvedDependencies": dependencies,
            },
            "runDetails": {
                "builder": {"id": BUILDER_ID, "version": {"hubsnap": builder_version}},
                "metadata": {"startedOn": stamp, "finishedOn": stamp},
            },
        },
    }


def _digest_of(value: object, what: str) -> Digest:
    if not isinstance(value, dict) or not isinstance(value.get("sha256"), str):
        raise IntegrityError(f"provenance {what} has no sha256 digest")
    try:
        return Digest.sha256(value["sha256"])
    except UsageError as e:
        raise IntegrityError(f"provenance {what} digest is malformed") from e


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def parse_provenance(statement: dict[str, Any]) -> Provenance:
    """Read a *verified* provenance statement; :class:`IntegrityError` when it is malformed."""
    if statement.get("predicateType") != PROVENANCE_PREDICATE_TYPE:
        raise IntegrityError("statement is not SLSA provenance v1")
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(subjects[0], dict):
        raise IntegrityError("provenance must have exactly one subject")
    subject = _digest_of(subjects[0].get("digest"), "subject")
    predicate = statement.get("predicate")
    definition = predicate.get("buildDefinition") if isinstance(predicate, dict) else None
    if not isinstance(definition, dict):
        raise IntegrityError("provenance has no buildDefinition")
    external = definition.get("externalParameters")
    external = external if isinstance(external, dict) else {}
    source_value = external.get("source")
    source: dict[str, Any] = source_value if isinstance(source_value, dict) else {}
    card = None
    card_value = external.get("modelCard")
    if isinstance(card_value, dict) and isinstance(card_value.get("digest"), str):
        try:
            card_digest = Digest.parse(card_value["digest"])
        except UsageError as e:
            raise IntegrityError("provenance model card digest is malformed") from e
        raw = card_value.get("metadata")
        metadata = {
            k: v
            for k, v in (raw.items() if isinstance(raw, dict) else [])
            if isinstance(k, str) and isinstance(v, str | list)
        }
        card = ModelCard(card_digest, metadata)
    commit = None
    parent = None
    dependencies = definition.get("resolvedDependencies")
    for dep in dependencies if isinstance(dependencies, list) else []:
        if not isinstance(dep, dict):
            continue
        if dep.get("name") == SOURCE_DEPENDENCY and isinstance(dep.get("digest"), dict):
            commit = _optional_str(dep["digest"].get("gitCommit"))
        elif dep.get("name") == PARENT_DEPENDENCY:
            if parent is not None:
                raise IntegrityError("provenance names more than one parent")
            annotations = dep.get("annotations")
            annotations = annotations if isinstance(annotations, dict) else {}
            envelope_text = annotations.get("provenanceEnvelope")
            if not isinstance(envelope_text, str) or not envelope_text.startswith("sha256:"):
                raise IntegrityError("provenance parent link has no provenanceEnvelope digest")
            parent = ParentLink(
                manifest=_digest_of(dep.get("digest"), "parent"),
                provenance_envelope=_digest_of({"sha256": envelope_text[7:]}, "parent envelope"),
                uri=_optional_str(dep.get("uri")) or "",
                source_url=_optional_str(annotations.get("source")),
            )
    run = predicate.get("runDetails") if isinstance(predicate, dict) else None
    run_metadata = run.get("metadata") if isinstance(run, dict) else None
    signed_at = (
        _parse_time(run_metadata.get("finishedOn")) if isinstance(run_metadata, dict) else None
    )
    return Provenance(
        subject=subject,
        source_url=_optional_str(subjects[0].get("name")) or "",
        repo_id=_optional_str(source.get("repository")),
        requested_revision=_optional_str(source.get("revision")),
        commit=commit,
        card=card,
        parent=parent,
        signed_at=signed_at,
    )
