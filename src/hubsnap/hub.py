"""The Hugging Face Hub as hubsnap sees it: revisions pinned to commits, file bodies, and the
one transport every Hub request takes (listings, in :mod:`hubsnap.hublist`, included).

Requests go over :mod:`hubsnap.http`, the HTTP stack the registry client shares: one retry
loop, one ``Range``-resuming download loop, capped reads and origin-bound credentials.
``huggingface_hub`` keeps what it owns of the Hub's semantics: the ``resolve`` URLs and where
a saved token is found (``hf auth login``); the user agent names it as its own builder
would. It reads its environment when imported, so it is imported only by the commands that
talk to the Hub (in :meth:`HubClient.from_settings`), after hubsnap has checked
``HF_ENDPOINT`` itself; a variable it cannot read is one line and exit 2, not a traceback.

Every call has a timeout, is retried with :class:`~hubsnap.retry.RetryPolicy` (429, 5xx,
dropped connections, honouring ``Retry-After``), can be made conditional (``If-None-Match``)
and can be streamed. JSON answers are capped while they are read and must arrive within the
timeout. The token is sent only in the ``Authorization`` header, only to the endpoint's own
origin (a next-page link or redirect elsewhere goes without it), and never appears in an
error message. Hub answers are parsed into :mod:`hubsnap.hubtypes` values.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from types import ModuleType, TracebackType
from typing import Any
from urllib.parse import quote

from hubsnap import __version__
from hubsnap.config import DEFAULT_HUB_URL, Settings, clean_token, hub_base_url
from hubsnap.errors import IntegrityError, RemoteError, UsageError
from hubsnap.http import (
    BodyInterrupted,
    Deadline,
    Origin,
    iter_body,
    iter_resumable,
    read_capped,
    retrying,
    send_following,
)
from hubsnap.http.types import URL, Client, Response
from hubsnap.huberrors import status_error, transport_error
from hubsnap.hubtypes import (
    HubFile,
    RepoRevision,
    check_repo_id,
    hub_timestamp,
    is_commit,
    parse_siblings,
)
from hubsnap.retry import RETRY_STATUSES, RetryPolicy

__all__ = [
    "JSON_LIMIT",
    "HubClient",
    "HubFile",
    "HubResponse",
    "RepoRevision",
    "hub_timestamp",
]

#: The most bytes a Hub JSON answer may have (a revision with 20,000 files is ~4 MiB).
JSON_LIMIT = 8 * 1024 * 1024


@dataclass(frozen=True)
class HubResponse:
    """A JSON answer: ``status`` 304 means ``If-None-Match`` matched and ``data`` is ``None``."""

    status: int
    data: Any
    etag: str | None
    next_url: str | None


def _huggingface_hub() -> ModuleType:
    """``huggingface_hub``, imported now; a variable it cannot read is a usage error."""
    try:
        import huggingface_hub  # noqa: PLC0415 - it reads the environment when imported
        import huggingface_hub.constants  # noqa: PLC0415 - the package loads it lazily
    except Exception as e:  # its import parses HF_* variables; any failure is theirs
        raise UsageError(
            f"huggingface_hub cannot start with this environment ({type(e).__name__})",
            hint="check the HF_* variables (HF_HUB_DOWNLOAD_TIMEOUT, HF_HUB_ETAG_TIMEOUT, ...)",
        ) from None
    return huggingface_hub


def _user_agent() -> str:
    """The user agent ``huggingface_hub`` would send for hubsnap, built here: its own
    builder fetches a registry from the endpoint on a transport of its own (agent
    detection), which a Hub client must not do behind its caller's back."""
    try:
        hf_version = metadata.version("huggingface_hub")
    except metadata.PackageNotFoundError:
        hf_version = "unknown"
    agent = f"hubsnap/{__version__}; hf_hub/{hf_version}; python/{platform.python_version()}"
    origin = os.environ.get("HF_HUB_USER_AGENT_ORIGIN", "").strip()
    if origin and origin.isprintable() and origin.isascii():
        agent += f"; origin/{origin}"
    return agent


def _saved_token(hf: ModuleType) -> str | None:
    """The token ``huggingface_hub`` finds by itself (``hf auth login``'s file, ...)."""
    try:
        found = hf.get_token()
    except Exception:  # an unreadable token file is the same as none
        return None
    return clean_token(found if isinstance(found, str) else None, "the saved Hub token")


