"""One registry host over HTTP: connections, credentials, retries and safe redirects.

Owns httpx (with :mod:`hubsnap.oci.registry`, the repository operations built on it).
:class:`RegistryClient` answers ``WWW-Authenticate`` challenges (basic, or bearer tokens from
the registry's token service, fetched again when a token expires), retries 429/5xx answers
and dropped connections with backoff honouring ``Retry-After``, and follows redirects by hand
so that ``Authorization`` is never sent to another host: registries redirect blob reads to
object storage. Failures become :mod:`hubsnap.errors` values; none quotes a secret.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from hubsnap.canonical import loads_object
from hubsnap.errors import AuthError, NotFoundError, RemoteError
from hubsnap.oci.auth import Challenge, Credentials, basic_authorization, parse_token_response
from hubsnap.retry import RETRY_STATUSES, RetryPolicy

__all__ = ["BodyFactory", "RegistryClient", "TransportOptions", "check_status"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
BodyFactory = Callable[[], Iterable[bytes]]


@dataclass(frozen=True)
class TransportOptions:
    """How to reach a registry.

    ``plain_http`` is ``None`` for the default (plain HTTP only for loopback hosts);
    ``ca_file`` adds a CA bundle for HTTPS; ``chunk_size`` forces chunked uploads of that
    many bytes per ``PATCH`` (``None``: monolithic first). ``transport`` replaces httpx's
    network transport (a seam for tests and proxies).
    """

    plain_http: bool | None = None
    ca_file: Path | None = None
    timeout: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    chunk_size: int | None = None
    transport: httpx.BaseTransport | None = field(default=None, repr=False, compare=False)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


def _registry_error(response: httpx.Response) -> str:
    """The registry's own error code and message, if it sent the standard JSON body."""
    try:
        body = loads_object(response.read()[:65536], "error")
        first = body.get("errors", [{}])[0]
        code, message = first.get("code", ""), first.get("message", "")
        return f" ({code}: {message})" if code or message else ""
    except (ValueError, AttributeError, IndexError, TypeError, httpx.HTTPError):
        return ""


