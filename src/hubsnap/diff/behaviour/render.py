"""The behaviour report for people: the seed's terminal table, and Markdown for a PR comment.

Inputs and labels come from a test set and from endpoints, so they are shown as text, never
as markup: control characters are escaped, rich markup is not interpreted, Markdown table
syntax is escaped, and long inputs are shortened.
"""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table
from rich.text import Text

from hubsnap.diff.behaviour.model import Label, Span
from hubsnap.diff.behaviour.report import BehaviourReport

__all__ = ["render_markdown", "render_table", "summary_lines"]

INPUT_WIDTH = 60


def _clean(text: str, limit: int | None = None) -> str:
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    if limit is not None and len(text) > limit:
        return text[: limit - 1] + "…"
    return text


def _labels(labels: tuple[Label, ...]) -> str:
    shown = [
        f"{label.entity}[{label.start}:{label.end}]" if isinstance(label, Span) else label
        for label in labels
    ]
    return _clean(", ".join(shown)) if shown else "-"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4f}"


def _number(value: float | None, form: str = ".4f") -> str:
    return "-" if value is None else format(value, form)


def _consistent(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def summary_lines(report: BehaviourReport) -> list[str]:
    """The aggregates, one ``name: value`` line each, only those that apply."""
    if report.dry_run:
        return [f"dry run: {report.inputs} inputs, both sides checked, nothing sent"]
    lines = [f"inputs: {report.inputs}", f"task: {report.task.value}"]
    if report.label_shift_rate is not None and report.label_shift_ci is not None:
        low, high = report.label_shift_ci
        lines.append(
            f"label shift rate: {report.label_shift_rate:.4f} "
            f"(95% CI {low:.4f}–{high:.4f}; {report.label_shifts} of {report.inputs})"
        )
    pairs = [
        ("mean Jaccard", report.jaccard_mean, ".4f"),
        ("mean confidence change", report.confidence_delta_mean, "+.4f"),
        ("mean embedding cosine", report.embedding_cosine_mean, ".6f"),
        ("baseline accuracy", report.base_accuracy, ".4f"),
        ("target accuracy", report.target_accuracy, ".4f"),
        ("McNemar exact p", report.mcnemar_p, ".4g"),
        ("Wilcoxon signed-rank p", report.wilcoxon_p, ".4g"),
    ]
    lines += [f"{name}: {format(value, form)}" for name, value, form in pairs if value is not None]
    return lines


def render_table(report: BehaviourReport, *, width: int = 120) -> str:
    """The seed's table (input, baseline labels, target labels, consistent, confidence
    change; cosine for embeddings) followed by the aggregates, as plain text."""
    embeddings = not report.task.labelled
    table = Table(title="Behaviour", title_justify="left")
    table.add_column("input", overflow="fold")
    if embeddings:
        table.add_column("cosine", justify="right")
    else:
        table.add_column("baseline labels", overflow="fold")
        table.add_column("target labels", overflow="fold")
        table.add_column("consistent")
        table.add_column("confidence change", justify="right")
    for row in report.rows:
        text = Text(_clean(row.input, INPUT_WIDTH))
        if embeddings:
            table.add_row(text, Text(_number(row.cosine, ".6f")))
        else:
            table.add_row(
                text, Text(_labels(row.base_labels)), Text(_labels(row.target_labels)),
                Text(_consistent(row.consistent)), Text(_signed(row.confidence_delta)),
            )  # fmt: skip
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, highlight=False, markup=False)
    if report.rows:
        console.print(table)
    for line in summary_lines(report):
        console.print(Text(line))
    return out.getvalue()


def _cell(text: str) -> str:
    # A cell is one line; "|" ends a cell and backticks, "<" and "*" would format it.
    escaped = _clean(text)
    for char in "\\|`*_<>[]":
        escaped = escaped.replace(char, "\\" + char)
    return escaped


def render_markdown(report: BehaviourReport) -> str:
    """A Markdown section for a pull-request comment: the aggregates, then the table."""
    lines = ["### Behaviour", ""]
    lines += [f"- {_cell(line)}" for line in summary_lines(report)]
    if report.rows:
        lines.append("")
        if report.task.labelled:
            lines += [
                "| input | baseline labels | target labels | consistent | confidence change |",
                "|---|---|---|---|---:|",
            ]
            lines += [
                f"| {_cell(_clean(row.input, INPUT_WIDTH))} | {_cell(_labels(row.base_labels))} "
                f"| {_cell(_labels(row.target_labels))} | {_consistent(row.consistent)} "
                f"| {_signed(row.confidence_delta)} |"
                for row in report.rows
            ]
        else:
            lines += ["| input | cosine |", "|---|---:|"]
            lines += [
                f"| {_cell(_clean(row.input, INPUT_WIDTH))} | {_number(row.cosine, '.6f')} |"
                for row in report.rows
            ]
    return "\n".join(lines) + "\n"