class HubClient:
    """Talks to one Hub endpoint with one (optional) token.

    ``hub_url`` is the Hub the artifacts name as their source (:meth:`repo_url`), whatever
    endpoint the requests go to.
    """

    def __init__(
        self,
        endpoint: str,
        token: str | None,
        *,
        timeout: float,
        retry: RetryPolicy | None = None,
        session: Client | None = None,
        hub_url: str = DEFAULT_HUB_URL,
        progress: bool = True,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.hub_url = hub_url.rstrip("/")
        self._token = token
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.progress = progress
        self._session = session
        self._base_headers: dict[str, str] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, retry: RetryPolicy | None = None) -> HubClient:
        """A client for the configured Hub; checks ``HF_ENDPOINT``, the token and offline mode."""
        endpoint = hub_base_url(settings.hf_endpoint, "HF_ENDPOINT")
        if settings.hf_offline:
            raise UsageError(
                "HF_HUB_OFFLINE is set: this command needs the Hub",
                hint="unset HF_HUB_OFFLINE to reach the Hub",
            )
        token = clean_token(settings.hf_token, "HF_TOKEN")
        hf = _huggingface_hub()  # every Hub command checks the HF_* variables it reads
        if token is None:
            token = _saved_token(hf)
        return cls(
            endpoint, token, timeout=settings.timeout, retry=retry, hub_url=settings.hub_url,
            progress=settings.progress_bars,
        )  # fmt: skip

    @property
    def has_token(self) -> bool:
        return self._token is not None

    def repo_url(self, repo_id: str) -> str:
        """The repository's canonical URL: on ``hub_url``, not on the endpoint used."""
        return f"{self.hub_url}/{repo_id}"

    def _client(self) -> Client:
        if self._session is None:
            self._session = Client()  # redirects are followed by send_following
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Headers for every request; ``Authorization`` is added by send_following, only
        on the endpoint's origin (a next link or redirect elsewhere goes without it)."""
        if self._base_headers is None:
            self._base_headers = {"User-Agent": _user_agent()}
        return {**self._base_headers, **(extra or {})}

    # -- transport ----------------------------------------------------------------------------

    def _get(
        self, url: str, what: str, *, params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None, limit: int | None = None,
    ) -> tuple[Response, bytes]:  # fmt: skip
        """A GET answered 2xx or 304, through :mod:`hubsnap.http`'s one retry loop.

        With ``limit`` the body is read in the attempt (capped, within the timeout, so a
        connection lost while reading it is retried like one lost before the answer) and the
        response is closed; without, it is returned open for streaming and ``b""``.
        """
        target = URL(url, params=params) if params else URL(url)
        authorization = f"Bearer {self._token}" if self._token is not None else None
        body = b""

        def attempt() -> Response:
            nonlocal body
            response = send_following(
                self._client(), "GET", target, headers=self._headers(headers),
                authorization=authorization, credential_origin=Origin.of(self.endpoint),
                stream=True, what=what, timeout=self.timeout,
            )  # fmt: skip
            if limit is not None and response.status_code < 300:
                try:
                    body = read_capped(
                        response, limit, f"{what}: the Hub's answer",
                        deadline=Deadline(self.timeout),
                    )  # fmt: skip
                finally:
                    response.close()
            return response

        try:
            response = retrying(attempt, policy=self.retry, where=self.endpoint)
        except RemoteError as e:
            raise transport_error(e, what, endpoint=self.endpoint, timeout=self.timeout) from (
                e.__cause__ or e
            )
        status = response.status_code
        if status < 300 or status == 304:
            return response, body
        response.close()
        if status in RETRY_STATUSES:
            attempts = self.retry.attempts
            raise RemoteError(
                f"{what}: the Hub answered {status} after {attempts} attempt"
                + ("s" if attempts > 1 else "")
            )
        raise status_error(response, what, endpoint=self.endpoint, has_token=self.has_token)

    def get_json(
        self, url: str, what: str, *, params: Mapping[str, Any] | None = None,
        etag: str | None = None, limit: int = JSON_LIMIT,
    ) -> HubResponse:  # fmt: skip
        """A JSON answer of at most ``limit`` bytes, read within the timeout."""
        headers = {"If-None-Match": etag} if etag else None
        response, body = self._get(url, what, params=params, headers=headers, limit=limit)
        next_url = response.links.get("next", {}).get("url")
        if response.status_code == 304:
            return HubResponse(304, None, etag, next_url)
        data = _parse_json(body, what)
        return HubResponse(response.status_code, data, response.headers.get("ETag"), next_url)

    # -- revisions ----------------------------------------------------------------------------

    def resolve_revision(self, repo_id: str, revision: str) -> RepoRevision:
        """Resolve ``revision`` to its commit and list the commit's files, in one call.

        The file list and the commit sha come from the same answer, so they describe the
        same commit even if the branch moves meanwhile.
        """
        check_repo_id(repo_id)
        what = f"{repo_id}@{revision}"
        url = f"{self.endpoint}/api/models/{repo_id}/revision/{quote(revision, safe='')}"
        data = self.get_json(url, what, params={"blobs": "true"}).data
        if not isinstance(data, dict):
            raise RemoteError(f"{what}: unexpected answer from the Hub")
        commit = data.get("sha")
        if not is_commit(commit):
            raise RemoteError(f"{what}: the Hub did not name a commit")
        siblings = data.get("siblings")
        if not isinstance(siblings, list):
            raise RemoteError(f"{what}: the Hub did not list the files (siblings)")
        files = parse_siblings(siblings, what)
        card = data.get("cardData")
        return RepoRevision(
            repo_id=repo_id,
            requested=revision,
            commit=str(commit),
            files=files,
            card_data=card if isinstance(card, dict) else {},
            private=data.get("private") is True,
            gated=bool(data.get("gated")),
        )

    def commit_date(self, repo_id: str, commit: str) -> str:
        """The commit's date (``YYYY-MM-DDTHH:MM:SSZ``), from the first page of its history."""
        what = f"{repo_id}@{commit[:12]}"
        url = f"{self.endpoint}/api/models/{repo_id}/commits/{commit}"
        data = self.get_json(url, what).data
        if isinstance(data, list):
            for entry in data:
                if isinstance(entry, dict) and entry.get("id") == commit:
                    date = hub_timestamp(entry.get("date"))
                    if date is not None:
                        return date
        raise RemoteError(f"{what}: the Hub did not give the commit's date")

    # -- file bodies --------------------------------------------------------------------------

    def file_chunks(
        self, repo_id: str, commit: str, path: str, size: int, *, start: int = 0,
        restart: Callable[[], None] | None = None,
    ) -> Iterator[bytes]:  # fmt: skip
        """The ``size`` bytes of a file of ``commit`` (never a branch name) from byte ``start``,
        as they arrive. Breaks are resumed with ``Range`` by :func:`hubsnap.http.iter_resumable`
        (a server that ignores it calls ``restart`` and sends it all); more bytes than ``size``
        are :class:`IntegrityError`. Nothing is requested until the first chunk is asked for.
        """
        if not is_commit(commit):
            raise ValueError(f"downloads are by commit sha, not {commit!r}")
        url = _huggingface_hub().hf_hub_url(repo_id, path, revision=commit, endpoint=self.endpoint)
        what = f"{repo_id}/{path}"

        def open_at(start: int) -> Response:
            headers = {"Accept-Encoding": "identity"}
            if start:
                headers["Range"] = f"bytes={start}-"
            return self._get(url, what, headers=headers)[0]

        chunks = iter_resumable(
            open_at, what=what, policy=self.retry, size=size, floor_window=self.timeout,
            error=IntegrityError, start=start, restart=restart,
        )  # fmt: skip
        try:
            yield from chunks
        except RemoteError as e:
            if not isinstance(e.__cause__, BodyInterrupted):
                raise
            raise RemoteError(
                f"{what}: download broke off {self.retry.attempts} times ({e.__cause__.message})",
                hint="check the connection and retry",
            ) from e

    def file_head(self, repo_id: str, commit: str, path: str, limit: int) -> bytes:
        """The first bytes of a small file of ``commit``: all of them, or ``limit + 1`` when
        there are more (so a longer file shows as one byte over). The read stops there, so a
        huge or endless body costs ``limit`` plus one chunk; a missing file is
        :class:`NotFoundError`."""
        if not is_commit(commit):
            raise ValueError(f"downloads are by commit sha, not {commit!r}")
        url = _huggingface_hub().hf_hub_url(repo_id, path, revision=commit, endpoint=self.endpoint)
        what = f"{repo_id}/{path}"
        # Bytes as sent: a compressed answer cannot inflate past the cap inside one chunk.
        response, _ = self._get(url, what, headers={"Accept-Encoding": "identity"})
        data = bytearray()
        try:
            chunks = iter_body(response, what=what, deadline=Deadline(self.timeout), decode=False)
            for chunk in chunks:
                data += chunk
                if len(data) > limit:
                    break
        finally:
            response.close()
        return bytes(data[: limit + 1])


def _parse_json(body: bytes, what: str) -> Any:
    """JSON from the Hub; invalid or nested beyond Python's reach is exit 5, like any
    protocol answer that cannot be read (an over-long one too)."""
    try:
        return json.loads(body)
    except RecursionError as e:
        raise RemoteError(f"{what}: the Hub's answer is nested too deeply") from e
    except ValueError as e:
        raise RemoteError(f"{what}: the Hub answered with invalid JSON") from e
