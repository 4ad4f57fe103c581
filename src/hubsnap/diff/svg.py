"""The plots of the HTML diff report as inline SVG: a horizontal bar chart (per-tensor
relative change, on a log scale when the values span decades) and a histogram (confidence
changes on a test set).

Plain strings, no plotting library and nothing fetched: the page stays one self-contained
file. Every label comes from an artifact or a test set, so it goes through :func:`escape`
(control and bidirectional characters shown as escapes, then HTML-escaped) before it reaches
the markup.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["MAX_BARS", "Bar", "bar_chart", "escape", "histogram"]

_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
#: Bars drawn at most: a model with thousands of changed tensors still gets a page a
#: browser opens quickly (the table below the plot lists every one).
MAX_BARS = 400
_ROW = 16
_LABEL_WIDTH = 300
_PLOT_WIDTH = 420
_VALUE_WIDTH = 90
_LABEL_CHARS = 44


def escape(text: str, limit: int | None = None) -> str:
    """``text`` as HTML text or attribute value: control and bidirectional characters as
    visible escapes, shortened to ``limit`` characters, then ``& < > " '`` escaped."""
    if not all(c.isprintable() and c not in _BIDI for c in text):
        text = "".join(c if c.isprintable() and c not in _BIDI else ascii(c)[1:-1] for c in text)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return html.escape(text, quote=True)


def _number(value: float) -> str:
    return f"{value:.3g}"


@dataclass(frozen=True)
class Bar:
    """One bar: its label and value (``None`` when undefined; drawn as a note, no bar)."""

    label: str
    value: float | None


@dataclass(frozen=True)
class _Scale:
    """Maps a value to a bar length in ``[0, _PLOT_WIDTH]``."""

    low: float
    high: float
    log: bool

    def __call__(self, value: float) -> float:
        if value <= 0.0:
            return 0.0
        if self.log:
            span = math.log10(self.high) - math.log10(self.low)
            share = (math.log10(value) - math.log10(self.low)) / span
        else:
            share = value / self.high
        return _PLOT_WIDTH * min(max(share, 0.0), 1.0)

    def ticks(self) -> list[float]:
        if self.log:
            first, last = round(math.log10(self.low)), round(math.log10(self.high))
            step = max(1, math.ceil((last - first) / 6))
            return [10.0**e for e in range(first, last + 1, step)]
        return [self.high * i / 4 for i in range(5)]


def _scale(values: Sequence[float]) -> _Scale:
    """Log scale over whole decades when the positive values span more than one decade
    (relative changes often range from 1e-6 to 1), else linear from zero."""
    positive = [v for v in values if v > 0.0 and math.isfinite(v)]
    if not positive:
        return _Scale(0.0, 1.0, log=False)
    low, high = min(positive), max(positive)
    if high / low < 10.0:
        return _Scale(0.0, high, log=False)
    return _Scale(10.0 ** math.floor(math.log10(low)), 10.0 ** math.ceil(math.log10(high)), True)


