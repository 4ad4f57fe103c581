"""The signed diff report: an in-toto statement whose subject is the diff's target manifest
and whose predicate is the ``hubsnap diff`` JSON report, as printed.

It travels as a signature referrer of the target (a DSSE envelope in a Sigstore bundle,
labelled ``diff``), beside the artifact's OMS signature and provenance but never mistaken
for either: it says what changed from a base, not that the artifact is what was signed, so
``verify`` sets it aside and ``inspect`` names it a diff report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hubsnap.digest import Digest
from hubsnap.signing.dsse import STATEMENT_TYPE

__all__ = ["DIFF_PREDICATE_TYPE", "DiffStatement"]

DIFF_PREDICATE_TYPE = "https://hubsnap.dev/diff/v1"


@dataclass(frozen=True)
class DiffStatement:
    """``report`` (the diff's JSON document) about the target manifest ``subject``; ``name``
    is the target as the diff was asked for it."""

    subject: Digest
    name: str
    report: Mapping[str, Any] = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "_type": STATEMENT_TYPE,
            "subject": [{"name": self.name, "digest": {self.subject.algorithm: self.subject.hex}}],
            "predicateType": DIFF_PREDICATE_TYPE,
            "predicate": dict(self.report),
        }
