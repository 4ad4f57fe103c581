"""The diff report as one self-contained HTML page: every level as a section, plots inline.

The page references nothing outside itself: inline CSS, inline SVG (:mod:`hubsnap.diff.svg`),
no script, and a Content-Security-Policy that forbids every fetch and every script, so even a
string that slipped through escaping could neither run nor call out. Every string from an
artifact or a test set (paths, keys, values, tokens, tensor names, inputs, labels) goes
through :func:`~hubsnap.diff.svg.escape`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from hubsnap.diff.config import KeysDiff
from hubsnap.diff.report import DiffReport
from hubsnap.diff.svg import MAX_BARS, Bar, bar_chart, escape, histogram
from hubsnap.diff.tensor_changes import TensorChange, TensorsDiff

__all__ = ["render_html"]

#: Items listed per list (tokens, paths, tensor names); the count says how many in all.
MAX_ITEMS = 1000
#: Characters of one value shown (a whole chat template or a long list is cut).
MAX_VALUE = 300
MAX_INPUT = 400

_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'"

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px;
       padding: 0 1em; color: #1d2329; background: #fff; }
h1 { font-size: 1.5em; margin-bottom: .2em; }
h2 { font-size: 1.15em; border-bottom: 1px solid #d5dbe1; padding-bottom: .2em;
     margin-top: 2em; }
table { border-collapse: collapse; margin: .6em 0; }
th, td { border: 1px solid #d5dbe1; padding: .2em .5em; text-align: left;
         vertical-align: top; }
th { background: #f1f4f7; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, td.mono { font-family: ui-monospace, monospace; font-size: .92em;
                overflow-wrap: anywhere; }
.added { color: #176f2c; } .removed { color: #b42318; } .changed { color: #8a5a00; }
.bad { color: #b42318; font-weight: 600; } .ok { color: #176f2c; }
.muted { color: #5c6670; }
ul.items { columns: 3 18em; padding-left: 1.2em; }
svg.plot { display: block; margin: .8em 0; max-width: 100%; height: auto; }
svg.plot rect.bar { fill: #3a6ea5; }
svg.plot text { font: 11px ui-monospace, monospace; fill: #1d2329; }
svg.plot text.plot-title { font: 600 12px system-ui, sans-serif; }
svg.plot text.note { fill: #b42318; }
svg.plot line { stroke: #5c6670; stroke-width: 1; }
"""


def _text(value: str, limit: int | None = MAX_VALUE) -> str:
    return escape(value, limit)


def _value(value: Any) -> str:
    """A config or card value: strings as they are, anything else as compact JSON."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return f"<code>{_text(text)}</code>"


def _number(value: float | int | None, form: str = ".6g") -> str:
    if value is None:
        return '<span class="muted">-</span>'
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return format(value, form)


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: set[int]) -> str:
    """A table of already-escaped cells; columns in ``numeric`` right-aligned."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
            for i, c in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _items(title: str, items: Sequence[str], css: str) -> str:
    if not items:
        return ""
    shown = "".join(f"<li><code>{_text(i)}</code></li>" for i in items[:MAX_ITEMS])
    more = f'<p class="muted">… {len(items)} in all</p>' if len(items) > MAX_ITEMS else ""
    return f'<h3 class="{css}">{title} ({len(items)})</h3><ul class="items">{shown}</ul>{more}'


def _section(key: str, title: str, body: str) -> str:
    return f'<section id="{key}"><h2>{title}</h2>\n{body}\n</section>'


def _head(report: DiffReport) -> str:
    rows = []
    for role, side in (("base", report.base), ("target", report.target)):
        digest = f"<code>{_text(side.digest)}</code>" if side.digest else "no digest"
        rows.append([role, f"<code>{_text(side.reference)}</code>", digest])
    parts = [_table(("side", "reference", "digest"), rows, set())]
    parts.append(f"<p>levels: {_text(', '.join(report.levels))}</p>")
    if report.identical:
        parts.append("<p><strong>identical</strong>: both name the same artifact</p>")
    if report.bytes_received is not None:
        parts.append(f"<p>bytes received from the registry: {report.bytes_received:,}</p>")
    return "\n".join(parts)


def _files(report: DiffReport) -> str:
    f = report.files
    if f is None:
        return ""
    summary = (
        f"<p>{len(f.added)} added, {len(f.removed)} removed, {len(f.changed)} changed, "
        f"{f.unchanged} unchanged</p>"
    )
    lists = [
        _items("added", f.added, "added"),
        _items("removed", f.removed, "removed"),
        _items("changed", f.changed, "changed"),
    ]
    return _section("files", "Files", summary + "".join(lists))


