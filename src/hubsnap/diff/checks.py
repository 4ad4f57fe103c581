"""``--fail-on METRIC OP NUMBER``: parsing, the metrics a report offers, and evaluation.

Structural metrics count what changed (``files_changed``, ``tokens_added``, ...); tensor
metrics aggregate over changed tensors (``max_abs_diff``, ``rel_l2``: the largest;
``cosine``: the smallest; counts: the sum); behaviour metrics are read from the behaviour
report by name. An unknown metric is a usage error (exit 2), and so is a check on a level
the diff did not compute: a threshold is never judged on a value that was not measured.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hubsnap.errors import UsageError

__all__ = ["METRICS", "Check", "Threshold", "evaluate", "parse_threshold"]

_OPS: Mapping[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
    ">": operator.gt, "<": operator.lt,
}  # fmt: skip
_EXPR = re.compile(
    r"^\s*([a-z_][a-z0-9_]*)\s*(>=|<=|==|!=|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)

#: metric → (level it needs, description)
METRICS: Mapping[str, tuple[str, str]] = {
    "files_added": ("files", "files only in the target"),
    "files_removed": ("files", "files only in the base"),
    "files_changed": ("files", "files whose digest differs"),
    "config_changed": ("config", "config keys added, removed or changed"),
    "card_changed": ("card", "model-card metadata keys added, removed or changed"),
    "tokens_added": ("tokenizer", "tokens only in the target's vocabulary"),
    "tokens_removed": ("tokenizer", "tokens only in the base's vocabulary"),
    "special_tokens_changed": ("tokenizer", "special tokens that differ"),
    "chat_template_changed": ("tokenizer", "1 when the chat template differs"),
    "special_ids_inconsistent": ("tokenizer", "eos/bos/pad ids the files disagree on"),
    "tensors_added": ("headers", "tensors only in the target"),
    "tensors_removed": ("headers", "tensors only in the base"),
    "tensors_reshaped": ("headers", "tensors whose dtype or shape differs"),
    "tensors_changed": ("tensors", "same-shaped tensors whose bytes differ"),
    "max_abs_diff": ("tensors", "largest absolute difference over changed tensors"),
    "mean_abs_diff": ("tensors", "largest per-tensor mean absolute difference"),
    "rel_l2": ("tensors", "largest relative L2 difference"),
    "cosine": ("tensors", "smallest cosine similarity (1 when nothing changed)"),
    "cosine_distance": ("tensors", "largest 1 - cosine"),
    "nan_count": ("tensors", "NaN values in the target's changed tensors"),
    "dequantised_max_abs_diff": ("tensors", "largest absolute difference, dequantised"),
    "dequantised_rel_l2": ("tensors", "largest relative L2 difference, dequantised"),
    "inf_count": ("tensors", "infinite values in the target's changed tensors"),
    "inputs": ("behaviour", "inputs in the test set"),
    "label_shifts": ("behaviour", "inputs whose labels changed"),
    "label_shift_rate": ("behaviour", "share of inputs whose labels changed"),
    "label_shift_ci_low": ("behaviour", "lower end of the label shift rate's 95 % interval"),
    "label_shift_ci_high": ("behaviour", "upper end of the label shift rate's 95 % interval"),
    "jaccard_mean": ("behaviour", "mean Jaccard index of the label sets"),
    "confidence_delta_mean": ("behaviour", "mean confidence change"),
    "embedding_cosine_mean": ("behaviour", "mean embedding cosine"),
    "base_accuracy": ("behaviour", "base accuracy on the expected labels"),
    "target_accuracy": ("behaviour", "target accuracy on the expected labels"),
    "accuracy_delta": ("behaviour", "target accuracy minus base accuracy"),
    "mcnemar_p": ("behaviour", "exact McNemar p-value"),
    "wilcoxon_p": ("behaviour", "Wilcoxon signed-rank p-value"),
}


@dataclass(frozen=True)
class Threshold:
    """A parsed ``--fail-on`` expression."""

    expr: str
    metric: str
    op: str
    number: float

    @property
    def level(self) -> str:
        return METRICS[self.metric][0]


@dataclass(frozen=True)
class Check:
    """A threshold judged: ``value`` is ``None`` when the metric is undefined (a relative
    change of an all-zero tensor), which counts as breached for every operator."""

    expr: str
    value: float | None
    failed: bool

    def to_json(self) -> dict[str, Any]:
        value = self.value
        if value is not None and not math.isfinite(value):
            value = None
        return {"expr": self.expr, "value": value, "failed": self.failed}


def parse_threshold(text: str) -> Threshold:
    match = _EXPR.match(text)
    if match is None:
        raise UsageError(
            f"invalid --fail-on {text!r}", hint="use METRIC OP NUMBER, e.g. max_abs_diff>1e-3"
        )
    metric, op, number = match.groups()
    if metric not in METRICS:
        raise UsageError(
            f"unknown metric {metric!r} in --fail-on {text!r}",
            hint="metrics: " + ", ".join(METRICS),
        )
    return Threshold(f"{metric}{op}{number}", metric, op, float(number))


def evaluate(threshold: Threshold, values: Mapping[str, float | None]) -> Check:
    """Judge ``threshold`` against the report's metric ``values`` (absent: not computed)."""
    if threshold.metric not in values:
        raise UsageError(
            f"--fail-on {threshold.expr}: the {threshold.level} level was not computed",
            hint=f"add {threshold.level} to --levels"
            + (" and give --testset" if threshold.level == "behaviour" else ""),
        )
    value = values[threshold.metric]
    failed = value is None or math.isnan(value) or _OPS[threshold.op](value, threshold.number)
    return Check(threshold.expr, value, failed)
