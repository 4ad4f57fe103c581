"""The diff report: one typed value holding every level computed, its JSON (schema
``hubsnap.dev/diff/v1``, ``schemas/diff.schema.json``) and its metrics for ``--fail-on``.

Levels not computed are ``None`` (``null`` in JSON), never guessed. The behaviour section
is produced by :mod:`hubsnap.diff.behaviour`; the report only needs its JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from hubsnap.diff.checks import Check, Threshold, evaluate
from hubsnap.diff.config import KeysDiff
from hubsnap.diff.files import FilesDiff
from hubsnap.diff.tensor_changes import TensorsDiff
from hubsnap.diff.tokenizer import SpecialIds, TokenizerDiff

__all__ = ["LEVELS", "SCHEMA", "BehaviourReport", "DiffReport", "SideInfo"]

SCHEMA = "hubsnap.dev/diff/v1"
LEVELS = ("files", "config", "tokenizer", "card", "headers", "tensors", "behaviour")


class BehaviourReport(Protocol):
    """What the behaviour level hands the report (:mod:`hubsnap.diff.behaviour`): its JSON
    section and the numbers ``--fail-on`` may name."""

    def to_json(self) -> Mapping[str, object]: ...

    def metrics(self) -> dict[str, float | None]: ...


@dataclass(frozen=True)
class SideInfo:
    reference: str
    digest: str | None

    def to_json(self) -> dict[str, Any]:
        return {"reference": self.reference, "digest": self.digest}


@dataclass(frozen=True)
class DiffReport:
    """What changed from ``base`` to ``target``. ``identical``: both name the same
    manifest, so nothing was read. ``bytes_received``: bytes fetched from a registry for
    this diff (``None`` when both sides were local). ``signature``: the referrer that now
    carries this report, signed, on the target (``--sign``); not part of the JSON, which is
    what was signed."""

    base: SideInfo
    target: SideInfo
    levels: tuple[str, ...]
    identical: bool = False
    files: FilesDiff | None = None
    config: KeysDiff | None = None
    tokenizer: TokenizerDiff | None = None
    special_ids: tuple[SpecialIds, ...] | None = None
    card: KeysDiff | None = None
    tensors: TensorsDiff | None = None
    behaviour: BehaviourReport | None = None
    checks: tuple[Check, ...] = ()
    bytes_received: int | None = None
    signature: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema": SCHEMA,
            "base": self.base.to_json(),
            "target": self.target.to_json(),
            "levels": list(self.levels),
            "identical": self.identical,
            "files": self.files.to_json() if self.files else None,
            "config": self.config.to_json() if self.config else None,
            "tokenizer": self.tokenizer.to_json() if self.tokenizer else None,
            "special_ids": (
                None if self.special_ids is None else [s.to_json() for s in self.special_ids]
            ),
            "card": self.card.to_json() if self.card else None,
            "tensors": self.tensors.to_json() if self.tensors else None,
            "behaviour": self.behaviour.to_json() if self.behaviour is not None else None,
            "checks": [c.to_json() for c in self.checks],
        }
        if self.bytes_received is not None:
            out["bytes_received"] = self.bytes_received
        return out

    def metrics(self) -> dict[str, float | None]:
        """Every metric whose level was computed (see :data:`~hubsnap.diff.checks.METRICS`)."""
        out: dict[str, float | None] = {}
        if self.files is not None:
            out |= {
                "files_added": len(self.files.added),
                "files_removed": len(self.files.removed),
                "files_changed": len(self.files.changed),
            }
        if self.config is not None or "config" in self.levels:
            out["config_changed"] = self.config.count if self.config else 0
        if self.card is not None or "card" in self.levels:
            out["card_changed"] = self.card.count if self.card else 0
        if "tokenizer" in self.levels:
            tok = self.tokenizer
            out |= {
                "tokens_added": len(tok.added_tokens) if tok else 0,
                "tokens_removed": len(tok.removed_tokens) if tok else 0,
                "special_tokens_changed": len(tok.special_tokens) if tok else 0,
                "chat_template_changed": int(tok.chat_template_changed) if tok else 0,
            }
            if self.special_ids is not None:
                out["special_ids_inconsistent"] = sum(
                    1 for s in self.special_ids if not s.consistent
                )
        out |= self._tensor_metrics()
        if self.behaviour is not None:
            out |= self.behaviour.metrics()
        return out

    def _tensor_metrics(self) -> dict[str, float | None]:
        tensors = self.tensors
        if tensors is None:
            return {}
        out: dict[str, float | None] = {
            "tensors_added": len(tensors.added),
            "tensors_removed": len(tensors.removed),
            "tensors_reshaped": len(tensors.reshaped),
        }
        if tensors.changed is None:
            return out
        changed = tensors.changed

        def largest(values: list[float | None]) -> float | None:
            if any(v is None for v in values):
                return None  # undefined somewhere: judged as breached, never as passing
            return max((v for v in values if v is not None), default=0.0)

        cosines = [c.cosine for c in changed]
        out |= {
            "tensors_changed": len(changed),
            "max_abs_diff": largest([c.max_abs_diff for c in changed]),
            "mean_abs_diff": largest([c.mean_abs_diff for c in changed]),
            "rel_l2": largest([c.rel_l2 for c in changed]),
            "cosine_distance": largest([c.cosine_distance for c in changed]),
            "cosine": (
                None if any(c is None for c in cosines)
                else min((c for c in cosines if c is not None), default=1.0)
            ),
            "nan_count": sum(c.nan_count or 0 for c in changed),
            "dequantised_max_abs_diff": largest([c.max_abs_diff for c in tensors.dequantised]),
            "dequantised_rel_l2": largest([c.rel_l2 for c in tensors.dequantised]),
            "inf_count": sum(c.inf_count or 0 for c in changed),
        }  # fmt: skip
        return out

    def judged(self, thresholds: tuple[Threshold, ...]) -> DiffReport:
        """This report with every threshold evaluated into :attr:`checks`."""
        values = self.metrics()
        return replace(self, checks=tuple(evaluate(t, values) for t in thresholds))

    @property
    def failed_checks(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.failed)
