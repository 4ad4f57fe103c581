"""The HTML diff report: one self-contained page with every level and two inline plots,
hostile strings from the artifact and the test set shown as text, nothing fetched; loaded in
headless Chromium (Debian's ``chromium``) with the network off it logs no error and draws
the plots. Also ``hubsnap diff --format html`` to stdout and to ``-o FILE``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save

from hubsnap.diff.behaviour import BehaviourReport, Prediction, Span, Task, parse_testset
from hubsnap.diff.card import diff_card
from hubsnap.diff.checks import parse_threshold
from hubsnap.diff.config import diff_config
from hubsnap.diff.files import diff_files
from hubsnap.diff.html import render_html
from hubsnap.diff.report import LEVELS, DiffReport, SideInfo
from hubsnap.diff.svg import Bar, bar_chart, histogram
from hubsnap.diff.tensors import diff_tensors, side_tensors
from hubsnap.diff.tokenizer import cross_check, diff_tokenizer
from support.chromium import chromium, open_offline
from support.diff_sides import side
from support.registry import build_model, run_cli

HOSTILE = "<script>document.title='pwned'</script><img src=x onerror=alert(1)>"
RNG = np.random.default_rng(9)
W = RNG.standard_normal((32, 16)).astype(np.float32)
#: Perturbations spanning five decades of relative change, so the bar chart goes log scale.
SCALES = {"layer.0.weight": 1e-5, "layer.1.weight": 1e-3, f"{HOSTILE}.weight": 1.0}
#: Attributes that make a browser fetch, and CSS that can.
EXTERNAL = re.compile(
    r"""(?:\b(?:src|href|action|poster|data|srcset|xlink:href)\s*=\s*["']?\s*(?:[a-z]+:|//))"""
    r"""|url\(|@import""",
    re.IGNORECASE,
)


def _report(tmp_path: Path) -> DiffReport:
    base_tensors = {name: W for name in SCALES} | {"same": W}
    target_tensors = {name: W + scale * RNG.standard_normal(W.shape).astype(np.float32)
                      for name, scale in SCALES.items()} | {"same": W}  # fmt: skip
    base = side(tmp_path, "a", {
        "config.json": {"hidden": 4, "eos_token_id": 1, "note": "x"},
        "README.md": "---\nlicense: mit\n---\nx\n",
        "vocab.txt": "a\nb\n",
        "tokenizer_config.json": {"eos_token": "b"},
        "model.safetensors": save(base_tensors),
    })  # fmt: skip
    target = side(tmp_path, "b", {
        "config.json": {"hidden": 5, "eos_token_id": 2, "note": HOSTILE},
        "README.md": f"---\nlicense: {json.dumps(HOSTILE)}\n---\nx\n",
        "vocab.txt": f"a\nb\n{HOSTILE}\u202e\n",
        "tokenizer_config.json": {"eos_token": "b"},
        "model.safetensors": save(target_tensors),
    })  # fmt: skip
    testset = parse_testset(
        json.dumps([{"text": HOSTILE, "labels": ["POS"]}, {"text": "fine"},
                    {"text": "also fine"}, {"text": "flip"}]).encode()
    )  # fmt: skip
    behaviour = BehaviourReport.build(
        testset, Task.TEXT_CLASSIFICATION,
        [Prediction(("POS",), 0.9), Prediction(("NEG",), 0.6), Prediction(("NEG",), 0.7),
         Prediction(("POS",), 0.8)],
        [Prediction((HOSTILE,), 0.5), Prediction(("NEG",), 0.65), Prediction(("NEG",), 0.7),
         Prediction(("NEG",), 0.55)],
    )  # fmt: skip
    report = DiffReport(
        base=SideInfo("a", "sha256:" + "1" * 64),
        target=SideInfo(HOSTILE, "sha256:" + "2" * 64),
        levels=LEVELS,
        files=diff_files(base, target),
        config=diff_config(base, target),
        tokenizer=diff_tokenizer(base, target),
        special_ids=cross_check(base, "base") + cross_check(target, "target"),
        card=diff_card(base, target),
        tensors=diff_tensors(side_tensors(base) or {}, side_tensors(target) or {}, values=True),
        behaviour=behaviour,
    )
    return report.judged((parse_threshold("rel_l2>0.5"), parse_threshold("files_changed>99")))


def _assert_inert(page: str) -> None:
    """No markup from the artifact, nothing that fetches, no script at all."""
    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert "&lt;script&gt;" in page and "onerror=alert(1)&gt;" in page
    assert "\u202e" not in page
    assert EXTERNAL.search(page) is None, EXTERNAL.search(page)


def test_every_level_is_rendered_with_hostile_text_escaped(tmp_path: Path) -> None:
    report = _report(tmp_path)
    page = render_html(report)
    _assert_inert(page)
    assert "\\u202e" in page  # the bidirectional override shown, not applied
    for section in ("files", "config", "tokenizer", "special-ids", "card", "tensors",
                    "behaviour", "checks"):  # fmt: skip
        assert f'<section id="{section}">' in page
    assert page.count('<svg class="plot bars"') == 1
    assert page.count('<svg class="plot histogram"') == 1
    assert page.count('<rect class="bar"') == len(SCALES) + 21  # bars + histogram bins
    assert "(log scale)" in page
    assert "<code>hidden</code>" in page and "<code>note</code>" in page
    assert 'content="default-src &#x27;none&#x27;' not in page  # the policy is not escaped
    assert "default-src 'none'" in page
    assert '<span class="bad">FAILED</span>' in page and "1 of 2 checks failed" in page
    assert page.count('<span class="bad">NO</span>') == 1  # the target's eos: 2 against 1
    assert page.count('<span class="changed">~</span>') == 4  # hidden, eos, note; license
    changed = report.tensors.changed if report.tensors else None
    assert changed is not None and len(changed) == len(SCALES)


def test_plots_scale_and_label_honestly() -> None:
    linear = bar_chart([Bar("a", 0.2), Bar("b", 0.4)], title="t", axis="x")
    assert "(linear scale)" in linear
    log = bar_chart([Bar("a", 1e-6), Bar("b", 0.5), Bar("c", None), Bar("z", 0.0)],
                    title="t", axis="x")  # fmt: skip
    assert "(log scale)" in log and "undefined" in log
    assert ">1e-06</text>" in log and ">1</text>" in log  # whole decades on the axis
    assert log.count('<rect class="bar"') == 3
    bins = histogram([0.0, 0.0, 0.0, 0.5, -0.5], title="t", axis="x", bins=5)
    heights = [float(h) for h in re.findall(r'<rect class="bar"[^>]*height="([0-9.]+)"', bins)]
    assert heights == [60.0, 0.0, 180.0, 0.0, 60.0]  # zero changes alone in the middle bin
    assert histogram([], title="t", axis="x").count('<rect class="bar"') == 21


def test_sparse_reports_spans_and_dry_runs_render() -> None:
    identical = DiffReport(SideInfo("a", None), SideInfo("b", None), ("files",), identical=True)
    page = render_html(identical)
    assert "<strong>identical</strong>" in page and "<svg" not in page
    testset = parse_testset(b'[{"text": "Ada <b>Lovelace</b>"}]')
    spans = BehaviourReport.build(
        testset, Task.TOKEN_CLASSIFICATION,
        [Prediction((Span(0, 3, "PER"),), 0.9)], [Prediction((Span(0, 3, "<i>ORG"),), 0.7)],
    )  # fmt: skip
    page = render_html(DiffReport(SideInfo("a", None), SideInfo("b", None), ("behaviour",),
                                  behaviour=spans))  # fmt: skip
    assert "<code>PER[0:3]</code>" in page and "<code>&lt;i&gt;ORG[0:3]</code>" in page
    assert "Ada &lt;b&gt;Lovelace&lt;/b&gt;" in page and "<b>" not in page
    assert page.count('<svg class="plot histogram"') == 1
    dry = BehaviourReport(Task.TEXT_CLASSIFICATION, 1, (), dry_run=True)
    page = render_html(DiffReport(SideInfo("a", None), SideInfo("b", None), ("behaviour",),
                                  behaviour=dry))  # fmt: skip
    assert "no input was sent (dry run)" in page and "<svg" not in page


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "store"
    monkeypatch.setenv("HUBSNAP_STORE", str(root))
    monkeypatch.setenv("HUBSNAP_HOME", str(tmp_path / "home"))
    return root


def test_cli_writes_html_to_stdout_and_to_a_file(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = build_model(store, {"config.json": b'{"act": "gelu"}', "model.safetensors": save({"w": W})})
    b = build_model(store, {"config.json": json.dumps({"act": HOSTILE}).encode(),
                            "model.safetensors": save({"w": W * 2})})  # fmt: skip
    run = run_cli(["diff", a, b, "--format", "html"], capsys)
    assert run.code == 0, run.err
    assert run.out.startswith("<!DOCTYPE html>") and run.out.endswith("</html>\n")
    _assert_inert(run.out)
    out = tmp_path / "report.html"
    written = run_cli(["diff", a, b, "--format", "html", "-o", str(out)], capsys)
    assert written.code == 0, written.err
    assert written.out == "" and f"wrote {out}" in written.err
    assert out.read_text() == run.out
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("report")] == ["report.html"]


PLOTS = """JSON.stringify(Array.from(document.querySelectorAll('svg.plot')).map(svg => {
  const box = svg.getBoundingClientRect();
  const bars = Array.from(svg.querySelectorAll('rect.bar')).map(r => r.getBBox());
  return {kind: svg.classList[1], width: box.width, height: box.height,
          drawn: bars.filter(b => b.width > 0 && b.height > 0).length};
}))"""


@pytest.mark.skipif(
    chromium() is None,
    reason="Debian's chromium is not installed here (scripts/setup.sh installs it; CI has it)",
)
def test_page_loads_offline_in_chromium_without_errors_and_draws_the_plots(
    tmp_path: Path,
) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(_report(tmp_path)), encoding="utf-8")
    run = open_offline(page, {
        "plots": PLOTS,
        "title": "document.title",
        "scripts": "document.scripts.length + document.images.length",
        "text": "document.body.innerText",
        "sections": "Array.from(document.querySelectorAll('section')).map(s => s.id)",
    })  # fmt: skip
    assert run.requests == [page.as_uri()]
    assert run.exceptions == [] and run.console == []
    assert run.log == []
    plots = json.loads(run.values["plots"])
    assert [p["kind"] for p in plots] == ["bars", "histogram"]
    assert all(p["width"] > 100 and p["height"] > 50 for p in plots)
    assert plots[0]["drawn"] == len(SCALES)
    assert plots[1]["drawn"] == 4  # changes -0.4, -0.25, 0 and +0.05, each in a bin of its own
    assert run.values["title"].startswith("hubsnap diff: a → <script>")
    assert run.values["scripts"] == 0
    assert HOSTILE in run.values["text"]
    assert run.values["sections"] == [
        "files", "config", "tokenizer", "special-ids", "card", "tensors", "behaviour", "checks"
    ]  # fmt: skip
