"""The diff report: ``--fail-on`` parsing and judging, JSON against
``schemas/diff.schema.json``, and the table and Markdown renderers."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from safetensors.numpy import save

from hubsnap.diff.card import diff_card
from hubsnap.diff.checks import evaluate, parse_threshold
from hubsnap.diff.config import diff_config
from hubsnap.diff.files import diff_files
from hubsnap.diff.render import render_markdown, render_table
from hubsnap.diff.report import LEVELS, DiffReport, SideInfo
from hubsnap.diff.tensors import diff_tensors, side_tensors
from hubsnap.diff.tokenizer import cross_check, diff_tokenizer
from hubsnap.errors import ExitCode, UsageError
from support.diff_sides import side

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[1] / "schemas" / "diff.schema.json").read_text()
)


@pytest.mark.parametrize(
    ("text", "metric", "op", "number"),
    [
        ("max_abs_diff>1e-3", "max_abs_diff", ">", 1e-3),
        (" files_changed >= 0 ", "files_changed", ">=", 0.0),
        ("cosine<0.999", "cosine", "<", 0.999),
        ("label_shift_rate>.05", "label_shift_rate", ">", 0.05),
    ],
)
def test_thresholds_parse(text: str, metric: str, op: str, number: float) -> None:
    threshold = parse_threshold(text)
    assert (threshold.metric, threshold.op, threshold.number) == (metric, op, number)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no_such_metric>1", "unknown metric 'no_such_metric'"),
        ("max_abs_diff=>1", "invalid --fail-on"),
        ("max_abs_diff>", "invalid --fail-on"),
        ("max_abs_diff>abc", "invalid --fail-on"),
    ],
)
def test_bad_thresholds_are_usage_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_threshold(text)
    assert message in info.value.message
    assert info.value.exit_code == ExitCode.USAGE


def test_judging() -> None:
    values = {"files_changed": 2.0, "rel_l2": None}
    assert evaluate(parse_threshold("files_changed>0"), values).failed
    assert not evaluate(parse_threshold("files_changed>2"), values).failed
    assert evaluate(parse_threshold("rel_l2<5"), values).failed  # undefined: breached
    with pytest.raises(UsageError, match="the behaviour level was not computed"):
        evaluate(parse_threshold("jaccard_mean<0.9"), values)


def _report(tmp_path: Path) -> DiffReport:
    a = np.linspace(-1, 1, 64, dtype=np.float32)
    base = side(tmp_path, "a", {
        "config.json": {"hidden": 4, "eos_token_id": 1},
        "README.md": "---\nlicense: mit\n---\nx\n",
        "vocab.txt": "a\nb\n",
        "tokenizer_config.json": {"eos_token": "b"},
        "model.safetensors": save({"w": a, "gone": a}),
    })  # fmt: skip
    target = side(tmp_path, "b", {
        "config.json": {"hidden": 5, "eos_token_id": 1},
        "README.md": "---\nlicense: '<b>|x</b>'\n---\nx\n",
        "vocab.txt": "a\nb\nc\u202e\n",
        "tokenizer_config.json": {"eos_token": "b"},
        "model.safetensors": save({"w": a * 2, "new": a}),
    })  # fmt: skip
    return DiffReport(
        base=SideInfo("a", "sha256:" + "1" * 64),
        target=SideInfo("b", "sha256:" + "2" * 64),
        levels=LEVELS[:-1],
        files=diff_files(base, target),
        config=diff_config(base, target),
        tokenizer=diff_tokenizer(base, target),
        special_ids=cross_check(base, "base") + cross_check(target, "target"),
        card=diff_card(base, target),
        tensors=diff_tensors(side_tensors(base) or {}, side_tensors(target) or {}, values=True),
    )


def test_report_json_follows_the_schema(tmp_path: Path) -> None:
    report = _report(tmp_path).judged(
        (parse_threshold("max_abs_diff>0.5"), parse_threshold("tokens_added>5"))
    )
    data = report.to_json()
    jsonschema.validate(data, SCHEMA)
    assert data["schema"] == "hubsnap.dev/diff/v1"
    assert data["checks"] == [
        {"expr": "max_abs_diff>0.5", "value": 1.0, "failed": True},
        {"expr": "tokens_added>5", "value": 1.0, "failed": False},
    ]
    assert [c.expr for c in report.failed_checks] == ["max_abs_diff>0.5"]
    assert data["tensors"]["changed"][0]["rel_l2"] == pytest.approx(1.0)
    assert data["special_ids"][0] == {
        "side": "base", "name": "eos", "consistent": True,
        "values": {"config.json": 1, "tokenizer_config.json": {"token": "b", "id": 1}},
    }  # fmt: skip
    minimal = DiffReport(SideInfo("a", None), SideInfo("b", None), ("files",), identical=True)
    jsonschema.validate(minimal.to_json(), SCHEMA)


def test_renderers_escape_hostile_text(tmp_path: Path) -> None:
    report = _report(tmp_path)
    table = render_table(report)
    assert "\u202e" not in table and "c\\u202e" in table
    assert "config:" in table and "config.json:hidden" in table
    assert "files: 0 added, 0 removed, 4 changed, 1 unchanged" in table
    markdown = render_markdown(report)
    assert "<b>" not in markdown and "&lt;b&gt;" in markdown
    assert "\\|x" in markdown
    assert "| tensor | dtype |" in markdown
