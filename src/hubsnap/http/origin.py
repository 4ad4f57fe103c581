"""Origins (scheme, host, port), and requests that carry credentials to one origin only.

A registry or the Hub may send us elsewhere: a redirect to object storage, an upload
``Location`` on another host. :func:`send_following` follows redirects by hand and attaches
``Authorization`` only while the URL is on the origin the credentials belong to.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import httpx

from hubsnap.errors import RemoteError

__all__ = ["REDIRECT_STATUSES", "Content", "Origin", "resolve_location", "send_following"]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOSTNAME = re.compile(r"^[a-z0-9_](?:[a-z0-9_.-]{0,252}[a-z0-9_])?$", re.ASCII)
#: A body: bytes, or a factory giving a fresh stream for each send (redirects resend it).
Content = bytes | Callable[[], Iterable[bytes]] | None


@dataclass(frozen=True)
class Origin:
    """The scheme, host and port of a URL: what a credential is bound to."""

    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str | httpx.URL) -> Origin:
        """The origin of an absolute ``http``/``https`` URL; ``ValueError`` otherwise."""
        try:
            parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as e:
            raise ValueError(f"not a URL: {e}") from e
        scheme = parsed.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parsed.host:
            raise ValueError("not an absolute http(s) URL")
        host = parsed.raw_host.decode("ascii", "replace").lower()
        if not _valid_host(host):
            raise ValueError("invalid host in URL")
        return cls(scheme, host, parsed.port or _DEFAULT_PORTS[scheme])

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = _DEFAULT_PORTS[self.scheme] == self.port
        return f"{self.scheme}://{host}" + ("" if default else f":{self.port}")


def _valid_host(host: str) -> bool:
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return False
        return True
    return _HOSTNAME.match(host) is not None


def resolve_location(base: str | httpx.URL, location: str, what: str) -> httpx.URL:
    """``location`` (absolute or relative) against ``base``; an unusable one is RemoteError."""
    try:
        url = httpx.URL(str(base)).join(location)
        Origin.of(url)
    except (httpx.InvalidURL, ValueError, TypeError) as e:
        raise RemoteError(f"{what}: the server sent an unusable Location") from e
    return url


def send_following(
    client: httpx.Client,
    method: str,
    url: str | httpx.URL,
    *,
    headers: Mapping[str, str],
    authorization: str | None,
    credential_origin: Origin,
    content: Content = None,
    stream: bool = False,
    max_redirects: int = 5,
    what: str = "request",
    timeout: float | None = None,
) -> httpx.Response:
    """Send one request, following up to ``max_redirects`` redirects by hand.

    ``authorization`` goes only to URLs on ``credential_origin``. A 303 turns the request
    into a bodiless ``GET``; other redirects resend ``content`` (pass a fresh iterable per
    factory: a streamed body cannot be replayed). The caller checks the final status.
    """
    current = httpx.URL(str(url))
    body: Content = content
    for _ in range(max_redirects + 1):
        sent = dict(headers)
        if authorization is not None and _on(current, credential_origin):
            sent["Authorization"] = authorization
        payload = body() if callable(body) else body
        request = client.build_request(method, current, headers=sent, content=payload)
        if timeout is not None:
            request.extensions["timeout"] = httpx.Timeout(timeout).as_dict()
        response = client.send(request, stream=stream)
        location = response.headers.get("Location")
        if response.status_code not in REDIRECT_STATUSES or not location:
            return response
        response.close()
        current = resolve_location(current, location, what)
        if response.status_code == 303:
            method, body = "GET", None
    raise RemoteError(f"{what}: redirected more than {max_redirects} times")


def _on(url: httpx.URL, origin: Origin) -> bool:
    try:
        return Origin.of(url) == origin
    except ValueError:
        return False