class RegistryClient:
    """One registry host: connections, credentials, tokens, retries and safe redirects."""

    def __init__(
        self,
        registry: str,
        *,
        credentials: Credentials | None = None,
        options: TransportOptions | None = None,
        plain_http: bool = False,
    ) -> None:
        self.registry = registry
        self.options = options or TransportOptions()
        self.base_url = f"{'http' if plain_http else 'https'}://{registry}"
        self._credentials = credentials
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, ...], str] = {}
        self._basic = False
        verify: ssl.SSLContext | bool = True
        if self.options.ca_file is not None:
            verify = ssl.create_default_context(cafile=str(self.options.ca_file))
        self._http = httpx.Client(
            timeout=httpx.Timeout(self.options.timeout),
            verify=verify,
            follow_redirects=False,
            transport=self.options.transport,
        )

    def close(self) -> None:
        self._http.close()

    def url(self, path: str) -> str:
        return urljoin(self.base_url + "/", path.lstrip("/"))

    # -- one request, end to end -------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        scope: tuple[str, ...],
        headers: dict[str, str] | None = None,
        body: BodyFactory | bytes | None = None,
        stream: bool = False,
        retry: bool = True,
    ) -> httpx.Response:
        """Send a request with auth, retries and redirects; the caller checks the status.

        ``body`` is a factory when the request may need to be sent again (auth, retries),
        so that a streamed body is produced afresh each time. With ``stream`` the caller
        must close the response.
        """
        policy = self.options.retry
        attempts = policy.attempts if retry else 1
        for attempt in range(1, attempts + 1):
            try:
                response = self._authorised(
                    method, url, scope=scope, headers=headers or {}, body=body, stream=stream
                )
            except httpx.TransportError as e:
                if attempt >= attempts:
                    raise RemoteError(
                        f"cannot reach {self.registry}: {type(e).__name__}",
                        hint="check that the registry is up, or raise --timeout",
                    ) from e
                policy.wait(attempt)
                continue
            if response.status_code in RETRY_STATUSES and attempt < attempts:
                response.close()
                policy.wait(attempt, response.headers.get("Retry-After"))
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _authorised(
        self,
        method: str,
        url: str,
        *,
        scope: tuple[str, ...],
        headers: dict[str, str],
        body: BodyFactory | bytes | None,
        stream: bool,
    ) -> httpx.Response:
        authorization = self._authorization(scope)
        response = self._follow(
            method, url, headers=headers, authorization=authorization, body=body, stream=stream
        )
        if response.status_code != 401:
            return response
        # First contact, or an expired token: answer the challenge once and resend.
        challenge = Challenge.parse(response.headers.get("WWW-Authenticate"))
        response.close()
        authorization = self._answer(challenge, scope)
        response = self._follow(
            method, url, headers=headers, authorization=authorization, body=body, stream=stream
        )
        if response.status_code == 401:
            response.close()
            raise AuthError(
                f"{self.registry} refused the credentials",
                hint=f"run: hubsnap login {self.registry} -u USER --password-stdin",
            )
        return response

    def _authorization(self, scope: tuple[str, ...]) -> str | None:
        with self._lock:
            if self._basic and self._credentials is not None:
                return basic_authorization(self._credentials)
            return self._tokens.get(scope)

    def _answer(self, challenge: Challenge | None, scope: tuple[str, ...]) -> str:
        if challenge is not None and challenge.scheme == "bearer" and challenge.realm:
            token = self._fetch_token(challenge, scope)
            with self._lock:
                self._tokens[scope] = f"Bearer {token}"
            return f"Bearer {token}"
        if challenge is not None and challenge.scheme == "basic":
            if self._credentials is None:
                raise AuthError(
                    f"{self.registry} requires authentication",
                    hint=f"run: hubsnap login {self.registry} -u USER --password-stdin",
                )
            with self._lock:
                self._basic = True
            return basic_authorization(self._credentials)
        raise AuthError(f"{self.registry} asked for an unsupported authentication scheme")

    def _fetch_token(self, challenge: Challenge, scope: tuple[str, ...]) -> str:
        realm = challenge.realm or ""
        params: list[tuple[str, str | int | float | bool | None]] = []
        if "service" in challenge.params:
            params.append(("service", challenge.params["service"]))
        params += [("scope", s) for s in scope]
        creds = self._credentials
        try:
            if creds is not None and creds.is_identity_token:
                form = {
                    "grant_type": "refresh_token",
                    "refresh_token": creds.password,
                    "client_id": "hubsnap",
                    "scope": " ".join(scope),
                    **(
                        {"service": challenge.params["service"]}
                        if "service" in challenge.params
                        else {}
                    ),
                }
                response = self._http.post(realm, data=form)
            else:
                headers = {"Authorization": basic_authorization(creds)} if creds else {}
                response = self._http.get(realm, params=params, headers=headers)
        except httpx.TransportError as e:
            raise RemoteError(f"cannot reach the token service of {self.registry}") from e
        with contextlib.closing(response):
            if response.status_code in (401, 403):
                raise AuthError(
                    f"{self.registry} refused the credentials",
                    hint=f"run: hubsnap login {self.registry} -u USER --password-stdin",
                )
            if response.status_code != 200:
                raise RemoteError(
                    f"the token service of {self.registry} answered {response.status_code}"
                )
            return parse_token_response(response.read()).value

    def _follow(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        authorization: str | None,
        body: BodyFactory | bytes | None,
        stream: bool,
    ) -> httpx.Response:
        origin = _origin(url)
        current = url
        for _ in range(_MAX_REDIRECTS + 1):
            sent = dict(headers)
            # Credentials are for the registry alone, never for the storage it redirects to.
            if authorization is not None and _origin(current) == origin:
                sent["Authorization"] = authorization
            content = body if isinstance(body, bytes) or body is None else body()
            request = self._http.build_request(method, current, headers=sent, content=content)
            response = self._http.send(request, stream=stream)
            location = response.headers.get("Location")
            if response.status_code not in _REDIRECTS or not location:
                return response
            response.close()
            current = urljoin(current, location)
            if response.status_code == 303:
                method, body = "GET", None
        raise RemoteError(f"{self.registry} redirected too many times")

    def ping(self, scope: tuple[str, ...] = ()) -> None:
        """``GET /v2/``, authenticating if challenged: checks reachability and credentials."""
        with contextlib.closing(self.request("GET", self.url("/v2/"), scope=scope)) as response:
            if response.status_code != 200:
                raise RemoteError(
                    f"{self.registry} is not an OCI registry (GET /v2/ answered "
                    f"{response.status_code})"
                )


def check_status(response: httpx.Response, what: str, ok: Iterable[int]) -> None:
    """Raise the error matching ``response`` unless its status is in ``ok``."""
    status = response.status_code
    if status in ok:
        return
    detail = _registry_error(response)
    response.close()
    if status == 404:
        raise NotFoundError(f"{what}: not found{detail}")
    if status in (401, 403):
        raise AuthError(f"{what}: access denied{detail}", hint="check your registry credentials")
    raise RemoteError(f"{what}: the registry answered {status}{detail}")
