"""Progress of long transfers, on stderr: a bar with rate and ETA on a terminal, a line every
few seconds otherwise (CI logs, ``2>log``), nothing with ``-q`` or
``HF_HUB_DISABLE_PROGRESS_BARS``.

The command line decides once (:func:`configure`); the stages only ask for a
:func:`transfer_progress`. rich is imported only when a bar is drawn.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol, TextIO

__all__ = ["Progress", "configure", "count_progress", "transfer_progress"]

#: Seconds between two progress lines when stderr is not a terminal (``-v``: one second).
DEFAULT_INTERVAL = 5.0
_enabled = True
_interval = DEFAULT_INTERVAL


class Progress(Protocol):
    def advance(self, nbytes: int) -> None: ...


def configure(*, enabled: bool, interval: float = DEFAULT_INTERVAL) -> None:
    """Turn progress reporting on or off (``-q``) and set the seconds between two lines."""
    global _enabled, _interval  # process-wide, set by the command line
    _enabled, _interval = enabled, interval


class _Silent:
    def advance(self, nbytes: int) -> None:
        pass


def _size(value: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def _count(value: float) -> str:
    return f"{value:,.0f}"


class _Lines:
    """A line every ``interval`` seconds: done, total, percent, rate, ETA."""

    def __init__(
        self,
        description: str,
        total: int | None,
        stream: TextIO,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        unit: Callable[[float], str] = _size,
    ) -> None:
        self._unit = unit
        self._interval = interval
        self._description = description
        self._total = total
        self._stream = stream
        self._clock = clock
        self._start = self._last = clock()
        self._done = 0
        self.lines = 0

    def advance(self, nbytes: int) -> None:
        self._done += nbytes
        now = self._clock()
        if now - self._last >= self._interval:
            self._last = now
            self._write(now)

    def finish(self) -> None:
        if self.lines:  # a transfer long enough to report says that it ended
            self._write(self._clock(), final=True)

    def _write(self, now: float, *, final: bool = False) -> None:
        elapsed = max(now - self._start, 1e-9)
        rate = self._done / elapsed
        size = self._unit
        text = f"{self._description}: {size(self._done)}"
        if self._total:
            text += f" of {size(self._total)} ({100 * self._done // self._total}%)"
        text += f", {size(rate)}/s"
        if final:
            text += f", done in {elapsed:.0f}s"
        elif self._total and rate > 0:
            text += f", ETA {max(self._total - self._done, 0) / rate:.0f}s"
        self._stream.write(text + "\n")
        self._stream.flush()
        self.lines += 1


class _RichBar:
    def __init__(self, advance: Callable[[int], None]) -> None:
        self.advance = advance


@contextmanager
def transfer_progress(description: str, total: int | None) -> Iterator[Progress]:
    """A byte-counting progress report for one transfer."""
    if not _enabled:
        yield _Silent()
        return
    stream = sys.stderr
    if not stream.isatty():
        lines = _Lines(description, total, stream, _interval)
        yield lines
        lines.finish()
        return
    from rich.console import Console  # noqa: PLC0415
    from rich.progress import (  # noqa: PLC0415
        BarColumn,
        DownloadColumn,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )
    from rich.progress import Progress as RichProgress  # noqa: PLC0415

    with RichProgress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield _RichBar(lambda nbytes: bar.advance(task, nbytes))


@contextmanager
def count_progress(description: str, total: int) -> Iterator[Progress]:
    """A progress report counting items (model cards, texts embedded) instead of bytes."""
    if not _enabled:
        yield _Silent()
        return
    stream = sys.stderr
    if not stream.isatty():
        lines = _Lines(description, total, stream, _interval, unit=_count)
        yield lines
        lines.finish()
        return
    from rich.console import Console  # noqa: PLC0415
    from rich.progress import (  # noqa: PLC0415
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as RichProgress  # noqa: PLC0415

    with RichProgress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield _RichBar(lambda count: bar.advance(task, count))
