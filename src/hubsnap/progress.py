"""Progress bars for long transfers, on stderr, and silent when stderr is not a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, TaskID, TextColumn, TransferSpeedColumn
from rich.progress import Progress as RichProgress

__all__ = ["Progress", "transfer_progress"]


class Progress(Protocol):
    def advance(self, nbytes: int) -> None: ...


class _Silent:
    def advance(self, nbytes: int) -> None:
        pass


class _RichBar:
    def __init__(self, bar: RichProgress, task: TaskID) -> None:
        self._bar = bar
        self._task = task

    def advance(self, nbytes: int) -> None:
        self._bar.advance(self._task, nbytes)


@contextmanager
def transfer_progress(description: str, total: int | None) -> Iterator[Progress]:
    """A byte-counting progress bar for one transfer."""
    if not sys.stderr.isatty():
        yield _Silent()
        return
    with RichProgress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield _RichBar(bar, task)
