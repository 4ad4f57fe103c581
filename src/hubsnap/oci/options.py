"""How to reach a registry: :class:`TransportOptions`, a plain value.

Kept apart from the registry client so that a session can be set up, and a command that only
reads local layouts can run, without loading the HTTP stack.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hubsnap.retry import RetryPolicy

if TYPE_CHECKING:
    from hubsnap.http.types import BaseTransport

__all__ = ["TransportOptions"]


@dataclass(frozen=True)
class TransportOptions:
    """How to reach a registry.

    ``plain_http`` is ``None`` for the default (plain HTTP only for loopback hosts);
    ``ca_file`` adds a CA bundle for HTTPS; ``timeout`` bounds each exchange (a request,
    its retries and its answer) and is the window in which a blob body must move at least
    :data:`hubsnap.http.MIN_BYTES_PER_SECOND`; ``chunk_size`` forces chunked uploads of that
    many bytes per ``PATCH`` (``None``: monolithic first). ``transport`` replaces httpx's
    network transport (a seam for tests and proxies).
    """

    plain_http: bool | None = None
    ca_file: Path | None = None
    timeout: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    chunk_size: int | None = None
    transport: BaseTransport | None = field(default=None, repr=False, compare=False)
