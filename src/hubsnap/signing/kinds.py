"""The closed sets signing works with: what a referrer carries and what became of checking it."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["CheckOutcome", "SignatureKind", "SourceOrigin"]


class SignatureKind(StrEnum):
    """The statement a signature referrer carries (its ``dev.hubsnap.signature.kind``).

    ``diff`` is a signed diff report about the artifact, not a signature of it: ``verify``
    sets it aside."""

    OMS = "oms"
    PROVENANCE = "provenance"
    DIFF = "diff"


class CheckOutcome(StrEnum):
    """What checking one referrer gave.

    ``verified``: a trusted key signed it and it says the right things about the artifact.
    ``rejected``: it is a well-formed signature that failed (wrong key, wrong subject, …).
    ``malformed``: it could not be read as a signature at all and was skipped.
    """

    VERIFIED = "verified"
    REJECTED = "rejected"
    MALFORMED = "malformed"


class SourceOrigin(StrEnum):
    """Where a provenance's record of the model's source came from."""

    ANNOTATIONS = "annotations"  # org.opencontainers.image.source / .revision
    MODEL_CONFIG = "model-config"  # the ModelPack config's descriptor.sourceURL / .revision
    UNKNOWN = "unknown"  # the artifact says nothing of its source