def _keys(key: str, title: str, diff: KeysDiff | None) -> str:
    if diff is None:
        return ""
    if not diff.count:
        return _section(key, title, "<p>unchanged</p>")
    rows = [
        ['<span class="added">+</span>', f"<code>{_text(c.file)}</code>",
         f"<code>{_text(c.path)}</code>", "", _value(c.target)] for c in diff.added
    ]  # fmt: skip
    rows += [
        ['<span class="removed">-</span>', f"<code>{_text(c.file)}</code>",
         f"<code>{_text(c.path)}</code>", _value(c.base), ""] for c in diff.removed
    ]  # fmt: skip
    rows += [
        ['<span class="changed">~</span>', f"<code>{_text(c.file)}</code>",
         f"<code>{_text(c.path)}</code>", _value(c.base), _value(c.target)]
        for c in diff.changed
    ]  # fmt: skip
    counted = "1 key differs" if diff.count == 1 else f"{diff.count} keys differ"
    body = f"<p>{counted}</p>" + _table(("", "file", "key", "base", "target"), rows, set())
    return _section(key, title, body)


def _tokenizer(report: DiffReport) -> str:
    tok = report.tokenizer
    if tok is None:
        return ""
    parts = [f"<p>vocabulary: {tok.vocab_size[0]:,} → {tok.vocab_size[1]:,}</p>"]
    parts.append(_items("added tokens", tok.added_tokens, "added"))
    parts.append(_items("removed tokens", tok.removed_tokens, "removed"))
    if not tok.added_tokens and not tok.removed_tokens:
        parts.append("<p>no token added or removed</p>")
    if tok.special_tokens:
        rows = [
            [f"<code>{_text(n)}</code>", _value(b), _value(t)] for n, b, t in tok.special_tokens
        ]
        parts.append("<h3>special tokens</h3>" + _table(("name", "base", "target"), rows, set()))
    flags = [
        ("normaliser", tok.normalizer_changed),
        ("pre-tokenizer", tok.pre_tokenizer_changed),
        ("chat template", tok.chat_template_changed),
    ]
    rows = [
        [label, "-" if flag is None else ('<span class="changed">changed</span>' if flag
                                           else "unchanged")]
        for label, flag in flags
    ]  # fmt: skip
    parts.append(_table(("part", "compared"), rows, set()))
    return _section("tokenizer", "Tokenizer", "".join(parts))


def _special_ids(report: DiffReport) -> str:
    if report.special_ids is None:
        return ""
    if not report.special_ids:
        return _section("special-ids", "Special ids", "<p>no file names eos, bos or pad</p>")
    rows = [
        [s.side, f"<code>{_text(s.name)}</code>",
         '<span class="ok">yes</span>' if s.consistent else '<span class="bad">NO</span>',
         _value(s.values)]
        for s in report.special_ids
    ]  # fmt: skip
    body = _table(("side", "id", "consistent", "values across files"), rows, set())
    return _section("special-ids", "Special ids", body)


def _changes(entries: Sequence[TensorChange]) -> str:
    rows = [
        [f"<code>{_text(c.name)}</code>", f"<code>{_text(c.file)}</code>", _text(c.dtype),
         "×".join(map(str, c.shape)) or "scalar", _number(c.max_abs_diff),
         _number(c.mean_abs_diff), _number(c.rel_l2), _number(c.cosine),
         _number(c.nan_count), _number(c.inf_count)]
        for c in entries
    ]  # fmt: skip
    headers = ("tensor", "file", "dtype", "shape", "max abs", "mean abs", "rel L2", "cosine",
               "NaN", "Inf")  # fmt: skip
    return _table(headers, rows, {4, 5, 6, 7, 8, 9})


def _tensors(report: DiffReport) -> str:
    t = report.tensors
    if t is None:
        return ""
    changed = "not compared" if t.changed is None else str(len(t.changed))
    unchanged = "-" if t.unchanged is None else str(t.unchanged)
    parts = [
        f"<p>{len(t.added)} added, {len(t.removed)} removed, {len(t.reshaped)} reshaped, "
        f"{changed} changed, {unchanged} unchanged</p>",
        _items("added", t.added, "added"),
        _items("removed", t.removed, "removed"),
    ]
    if t.reshaped:
        rows = [
            [f"<code>{_text(r.name)}</code>", _text(f"{r.base[0]} {list(r.base[1])}"),
             _text(f"{r.target[0]} {list(r.target[1])}")]
            for r in t.reshaped[:MAX_ITEMS]
        ]  # fmt: skip
        parts.append("<h3>reshaped</h3>" + _table(("tensor", "base", "target"), rows, set()))
    parts.append(_tensor_values(t))
    return _section("tensors", "Tensors", "".join(parts))


