"""One registry host over HTTP: credentials, tokens, retries and where credentials may go.

Built on :mod:`hubsnap.http` (the owner of httpx): every request takes its one retry loop
(429/5xx and dropped connections, backoff honouring ``Retry-After``) and its body caps and
deadlines. :class:`RegistryClient` answers ``WWW-Authenticate`` challenges (basic, or
bearer tokens fetched again when one expires) and keeps credentials on their origin:
``Authorization`` goes only to the registry's own scheme, host and port (never to storage a
redirect or an upload ``Location`` points at), a challenge is answered only when the
registry itself sent it, and basic credentials go only to the token realm that challenge
names, never over plain HTTP for an HTTPS registry. Failures become :mod:`hubsnap.errors`
values; none quotes a secret.
"""

from __future__ import annotations

import contextlib
import re
import ssl
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from hubsnap.canonical import loads_object
from hubsnap.errors import AuthError, HubsnapError, NotFoundError, RemoteError
from hubsnap.http import (
    Content,
    Deadline,
    Origin,
    bound_timeout,
    buffered,
    read_capped,
    resolve_location,
    retrying,
    send_following,
)
from hubsnap.http.types import URL, Client, InvalidURL, Request, Response, Timeout
from hubsnap.oci.auth import Challenge, Credentials, basic_authorization, parse_token_response
from hubsnap.oci.options import TransportOptions
from hubsnap.retry import RetryPolicy

__all__ = [
    "BodyFactory",
    "RegistryClient",
    "RegistryErrors",
    "TransportOptions",
    "check_status",
    "read_errors",
]

#: Produces a request body afresh for each send (retries, auth, redirects).
BodyFactory = Callable[[], Iterable[bytes]]
#: A token answer is a small JSON object (a JWT or an opaque string, and its lifetime).
MAX_TOKEN_BYTES = 32 * 1024
#: Enough of an error body for its first code and message.
MAX_ERROR_BYTES = 16 * 1024
#: Any other answer hubsnap does not stream (upload sessions, stored manifests, HEAD).
MAX_ANSWER_BYTES = 64 * 1024
#: Errors of one answer looked at: a 16 KiB body could list thousands.
_MAX_ERRORS = 64
_PRINTABLE = re.compile(r"[^\x20-\x7e]")


def _login_hint(registry: str) -> str:
    return f"run: hubsnap login {registry} -u USER --password-stdin"


@dataclass(frozen=True)
class RegistryErrors:
    """The standard JSON error body of an answer: each error's code, and each string
    ``detail`` (distribution names the blob it misses there); ``text`` is the first error's
    code and message as shown to a user (empty when the body said nothing readable)."""

    codes: tuple[str, ...] = ()
    details: tuple[str, ...] = ()
    text: str = ""


