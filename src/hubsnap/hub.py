"""The Hugging Face Hub as hubsnap sees it: revisions pinned to commits, file bodies, and the
one transport every Hub request takes (listings, in :mod:`hubsnap.hublist`, included).

This module owns ``huggingface_hub`` and the HTTP client it ships (``httpx2``): nothing else in
hubsnap imports them. ``huggingface_hub`` supplies the auth and user-agent headers and the
``resolve`` URLs; requests go through its shared session so proxies and CA settings configured
for it apply, but hubsnap sends them itself so that every call has a timeout, is retried with
:class:`~hubsnap.retry.RetryPolicy` (429, 5xx, dropped connections, honouring
``Retry-After``), can be made conditional (``If-None-Match``) and can be streamed. Hub answers
are parsed into the frozen values below; every file name is checked as a safe relative path
here, before any caller can write anything. The token is sent only in the ``Authorization``
header and never appears in an error message.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx2
from huggingface_hub import get_session, hf_hub_url
from huggingface_hub.utils._headers import build_hf_headers

from hubsnap import __version__
from hubsnap.config import Settings
from hubsnap.errors import AuthError, IntegrityError, NotFoundError, RemoteError
from hubsnap.fsutil import check_relative_path
from hubsnap.retry import RETRY_STATUSES, RetryPolicy

__all__ = [
    "BodyInterruptedError",
    "FileBody",
    "HubClient",
    "HubFile",
    "HubResponse",
    "RepoRevision",
    "hub_timestamp",
]


_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


@dataclass(frozen=True)
class HubFile:
    """One file of a commit as the Hub lists it.

    ``lfs_sha256`` is the Hub's ``lfs.sha256`` for files stored in Git LFS and ``None`` for
    plain git files, which are verified by their git blob id (``blob_id``) instead.
    """

    path: str
    size: int
    blob_id: str
    lfs_sha256: str | None = None

    @property
    def lfs(self) -> bool:
        return self.lfs_sha256 is not None


@dataclass(frozen=True)
class RepoRevision:
    """A model revision resolved to its commit; ``card_data`` is ``{}`` without a card."""

    repo_id: str
    requested: str
    commit: str
    files: tuple[HubFile, ...]
    card_data: Mapping[str, Any] = field(default_factory=dict)
    private: bool = False
    gated: bool = False


@dataclass(frozen=True)
class HubResponse:
    """A JSON answer: ``status`` 304 means ``If-None-Match`` matched and ``data`` is ``None``."""

    status: int
    data: Any
    etag: str | None
    next_url: str | None


def hub_timestamp(value: object) -> str | None:
    """A Hub timestamp as ``YYYY-MM-DDTHH:MM:SSZ`` (seconds, UTC), ``None`` if absent."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_repo_id(repo_id: str) -> None:
    if not _REPO_ID.match(repo_id) or ".." in repo_id:
        raise NotFoundError(
            f"invalid repository id {repo_id!r}", hint="use OWNER/NAME, e.g. org/model"
        )


