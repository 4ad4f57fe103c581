"""Time limits that hold for a whole exchange, not for one socket read.

httpx's timeouts bound each connect, write and read on their own: a server that sends two
bytes a second never trips them. :class:`Deadline` bounds a whole step (a request with its
retries and its body); :class:`RateFloor` bounds a long body by the least progress it must
make in every window, so that a large blob may take as long as it needs while a trickle
fails within about one window.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from hubsnap.errors import RemoteError

__all__ = ["MIN_BYTES_PER_SECOND", "Deadline", "RateFloor"]

#: The slowest body :class:`RateFloor` accepts by default, averaged over each window.
MIN_BYTES_PER_SECOND = 1024

Clock = Callable[[], float]


class Deadline:
    """A point in monotonic time by which a step must be done; ``None`` seconds: never."""

    def __init__(self, seconds: float | None, *, clock: Clock = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._end = None if seconds is None else clock() + seconds

    def remaining(self) -> float | None:
        """Seconds left (never negative), or ``None`` for a deadline that never comes."""
        if self._end is None:
            return None
        return max(0.0, self._end - self._clock())

    @property
    def expired(self) -> bool:
        left = self.remaining()
        return left is not None and left <= 0.0

    def bound(self, seconds: float) -> float:
        """``seconds``, shortened to what is left (a socket timeout must not outlive us)."""
        left = self.remaining()
        return seconds if left is None else max(0.001, min(seconds, left))

    def check(self, what: str) -> None:
        """Raise :class:`RemoteError` once the deadline has passed."""
        if self.expired:
            raise RemoteError(
                f"{what}: not done within {self.seconds:g}s", hint="raise --timeout or retry"
            )


class RateFloor:
    """At least ``min_rate`` bytes a second over every ``window`` seconds of a body.

    Call :meth:`advance` with each chunk's size; it raises once a window closes having seen
    fewer than ``min_rate * window`` bytes.
    """

    def __init__(
        self,
        window: float,
        min_rate: int = MIN_BYTES_PER_SECOND,
        *,
        clock: Clock = time.monotonic,
    ) -> None:
        self.window = window
        self.min_rate = min_rate
        self._clock = clock
        self._start = clock()
        self._seen = 0

    def advance(self, count: int, what: str) -> None:
        self._seen += count
        now = self._clock()
        if now - self._start < self.window:
            return
        if self._seen < self.min_rate * self.window:
            raise RemoteError(
                f"{what}: the transfer stalled ({self._seen} bytes in "
                f"{now - self._start:.1f}s, under {self.min_rate} bytes a second)",
                hint="check the connection, or raise --timeout",
            )
        self._start, self._seen = now, 0