def _tensor_values(t: TensorsDiff) -> str:
    if not t.changed:
        return "" if t.changed is None else "<p>no tensor value changed</p>"
    bars = [Bar(c.name, c.rel_l2) for c in t.changed]
    parts = [
        '<h3>relative change per tensor</h3><div class="figure">',
        bar_chart(bars, title="relative L2 change per changed tensor",
                  axis="‖target − base‖₂ / ‖base‖₂"),
        "</div>",
    ]  # fmt: skip
    if len(bars) > MAX_BARS:
        parts.append(f'<p class="muted">the plot shows the first {MAX_BARS} of {len(bars)}</p>')
    parts.append("<h3>changed tensors</h3>" + _changes(t.changed))
    if t.dequantised:
        parts.append("<h3>quantised tensors, dequantised</h3>" + _changes(t.dequantised))
    return "".join(parts)


def _label(label: Any) -> str:
    if isinstance(label, list) and len(label) == 3:
        start, end, entity = label
        return f"{entity}[{start}:{end}]"
    return str(label)


def _labels(labels: Sequence[Any]) -> str:
    if not labels:
        return '<span class="muted">-</span>'
    return f"<code>{_text(', '.join(_label(v) for v in labels))}</code>"


def _consistent(value: bool | None) -> str:
    if value is None:
        return "-"
    return '<span class="ok">yes</span>' if value else '<span class="bad">no</span>'


def _summary(data: Mapping[str, Any]) -> str:
    ci = data.get("label_shift_ci")
    rows = [["inputs", _number(data.get("inputs"), "d")]]
    named = [
        ("label shift rate", "label_shift_rate", ".4f"),
        ("mean Jaccard", "jaccard_mean", ".4f"),
        ("mean confidence change", "confidence_delta_mean", "+.4f"),
        ("mean embedding cosine", "embedding_cosine_mean", ".6f"),
        ("baseline accuracy", "base_accuracy", ".4f"),
        ("target accuracy", "target_accuracy", ".4f"),
        ("McNemar exact p", "mcnemar_p", ".4g"),
        ("Wilcoxon signed-rank p", "wilcoxon_p", ".4g"),
    ]
    for title, key, form in named:
        value = data.get(key)
        if value is not None:
            rows.append([title, _number(value, form)])
            if key == "label_shift_rate" and ci:
                rows.append(["label shift 95% Wilson interval", f"{ci[0]:.4f} – {ci[1]:.4f}"])
    return _table(("measure", "value"), rows, {1})


def _behaviour(report: DiffReport) -> str:
    if report.behaviour is None:
        return ""
    data: Mapping[str, Any] = report.behaviour.to_json()
    rows_json: Sequence[Mapping[str, Any]] = list(data.get("rows") or ())
    parts = [_summary(data)]
    deltas = [r["confidence_delta"] for r in rows_json if r.get("confidence_delta") is not None]
    if deltas:
        parts.append(
            '<h3>confidence change per input</h3><div class="figure">'
            + histogram(deltas, title=f"confidence change, {len(deltas)} inputs",
                        axis="target confidence − base confidence")
            + "</div>"
        )  # fmt: skip
    elif not rows_json:
        parts.append("<p>no input was sent (dry run)</p>")
    if rows_json:
        rows = [
            [f'<span class="mono">{_text(str(r.get("input", "")), MAX_INPUT)}</span>',
             _labels(r.get("base_labels") or ()), _labels(r.get("target_labels") or ()),
             _consistent(r.get("consistent")), _number(r.get("jaccard"), ".3f"),
             _number(r.get("confidence_delta"), "+.4f")]
            for r in rows_json
        ]  # fmt: skip
        headers = ("input", "baseline labels", "target labels", "consistent", "Jaccard",
                   "confidence change")  # fmt: skip
        parts.append("<h3>per input</h3>" + _table(headers, rows, {4, 5}))
    return _section("behaviour", "Behaviour", "".join(parts))


def _checks(report: DiffReport) -> str:
    if not report.checks:
        return ""
    rows = [
        [f"<code>{_text(c.expr)}</code>", _number(c.value),
         '<span class="bad">FAILED</span>' if c.failed else '<span class="ok">ok</span>']
        for c in report.checks
    ]  # fmt: skip
    failed = len(report.failed_checks)
    summary = f"<p>{failed} of {len(report.checks)} checks failed</p>"
    return _section("checks", "Checks", summary + _table(("check", "value", "result"), rows, {1}))


def render_html(report: DiffReport) -> str:
    """The whole report as one HTML document (UTF-8 text), with no external reference."""
    title = f"hubsnap diff: {report.base.reference} → {report.target.reference}"
    sections = [
        _files(report),
        _keys("config", "Config", report.config),
        _tokenizer(report),
        _special_ids(report),
        _keys("card", "Model card", report.card),
        _tensors(report),
        _behaviour(report),
        _checks(report),
    ]
    body = "\n".join(s for s in sections if s)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_POLICY}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_text(title, 200)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>hubsnap diff</h1>\n{_head(report)}\n{body}\n</body>\n</html>\n"
    )
