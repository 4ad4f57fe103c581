"""Retry with exponential backoff and jitter, honouring ``Retry-After``.

Used by every network client (Hub, registry), through :mod:`hubsnap.http.send`, so that they
all retry the same things the same way: 408, 429, 5xx and dropped connections, never 4xx
answers that will not change.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

__all__ = ["RETRY_STATUSES", "RetryPolicy", "parse_retry_after"]

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# ASCII digits only: str.isdigit() also accepts "²" and other digits float() refuses.
_SECONDS = re.compile(r"^[0-9]{1,10}$", re.ASCII)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date).

    ``None`` for an absent or unreadable header: the caller's own backoff applies then.
    """
    if not value:
        return None
    value = value.strip()
    if _SECONDS.match(value):
        return float(value)
    if not value.isascii():
        return None
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry. ``max_delay`` also caps a server's ``Retry-After``."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    sleep: Callable[[float], None] = time.sleep

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """The wait before retry number ``attempt`` (1-based)."""
        server = parse_retry_after(retry_after)
        if server is not None:
            return float(min(server, self.max_delay))
        backoff = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return float(backoff * (0.5 + random.random() / 2))

    def wait(self, attempt: int, retry_after: str | None = None) -> None:
        self.sleep(self.delay(attempt, retry_after))