class HubClient:
    """Talks to one Hub endpoint with one (optional) token."""

    def __init__(
        self,
        endpoint: str,
        token: str | None,
        *,
        timeout: float,
        retry: RetryPolicy | None = None,
        session: httpx2.Client | None = None,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._token = token
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._session = session

    @classmethod
    def from_settings(cls, settings: Settings, retry: RetryPolicy | None = None) -> HubClient:
        return cls(settings.hf_endpoint, settings.hf_token, timeout=settings.timeout, retry=retry)

    @property
    def has_token(self) -> bool:
        return self._token is not None

    def repo_url(self, repo_id: str) -> str:
        return f"{self.endpoint}/{repo_id}"

    def _client(self) -> httpx2.Client:
        if self._session is None:
            self._session = get_session()
        return self._session

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        # ``False`` stops huggingface_hub from falling back to a token of its own: hubsnap's
        # one source of credentials is HF_TOKEN, read by Settings.
        headers = build_hf_headers(
            token=self._token or False, library_name="hubsnap", library_version=__version__
        )
        headers.update(extra or {})
        return headers

    # -- transport ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _open(
        self, url: str, what: str, *, params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None, preload: bool = False,
    ) -> Iterator[httpx2.Response]:  # fmt: skip
        """A GET that succeeded (2xx or 304), after retries; closed on exit.

        The body is streamed unless ``preload``: then it is read here, so that a connection
        lost while reading it is retried like one lost before the answer.
        """
        attempt = 0
        while True:
            attempt += 1
            retry_after: str | None = None
            try:
                request = self._client().build_request(
                    "GET", url, params=params, headers=self._headers(headers), timeout=self.timeout
                )
                response = self._client().send(request, stream=True, follow_redirects=True)
                if preload or response.status_code >= 400:
                    try:
                        response.read()
                    finally:
                        response.close()
            except httpx2.TimeoutException as e:
                failure: RemoteError = RemoteError(
                    f"{what}: no answer from {self.endpoint} within {self.timeout:g}s",
                    hint="raise --timeout or check the connection",
                )
                cause: BaseException = e
            except httpx2.TransportError as e:
                failure = RemoteError(f"{what}: cannot reach {self.endpoint} ({type(e).__name__})")
                cause = e
            else:
                if response.status_code < 400:
                    try:
                        yield response
                    finally:
                        response.close()
                    return
                if response.status_code not in RETRY_STATUSES:
                    raise self._status_error(response, what)
                retry_after = response.headers.get("Retry-After")
                failure = RemoteError(
                    f"{what}: the Hub answered {response.status_code} "
                    f"after {attempt} attempt{'s' if attempt > 1 else ''}"
                )
                cause = RemoteError(str(response.status_code))
            if attempt >= self.retry.attempts:
                raise failure from cause
            self.retry.wait(attempt, retry_after)

    def _status_error(self, response: httpx2.Response, what: str) -> Exception:
        code = response.headers.get("X-Error-Code", "")
        status = response.status_code
        if code == "GatedRepo":
            if not self.has_token:
                return AuthError(
                    f"{what}: the repository is gated and no token is set",
                    hint="accept the conditions on the Hub, then set HF_TOKEN",
                )
            return AuthError(
                f"{what}: the repository is gated and this token has not been granted access",
                hint="accept the conditions on the Hub with this token's account",
            )
        # The Hub marks a disabled repository by its message, not by an error code.
        disabled = "disabled" in response.headers.get("X-Error-Message", "").lower()
        if code == "DisabledRepo" or (status == 403 and disabled):
            return NotFoundError(f"{what}: the repository has been disabled on the Hub")
        if code == "RepoNotFound":
            # Anonymously the Hub answers 401 RepoNotFound alike for a missing repository and
            # for a private one, so as not to reveal which exists; huggingface_hub reads both
            # as RepositoryNotFoundError. Not found it is, with the one way to tell them apart.
            hint = None if self.has_token else "if the repository is private, set HF_TOKEN"
            return NotFoundError(f"{what}: not found on {self.endpoint}", hint=hint)
        if status in (401, 403):
            if not self.has_token:
                return AuthError(
                    f"{what}: the Hub requires authentication ({status})",
                    hint="the repository may be private or gated: set HF_TOKEN",
                )
            return AuthError(f"{what}: the token was refused or lacks access ({status})")
        if status == 404:
            if code == "RevisionNotFound":
                return NotFoundError(f"{what}: revision not found")
            if code == "EntryNotFound":
                return NotFoundError(f"{what}: file not found")
            return NotFoundError(f"{what}: not found on {self.endpoint}")
        return RemoteError(f"{what}: the Hub answered {status}")

    def get_json(
        self, url: str, what: str, *, params: Mapping[str, Any] | None = None,
        etag: str | None = None,
    ) -> HubResponse:  # fmt: skip
        headers = {"If-None-Match": etag} if etag else None
        with self._open(url, what, params=params, headers=headers, preload=True) as response:
            body = response.content
            next_url = response.links.get("next", {}).get("url")
            if response.status_code == 304:
                return HubResponse(304, None, etag, next_url)
            try:
                data = json.loads(body)
            except ValueError as e:
                raise RemoteError(f"{what}: the Hub answered with invalid JSON") from e
            return HubResponse(response.status_code, data, response.headers.get("ETag"), next_url)

    # -- revisions ----------------------------------------------------------------------------

    def resolve_revision(self, repo_id: str, revision: str) -> RepoRevision:
        """Resolve ``revision`` to its commit and list the commit's files, in one call.

        The file list and the commit sha come from the same answer, so they describe the
        same commit even if the branch moves meanwhile.
        """
        _check_repo_id(repo_id)
        what = f"{repo_id}@{revision}"
        url = f"{self.endpoint}/api/models/{repo_id}/revision/{quote(revision, safe='')}"
        data = self.get_json(url, what, params={"blobs": "true"}).data
        if not isinstance(data, dict):
            raise RemoteError(f"{what}: unexpected answer from the Hub")
        commit = data.get("sha")
        if not isinstance(commit, str) or not _COMMIT.match(commit):
            raise RemoteError(f"{what}: the Hub did not name a commit")
        siblings = data.get("siblings")
        if not isinstance(siblings, list):
            raise RemoteError(f"{what}: the Hub did not list the files (siblings)")
        files = _parse_siblings(siblings, what)
        card = data.get("cardData")
        return RepoRevision(
            repo_id=repo_id,
            requested=revision,
            commit=commit,
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

    @contextlib.contextmanager
    def open_file(self, repo_id: str, commit: str, path: str, start: int = 0) -> Iterator[FileBody]:
        """Stream a file of ``commit`` (never a branch name) from byte ``start`` on."""
        if not _COMMIT.match(commit):
            raise ValueError(f"downloads are by commit sha, not {commit!r}")
        url = hf_hub_url(repo_id, path, revision=commit, endpoint=self.endpoint)
        headers = {"Accept-Encoding": "identity"}
        if start:
            headers["Range"] = f"bytes={start}-"
        with self._open(url, f"{repo_id}/{path}", headers=headers) as response:
            yield FileBody(response, start if response.status_code == 206 else 0)


class FileBody:
    """A file body being received; ``offset`` is where its first byte sits in the file."""

    def __init__(self, response: httpx2.Response, offset: int) -> None:
        self._response = response
        self.offset = offset

    def chunks(self) -> Iterator[bytes]:
        """Yield chunks as they arrive; a dropped body raises :class:`BodyInterruptedError`.

        Chunks are not re-buffered into larger ones: whatever arrived before a connection
        broke is kept, and the download resumes right after it.
        """
        try:
            yield from self._response.iter_bytes()
        except httpx2.TimeoutException as e:
            raise BodyInterruptedError("the Hub stopped sending (timeout)") from e
        except httpx2.TransportError as e:
            raise BodyInterruptedError(f"the connection broke ({type(e).__name__})") from e


class BodyInterruptedError(Exception):
    """A file body ended early; the download may resume from what was received."""


def _parse_siblings(siblings: list[Any], what: str) -> tuple[HubFile, ...]:
    files: dict[str, HubFile] = {}
    for entry in siblings:
        if not isinstance(entry, dict) or not isinstance(entry.get("rfilename"), str):
            raise RemoteError(f"{what}: malformed file entry in the Hub's listing")
        path = entry["rfilename"]
        check_relative_path(path, "Hub file name")
        if path in files:
            raise IntegrityError(f"{what}: the Hub lists {path!r} twice")
        lfs = entry.get("lfs")
        size = entry.get("size")
        blob_id = entry.get("blobId")
        lfs_sha256 = None
        if isinstance(lfs, dict):
            lfs_sha256 = lfs.get("sha256") or lfs.get("oid")
            size = lfs.get("size", size)
            if not isinstance(lfs_sha256, str) or not _SHA256.match(lfs_sha256):
                raise RemoteError(f"{what}: no valid lfs.sha256 for {path!r}")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise RemoteError(f"{what}: no valid size for {path!r}", hint="is this a Hub?")
        if not isinstance(blob_id, str) or not _COMMIT.match(blob_id):
            raise RemoteError(f"{what}: no valid blobId for {path!r}", hint="is this a Hub?")
        files[path] = HubFile(path, size, blob_id, lfs_sha256)
    return tuple(files[p] for p in sorted(files))
