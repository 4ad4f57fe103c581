"""The diff report as text: compact terminal sections, or Markdown for a pull request.

Every string from an artifact (paths, keys, tokens, tensor names, values) is shown escaped,
so a control character or a bidirectional override in a hostile file cannot rewrite the
terminal or the rendered comment.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from hubsnap.diff.config import KeysDiff
from hubsnap.diff.report import DiffReport
from hubsnap.diff.tensor_changes import TensorChange

__all__ = ["render_markdown", "render_table"]

_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
_MAX_VALUE = 120
_MAX_LIST = 50
#: Marks a section already rendered for its format (the behaviour level renders its own).
_VERBATIM = "\x00verbatim"


def _safe(text: str) -> str:
    if all(c.isprintable() and c not in _BIDI for c in text):
        return text
    return "".join(c if c.isprintable() and c not in _BIDI else ascii(c)[1:-1] for c in text)


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    text = _safe(text)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _listed(items: Sequence[str]) -> str:
    shown = ", ".join(_safe(i) for i in items[:_MAX_LIST])
    return shown + (f", … ({len(items)} in all)" if len(items) > _MAX_LIST else "")


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool) -> list[str]:
    if markdown:
        escaped = [[_md(c) for c in row] for row in rows]
        return [
            "| " + " | ".join(headers) + " |",
            "|" + "|".join("---" for _ in headers) + "|",
            *("| " + " | ".join(row) + " |" for row in escaped),
        ]
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return [line.rstrip() for line in lines]


def _keys(title: str, diff: KeysDiff | None, markdown: bool) -> list[str]:
    if diff is None:
        return []
    if not diff.count:
        return [f"{title}: unchanged"]
    rows = [["+", f"{c.file}:{_safe(c.path)}", "", _value(c.target)] for c in diff.added]
    rows += [["-", f"{c.file}:{_safe(c.path)}", _value(c.base), ""] for c in diff.removed]
    rows += [
        ["~", f"{c.file}:{_safe(c.path)}", _value(c.base), _value(c.target)] for c in diff.changed
    ]
    return [f"{title}:", *_table(("", "key", "base", "target"), rows, markdown)]


def _sections(report: DiffReport, markdown: bool) -> list[list[str]]:
    sections: list[list[str]] = []
    base, target = report.base, report.target
    head = [
        f"base:   {_safe(base.reference)} ({base.digest or 'no digest'})",
        f"target: {_safe(target.reference)} ({target.digest or 'no digest'})",
    ]
    if report.identical:
        head.append("identical: both name the same artifact")
    sections.append(head)
    if report.files is not None:
        f = report.files
        lines = [
            f"files: {len(f.added)} added, {len(f.removed)} removed, "
            f"{len(f.changed)} changed, {f.unchanged} unchanged"
        ]
        for mark, paths in (("+", f.added), ("-", f.removed), ("~", f.changed)):
            lines += [f"  {mark} {_safe(p)}" for p in paths[:_MAX_LIST]]
        sections.append(lines)
    for title, keys in (("config", report.config), ("card", report.card)):
        if keys is not None:
            sections.append(_keys(title, keys, markdown))
    tok = report.tokenizer
    if tok is not None:
        lines = [
            f"tokenizer: vocabulary {tok.vocab_size[0]} -> {tok.vocab_size[1]}",
            f"  added tokens: {_listed(tok.added_tokens) or 'none'}",
            f"  removed tokens: {_listed(tok.removed_tokens) or 'none'}",
        ]
        for name, before, after in tok.special_tokens:
            lines.append(f"  special {name}: {_value(before)} -> {_value(after)}")
        for label, flag in (
            ("normaliser", tok.normalizer_changed),
            ("pre-tokenizer", tok.pre_tokenizer_changed),
            ("chat template", tok.chat_template_changed),
        ):
            if flag:
                lines.append(f"  {label} changed")
        sections.append(lines)
    if report.special_ids:
        rows = [
            [s.side, s.name, "yes" if s.consistent else "NO", _value(s.values)]
            for s in report.special_ids
        ]
        sections.append(
            ["special ids:", *_table(("side", "id", "consistent", "values"), rows, markdown)]
        )
    sections += _tensor_sections(report, markdown)
    if report.behaviour is not None:
        sections.append(_behaviour(report, markdown))
    if report.checks:
        rows = [
            [_safe(c.expr), _number(c.value), "FAILED" if c.failed else "ok"] for c in report.checks
        ]
        sections.append(["checks:", *_table(("check", "value", "result"), rows, markdown)])
    return sections


def _behaviour(report: DiffReport, markdown: bool) -> list[str]:
    from hubsnap.diff.behaviour import BehaviourReport, render_markdown, render_table  # noqa: PLC0415

    section = report.behaviour
    if not isinstance(section, BehaviourReport):
        return ["behaviour:", _value(section.to_json() if section is not None else None)]
    text = render_markdown(section) if markdown else render_table(section)
    return [_VERBATIM, *text.rstrip("\n").splitlines()]


def _tensor_sections(report: DiffReport, markdown: bool) -> list[list[str]]:
    t = report.tensors
    if t is None:
        return []
    counts = f"tensors: {len(t.added)} added, {len(t.removed)} removed, {len(t.reshaped)} reshaped"
    if t.changed is None:  # headers only: values were not read
        counts += " (values not compared: --levels tensors compares them)"
    else:
        unchanged = t.unchanged if t.unchanged is not None else "-"
        counts += f", {len(t.changed)} changed, {unchanged} unchanged"
    lines = [counts]
    if t.added:
        lines.append(f"  added: {_listed(t.added)}")
    if t.removed:
        lines.append(f"  removed: {_listed(t.removed)}")
    for r in t.reshaped[:_MAX_LIST]:
        lines.append(
            f"  reshaped {_safe(r.name)}: {r.base[0]}{list(r.base[1])} -> "
            f"{r.target[0]}{list(r.target[1])}"
        )
    out = [lines]
    for title, entries in (("changed", t.changed or ()), ("dequantised", t.dequantised)):
        if entries:
            out.append(_changes(title, entries, markdown))
    return out


def _changes(title: str, entries: Sequence[TensorChange], markdown: bool) -> list[str]:
    rows = [
            [
                _safe(c.name), c.dtype, "x".join(map(str, c.shape)) or "scalar",
                _number(c.max_abs_diff), _number(c.mean_abs_diff), _number(c.rel_l2),
                _number(c.cosine), str(c.nan_count if c.nan_count is not None else "-"),
                str(c.inf_count if c.inf_count is not None else "-"),
            ]
            for c in entries
        ]  # fmt: skip
    headers = ("tensor", "dtype", "shape", "max abs", "mean abs", "rel l2", "cosine", "nan",
               "inf")  # fmt: skip
    return [f"{title} tensors:", *_table(headers, rows, markdown)]


def _plain(section: list[str]) -> list[str]:
    return section[1:] if section and section[0] == _VERBATIM else section


def render_table(report: DiffReport) -> str:
    sections = (_plain(s) for s in _sections(report, markdown=False))
    return "\n\n".join("\n".join(s) for s in sections if s) + "\n"


def render_markdown(report: DiffReport) -> str:
    parts = ["## hubsnap diff"]
    for section in _sections(report, markdown=True):
        if not section:
            continue
        if section[0] == _VERBATIM:
            parts.append("\n".join(section[1:]))
            continue
        table_start = next((i for i, line in enumerate(section) if line.startswith("|")), None)
        if table_start is None:
            parts.append("\n".join(f"- {_md(line.strip())}" for line in section))
        else:
            prose = [f"**{_md(line)}**" for line in section[:table_start]]
            parts.append("\n".join([*prose, "", *section[table_start:]]))
    return "\n\n".join(parts) + "\n"


def _md(text: str) -> str:
    """Text safe in a Markdown table or list: no HTML, no cell breaks."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
