"""Injected failures and request counters, driven by the control API.

A fault matches requests by a regular expression on the path (and optionally the method)
and fires a fixed number of times: an HTTP error status (429 with ``Retry-After``, 5xx), a
body cut short after its full ``Content-Length`` was announced, a body of the right size
with corrupted bytes, a delay, a body sent slowly (``throttle``: ``rate`` bytes a second),
or a ``Range`` header ignored (``ignore_range``: the whole body, ``200``, as servers without
range support answer). Counters record every request, the body bytes sent and how many
requests asked for a ``Range``, so tests can assert that a file was (or was not) fetched
again, and how much of it.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = ("status", "truncate", "corrupt", "delay", "throttle", "ignore_range")


@dataclass
class Fault:
    """One armed fault; ``remaining`` counts down each time it fires."""

    id: int
    pattern: str
    kind: str
    remaining: int
    method: str | None = None
    status: int = 503
    retry_after: int | None = None
    truncate_at: int | None = None
    delay: float = 0.0
    rate: int = 0
    _regex: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {KINDS}")
        self._regex = re.compile(self.pattern)

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        return self.remaining > 0 and self._regex.search(path) is not None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("_regex", None)
        return data


class Faults:
    """Thread-safe registry of faults and per-request counters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._next_id = 1
        self._requests: Counter[tuple[str, str]] = Counter()
        self._bytes: Counter[tuple[str, str]] = Counter()
        self._ranged: Counter[tuple[str, str]] = Counter()
        self._active = 0  # requests being answered (a body still being sent counts)

    def add(self, spec: dict[str, Any]) -> Fault:
        kind = str(spec.get("kind", "status"))
        if kind.isdigit():  # "429" / "503" are accepted as shorthand for a status fault
            spec = {**spec, "status": int(kind)}
            kind = "status"
        with self._lock:
            fault = Fault(
                id=self._next_id,
                pattern=str(spec["pattern"]),
                kind=kind,
                remaining=int(spec.get("count", 1)),
                method=spec.get("method"),
                status=int(spec.get("status", 503)),
                retry_after=spec.get("retry_after"),
                truncate_at=spec.get("truncate_at"),
                delay=float(spec.get("delay", 0.0)),
                rate=int(spec.get("rate", 0)),
            )
            self._next_id += 1
            self._faults.append(fault)
            return fault

    def take(self, method: str, path: str, kinds: tuple[str, ...]) -> Fault | None:
        """The first armed fault of one of ``kinds`` for this request, consuming one shot."""
        with self._lock:
            for fault in self._faults:
                if fault.kind in kinds and fault.matches(method, path):
                    fault.remaining -= 1
                    return fault
        return None

    def armed(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.to_json() for f in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def record(self, method: str, path: str, *, ranged: bool = False) -> None:
        with self._lock:
            self._requests[(method, path)] += 1
            if ranged:
                self._ranged[(method, path)] += 1

    def record_bytes(self, method: str, path: str, nbytes: int) -> None:
        """Body bytes actually written to the client (a cut body counts what was sent)."""
        with self._lock:
            self._bytes[(method, path)] += nbytes

    def begin(self) -> None:
        with self._lock:
            self._active += 1

    def end(self) -> None:
        with self._lock:
            self._active -= 1

    @property
    def active(self) -> int:
        with self._lock:
            return self._active

    def count(self, contains: str, method: str | None) -> dict[str, int]:
        """Requests whose path contains ``contains``: how many, how many asked for a
        ``Range``, and the body bytes sent to them."""

        def total(counter: Counter[tuple[str, str]]) -> int:
            return sum(
                n
                for (m, p), n in counter.items()
                if contains in p and (method is None or m == method.upper())
            )

        with self._lock:
            return {
                "count": total(self._requests),
                "ranged": total(self._ranged),
                "bytes": total(self._bytes),
                "active": self._active,
            }

    def log(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {
                    "method": m,
                    "path": p,
                    "count": n,
                    "ranged": self._ranged[(m, p)],
                    "bytes": self._bytes[(m, p)],
                }
                for (m, p), n in self._requests.items()
            ]

    def reset_counts(self) -> None:
        with self._lock:
            self._requests.clear()
            self._bytes.clear()
            self._ranged.clear()
