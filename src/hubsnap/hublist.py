"""Hub model listings: the query, the typed entries, and pages fetched lazily and conditionally.

Pages are requested one at a time, only when the caller's iteration reaches them, following the
Hub's ``Link: rel="next"`` cursor. A :class:`PageCache` (see :mod:`hubsnap.discover_state`)
supplies the ETag of a page seen before; the Hub's 304 then reuses the kept copy.

A hostile or broken Hub cannot keep a listing going for ever: a next link back to a page
already read, or more than :data:`MAX_PAGES` pages, is refused, and an empty page ends the
listing. A next link to another origin is followed without the token (hubsnap.http's
:func:`~hubsnap.http.send_following` keeps it on the endpoint's origin).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlencode, urljoin

from hubsnap.documents import load_json
from hubsnap.errors import RemoteError
from hubsnap.hub import JSON_LIMIT, HubClient, hub_timestamp
from hubsnap.hubtypes import is_commit

__all__ = [
    "MAX_PAGES",
    "SORT_KEYS",
    "CachedPage",
    "ListedModel",
    "ModelQuery",
    "PageCache",
    "list_models",
]

#: hubsnap's sort names and the Hub's; listings are always newest/largest first.
SORT_KEYS = {
    "last_modified": "lastModified",
    "downloads": "downloads",
    "likes": "likes",
    "created": "createdAt",
}
#: Pages one listing may take (a million models at 100 a page).
MAX_PAGES = 10_000
_LIST_FIELDS = (
    "lastModified", "createdAt", "downloads", "likes", "pipeline_tag", "private", "gated",
    "disabled", "sha", "tags",
)  # fmt: skip


@dataclass(frozen=True)
class ModelQuery:
    """What to list; ``None`` fields are not filtered on. ``page_size`` bounds each request."""

    task: str | None = None
    author: str | None = None
    search: str | None = None
    sort: str = "last_modified"
    page_size: int = 100


@dataclass(frozen=True)
class ListedModel:
    """A model in a Hub listing. Timestamps are ``None`` when the Hub gave none; ``sha`` is
    the head commit the listing names (``None`` when it named none or not 40 hex digits)."""

    repo_id: str
    last_modified: str | None
    created_at: str | None
    downloads: int
    likes: int
    pipeline_tag: str | None
    private: bool
    gated: bool
    disabled: bool
    sha: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class CachedPage:
    """A listing page kept for conditional requests: its ETag, JSON body and next link."""

    etag: str
    body: bytes
    next_url: str | None


class PageCache(Protocol):
    def lookup(self, url: str) -> CachedPage | None: ...

    def store(self, url: str, page: CachedPage) -> None: ...


def list_models(
    client: HubClient, query: ModelQuery, cache: PageCache | None = None
) -> Iterator[ListedModel]:
    """Models matching ``query``, page by page, fetching a page only when it is reached.

    A page already in ``cache`` is asked for with ``If-None-Match``; a 304 reuses it.
    """
    params: list[tuple[str, str]] = [
        ("sort", SORT_KEYS[query.sort]),
        ("direction", "-1"),
        ("limit", str(query.page_size)),
    ]
    params += [("expand[]", name) for name in _LIST_FIELDS]
    for name, value in (("pipeline_tag", query.task), ("author", query.author),
                        ("search", query.search)):  # fmt: skip
        if value:
            params.append((name, value))
    url: str | None = f"{client.endpoint}/api/models?{urlencode(params)}"
    seen: set[str] = set()
    while url is not None:
        if url in seen:
            raise RemoteError("model listing: the Hub's next link leads back to a page it sent")
        if len(seen) >= MAX_PAGES:
            raise RemoteError(f"model listing: the Hub sent more than {MAX_PAGES} pages")
        seen.add(url)
        cached = cache.lookup(url) if cache is not None else None
        answer = client.get_json(url, "model listing", etag=cached.etag if cached else None)
        if answer.status == 304 and cached is not None:
            items, next_url = _cached_items(cached), cached.next_url
        else:
            items, next_url = answer.data, answer.next_url
            if cache is not None and answer.etag:
                cache.store(url, CachedPage(answer.etag, json.dumps(items).encode(), next_url))
        if not isinstance(items, list):
            raise RemoteError("model listing: the Hub did not answer with a list")
        for item in items:
            yield _parse_listed(item)
        url = urljoin(url, next_url) if next_url and items else None


def _cached_items(page: CachedPage) -> object:
    try:
        return load_json(page.body, "cached model listing", max_bytes=JSON_LIMIT)
    except ValueError:
        return None  # not a list: reported below like a bad answer


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _parse_listed(item: object) -> ListedModel:
    if not isinstance(item, dict):
        raise RemoteError("model listing: malformed entry")
    repo_id = item.get("id") or item.get("modelId")
    if not isinstance(repo_id, str):
        raise RemoteError("model listing: entry without an id")
    tag = item.get("pipeline_tag")
    sha = item.get("sha")
    tags = item.get("tags")
    return ListedModel(
        repo_id=repo_id,
        last_modified=hub_timestamp(item.get("lastModified")),
        created_at=hub_timestamp(item.get("createdAt")),
        downloads=_int(item.get("downloads")),
        likes=_int(item.get("likes")),
        pipeline_tag=tag if isinstance(tag, str) else None,
        private=item.get("private") is True,
        gated=bool(item.get("gated")),
        disabled=item.get("disabled") is True,
        sha=sha if is_commit(sha) else None,
        tags=tuple(t for t in tags if isinstance(t, str)) if isinstance(tags, list) else (),
    )