def read_errors(response: Response) -> RegistryErrors:
    """The registry's own errors, if it sent the standard JSON body.

    Read with a small cap and a short deadline; anything unreadable is left out. Control
    characters are dropped: the text ends up on a terminal.
    """
    try:
        data = read_capped(
            response, MAX_ERROR_BYTES, "error body", deadline=Deadline(5.0), decode=False
        )
        errors = loads_object(data, "error").get("errors", [{}])
        first = errors[0]
        code, message = str(first.get("code", "")), str(first.get("message", ""))
    except (HubsnapError, ValueError, AttributeError, IndexError, TypeError, RecursionError):
        return RegistryErrors()
    code, message = _PRINTABLE.sub("", code)[:80], _PRINTABLE.sub("", message)[:200]
    entries = [e for e in errors[:_MAX_ERRORS] if isinstance(e, dict)]
    codes = tuple(str(e.get("code", ""))[:80] for e in entries)
    details = tuple(e["detail"][:200] for e in entries if isinstance(e.get("detail"), str))
    return RegistryErrors(codes, details, f" ({code}: {message})" if code or message else "")


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
        try:
            self.origin = Origin.of(self.base_url)
        except ValueError as e:
            raise RemoteError(f"{registry} is not a usable registry address") from e
        self._credentials = credentials
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, ...], str] = {}
        self._basic = False
        verify: ssl.SSLContext | bool = True
        if self.options.ca_file is not None:
            verify = ssl.create_default_context(cafile=str(self.options.ca_file))
        self._http = Client(
            timeout=Timeout(self.options.timeout),
            verify=verify,
            follow_redirects=False,
            transport=self.options.transport,
            # Bodies are hashed and capped as sent (read raw): ask for them unencoded.
            headers={"Accept-Encoding": "identity"},
        )

    def close(self) -> None:
        self._http.close()

    def url(self, path: str) -> str:
        """A URL on the registry, or an absolute one (a ``Location``) as given."""
        return str(resolve_location(self.base_url + "/", path, self.registry))

    def deadline(self) -> Deadline:
        """The time one protocol exchange (request, retries, answer) may take."""
        return Deadline(self.options.timeout)

    # -- one request, end to end -------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        scope: tuple[str, ...],
        headers: dict[str, str] | None = None,
        body: Content = None,
        stream: bool = False,
        retry: bool = True,
        deadline: Deadline | None = None,
    ) -> Response:
        """Send a request with auth, retries and redirects; the caller checks the status.

        ``body`` is a factory when the request may need to be sent again (auth, retries,
        redirects), so that a streamed body is produced afresh each time. With ``stream``
        the caller must close the response (and reads its body under ``deadline``).
        """
        policy = self.options.retry
        if not retry:
            policy = RetryPolicy(attempts=1, sleep=policy.sleep)

        def attempt() -> Response:
            response = self._authorised(
                method, url, scope=scope, headers=headers or {}, body=body, deadline=deadline
            )
            if not stream:
                # Answers not streamed are small (an upload session, a stored manifest, an
                # error): read within the attempt, so a break is retried, and capped.
                what = f"{method} {URL(url).path} on {self.registry}"
                return buffered(
                    response, MAX_ANSWER_BYTES, what, deadline=deadline or self.deadline(),
                    decode=False,
                )  # fmt: skip
            return response

        return retrying(attempt, policy=policy, where=self.registry, deadline=deadline)

    def _authorised(
        self,
        method: str,
        url: str,
        *,
        scope: tuple[str, ...],
        headers: dict[str, str],
        body: Content,
        deadline: Deadline | None,
    ) -> Response:
        authorization = self._authorization(scope)
        response = self._send(
            method, url, headers=headers, authorization=authorization, body=body, deadline=deadline
        )
        if response.status_code != 401:
            return response
        challenge = Challenge.parse(response.headers.get("WWW-Authenticate"))
        self._refuse_foreign_challenge(response)
        # First contact, or an expired token: answer the challenge once and resend.
        authorization = self._answer(challenge, scope, deadline or self.deadline())
        response = self._send(
            method, url, headers=headers, authorization=authorization, body=body, deadline=deadline
        )
        if response.status_code == 401:
            self._refuse_foreign_challenge(response)
            raise AuthError(
                f"{self.registry} refused the credentials", hint=_login_hint(self.registry)
            )
        return response

    def _refuse_foreign_challenge(self, response: Response) -> None:
        """Close a 401; raise if it came from a host the registry redirected to.

        Storage that wants credentials of its own gets none of the registry's: neither its
        ``Authorization`` nor an answer to the challenge it names.
        """
        response.close()
        answered_by = response.request.url
        if Origin.of(answered_by) != self.origin:
            raise AuthError(
                f"{answered_by.netloc.decode('ascii', 'replace')}, where {self.registry} "
                "redirected the request, refused access",
                hint="the registry's credentials are not sent to another host",
            )

    def _send(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        authorization: str | None,
        body: Content,
        deadline: Deadline | None,
    ) -> Response:
        timeout = deadline.bound(self.options.timeout) if deadline is not None else None
        return send_following(
            self._http, method, url, headers=headers, authorization=authorization,
            credential_origin=self.origin, content=body, stream=True,
            what=self.registry, timeout=timeout,
        )  # fmt: skip

    def _authorization(self, scope: tuple[str, ...]) -> str | None:
        with self._lock:
            if self._basic and self._credentials is not None:
                return basic_authorization(self._credentials)
            return self._tokens.get(scope)

    def _answer(
        self, challenge: Challenge | None, scope: tuple[str, ...], deadline: Deadline
    ) -> str:
        if challenge is not None and challenge.scheme == "bearer" and challenge.realm:
            token = self._fetch_token(challenge, scope, deadline)
            with self._lock:
                self._tokens[scope] = f"Bearer {token}"
            return f"Bearer {token}"
        if challenge is not None and challenge.scheme == "basic":
            if self._credentials is None:
                raise AuthError(
                    f"{self.registry} requires authentication", hint=_login_hint(self.registry)
                )
            with self._lock:
                self._basic = True
            return basic_authorization(self._credentials)
        raise AuthError(f"{self.registry} asked for an unsupported authentication scheme")

    def _realm(self, challenge: Challenge) -> URL:
        """The token realm the registry named: an absolute URL, HTTPS for an HTTPS registry."""
        try:
            url = URL(challenge.realm or "")
            origin = Origin.of(url)
        except (InvalidURL, ValueError, TypeError) as e:
            raise RemoteError(f"{self.registry} named a token service that is not a URL") from e
        if self.origin.scheme == "https" and origin.scheme != "https":
            raise AuthError(
                f"{self.registry} named a token service over plain HTTP ({origin}); "
                "credentials are not sent there",
                hint="the registry's token service must use HTTPS",
            )
        return url

    def _fetch_token(self, challenge: Challenge, scope: tuple[str, ...], deadline: Deadline) -> str:
        realm = self._realm(challenge)
        service = challenge.params.get("service")
        creds = self._credentials
        if creds is not None and creds.is_identity_token:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": creds.password,
                "client_id": "hubsnap",
                "scope": " ".join(scope),
                **({"service": service} if service is not None else {}),
            }

            def build() -> Request:
                return self._http.build_request("POST", realm, data=form)
        else:
            params: list[tuple[str, str | int | float | bool | None]] = (
                [("service", service)] if service is not None else []
            )
            params += [("scope", s) for s in scope]
            headers = {"Authorization": basic_authorization(creds)} if creds else {}

            def build() -> Request:
                return self._http.build_request("GET", realm, params=params, headers=headers)

        what = f"the token service of {self.registry}"
        response = retrying(
            lambda: self._http.send(bound_timeout(build(), deadline), stream=True),
            policy=self.options.retry,
            where=realm.host,
            deadline=deadline,
        )
        with contextlib.closing(response):
            if response.status_code in (401, 403):
                raise AuthError(
                    f"{self.registry} refused the credentials", hint=_login_hint(self.registry)
                )
            if response.status_code != 200:
                raise RemoteError(f"{what} answered {response.status_code}")
            data = read_capped(response, MAX_TOKEN_BYTES, what, deadline=deadline, decode=False)
        return parse_token_response(data).value

    def ping(self, scope: tuple[str, ...] = ()) -> None:
        """``GET /v2/``, authenticating if challenged: checks reachability and credentials."""
        deadline = self.deadline()
        response = self.request("GET", self.url("/v2/"), scope=scope, deadline=deadline)
        with contextlib.closing(response):
            if response.status_code != 200:
                raise RemoteError(
                    f"{self.registry} is not an OCI registry (GET /v2/ answered "
                    f"{response.status_code})"
                )


def check_status(
    response: Response, what: str, ok: Iterable[int], errors: RegistryErrors | None = None
) -> None:
    """Raise the error matching ``response`` unless its status is in ``ok``; ``errors`` is
    its error body when the caller has read it already."""
    status = response.status_code
    if status in ok:
        return
    detail = (errors if errors is not None else read_errors(response)).text
    response.close()
    if status == 404:
        raise NotFoundError(f"{what}: not found{detail}")
    if status in (401, 403):
        raise AuthError(f"{what}: access denied{detail}", hint="check your registry credentials")
    raise RemoteError(f"{what}: the registry answered {status}{detail}")
