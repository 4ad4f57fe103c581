"""The httpx types the clients name, re-exported so that only this package imports httpx.

The Hub and registry clients build requests and read responses through these names; a
change of HTTP library is then a change inside :mod:`hubsnap.http` alone.
"""

from __future__ import annotations

from httpx import (
    URL,
    BaseTransport,
    Client,
    InvalidURL,
    QueryParams,
    Request,
    Response,
    Timeout,
    TimeoutException,
    TransportError,
)

__all__ = [
    "URL",
    "BaseTransport",
    "Client",
    "InvalidURL",
    "QueryParams",
    "Request",
    "Response",
    "Timeout",
    "TimeoutException",
    "TransportError",
]