def bar_chart(bars: Sequence[Bar], *, title: str, axis: str) -> str:
    """A horizontal bar chart, one row per bar in the given order (the first
    :data:`MAX_BARS`); each bar carries a tooltip with its full label and value."""
    shown = list(bars[:MAX_BARS])
    scale = _scale([b.value for b in shown if b.value is not None])
    top, left = 24, _LABEL_WIDTH
    height = top + _ROW * len(shown) + 34
    width = _LABEL_WIDTH + _PLOT_WIDTH + _VALUE_WIDTH
    out = [
        f'<svg class="plot bars" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for i, bar in enumerate(shown):
        y = top + i * _ROW
        label = escape(bar.label, _LABEL_CHARS)
        out.append(
            f'<text class="label" x="{left - 6}" y="{y + 12}" text-anchor="end">{label}</text>'
        )
        if bar.value is None or not math.isfinite(bar.value):
            note = "undefined" if bar.value is None else _number(bar.value)
            out.append(f'<text class="note" x="{left + 4}" y="{y + 12}">{note}</text>')
            continue
        length = scale(bar.value)
        tip = f"{escape(bar.label)}: {_number(bar.value)}"
        out.append(
            f'<rect class="bar" x="{left}" y="{y + 2}" width="{max(length, 1.0):.1f}" '
            f'height="{_ROW - 4}"><title>{tip}</title></rect>'
        )
        out.append(
            f'<text class="value" x="{left + length + 4:.1f}" y="{y + 12}">'
            f"{_number(bar.value)}</text>"
        )
    axis_y = top + _ROW * len(shown) + 4
    out.append(
        f'<line class="axis" x1="{left}" y1="{top - 2}" x2="{left}" y2="{axis_y}"/>'
        f'<line class="axis" x1="{left}" y1="{axis_y}" x2="{left + _PLOT_WIDTH}" y2="{axis_y}"/>'
    )
    for tick in scale.ticks():
        x = left + (scale(tick) if tick > 0 else 0.0)
        out.append(
            f'<line class="tick" x1="{x:.1f}" y1="{axis_y}" x2="{x:.1f}" y2="{axis_y + 4}"/>'
            f'<text class="tick" x="{x:.1f}" y="{axis_y + 16}" text-anchor="middle">'
            f"{_number(tick)}</text>"
        )
    scale_name = "log scale" if scale.log else "linear scale"
    out.append(
        f'<text class="axis-title" x="{left + _PLOT_WIDTH / 2:.0f}" y="{axis_y + 30}" '
        f'text-anchor="middle">{escape(axis)} ({scale_name})</text>'
    )
    out.append(f'<text class="plot-title" x="{left}" y="14">{escape(title)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _bins(values: Sequence[float], count: int) -> tuple[float, list[int]]:
    """Bin width and counts of ``count`` (odd) equal bins centred on zero, so unchanged
    inputs (a change of exactly 0) fall in the middle bin of their own."""
    reach = max((abs(v) for v in values), default=0.0)
    width = 2.0 * reach / count if reach > 0.0 else 0.02
    counts = [0] * count
    middle = count // 2
    for v in values:
        index = middle + math.floor(v / width + 0.5)
        counts[min(max(index, 0), count - 1)] += 1
    return width, counts


def histogram(values: Sequence[float], *, title: str, axis: str, bins: int = 21) -> str:
    """A histogram of ``values`` (finite numbers) in ``bins`` equal bins centred on zero;
    each bar's tooltip gives its range and count."""
    finite = [v for v in values if math.isfinite(v)]
    width, counts = _bins(finite, bins)
    top, left, plot_w, plot_h = 24, 44, 600, 180
    total_w, total_h = left + plot_w + 20, top + plot_h + 44
    peak = max(counts, default=0) or 1
    bar_w = plot_w / bins
    low = -(bins / 2) * width
    out = [
        f'<svg class="plot histogram" role="img" '
        f'width="{total_w}" height="{total_h}" viewBox="0 0 {total_w} {total_h}" '
        f'aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text class="plot-title" x="{left}" y="14">{escape(title)}</text>',
    ]
    base = top + plot_h
    for i, n in enumerate(counts):
        h = plot_h * n / peak
        start = low + i * width
        tip = f"{start:+.3g} to {start + width:+.3g}: {n}"
        out.append(
            f'<rect class="bar" x="{left + i * bar_w + 1:.1f}" y="{base - h:.1f}" '
            f'width="{bar_w - 2:.1f}" height="{h:.1f}"><title>{tip}</title></rect>'
        )
    out.append(
        f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{base}"/>'
        f'<line class="axis" x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}"/>'
    )
    for count in sorted({0, peak // 2, peak}):
        y = base - plot_h * count / peak
        out.append(
            f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{count}</text>'
        )
    for share, tick in ((0.0, f"{low:+.3g}"), (0.5, "0"), (1.0, f"{-low:+.3g}")):
        x = left + plot_w * share
        out.append(
            f'<line class="tick" x1="{x:.1f}" y1="{base}" x2="{x:.1f}" y2="{base + 4}"/>'
            f'<text class="tick" x="{x:.1f}" y="{base + 16}" text-anchor="middle">{tick}</text>'
        )
    out.append(
        f'<text class="axis-title" x="{left + plot_w / 2:.0f}" y="{base + 32}" '
        f'text-anchor="middle">{escape(axis)}</text>'
    )
    out.append("</svg>")
    return "\n".join(out)
