"""Structured logs: one JSON object per line on stderr, one line per event.

Only the fields a caller passes are written; no secret is ever passed (the webhook secret
and tokens stay out of every event, and the access log, which would show ``?secret=``, is
off)."""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

__all__ = ["log"]

_lock = threading.Lock()


def log(event: str, **fields: Any) -> None:
    record = {"ts": round(time.time(), 3), "event": event, **fields}
    line = json.dumps(record, default=str, separators=(",", ":"))
    with _lock:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
