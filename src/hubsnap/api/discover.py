"""``discover``: list Hub models newest first, lazily, conditionally and incrementally.

Pages are requested only while more results are needed (``limit``), each with the ETag of
the copy kept from an earlier run. Private, gated and disabled repositories are left out
unless asked for. ``since`` and ``incremental`` need the ``last_modified`` sort, because
only then can the listing stop at the first model older than the cut-off. An incremental
run shows models changed after the newest one the previous run of the same query showed,
then remembers the newest it showed itself.

With ``like`` (``--like TEXT``) the listing gives the candidates (``like.candidates`` of
them, filters, cut-off and incremental state applied as without it) and
:mod:`hubsnap.api.like` ranks them by similarity to TEXT; ``limit`` then bounds the models
shown, and an incremental run remembers the newest model it ranked. The optional extra and
the embedder are checked before the Hub is asked anything.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hubsnap.canonical import canonical_json
from hubsnap.config import Settings
from hubsnap.discover_state import DiscoverState
from hubsnap.errors import UsageError
from hubsnap.hub import HubClient, hub_timestamp
from hubsnap.hublist import SORT_KEYS, ListedModel, ModelQuery, list_models
from hubsnap.retry import RetryPolicy

if TYPE_CHECKING:
    from hubsnap.api.like import LikeQuery, LikeReport

__all__ = ["MAX_PAGE_SIZE", "DiscoverQuery", "DiscoverResult", "discover"]

MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class DiscoverQuery:
    """What to list. ``since`` is a timestamp; ``None`` fields do not filter."""

    task: str | None = None
    author: str | None = None
    search: str | None = None
    sort: str = "last_modified"
    limit: int = 20
    since: str | None = None
    incremental: bool = False
    include_private: bool = False
    include_gated: bool = False
    include_disabled: bool = False
    like: LikeQuery | None = None

    def state_key(self, endpoint: str) -> str:
        """Identifies the query for ``--incremental`` (limit and cut-off are not part of it;
        a ``--like`` query is another query than the listing it ranks)."""
        key: dict[str, object] = {
            "endpoint": endpoint,
            "task": self.task,
            "author": self.author,
            "search": self.search,
            "private": self.include_private,
            "gated": self.include_gated,
            "disabled": self.include_disabled,
        }
        if self.like is not None:
            key["like"] = {"text": self.like.text, "embedder": self.like.embedder}
        return canonical_json(key).decode()

    def wants(self, model: ListedModel) -> bool:
        return (
            (self.include_private or not model.private)
            and (self.include_gated or not model.gated)
            and (self.include_disabled or not model.disabled)
        )


@dataclass(frozen=True)
class DiscoverResult:
    """The models, newest first (most similar first with ``like``); ``since`` is the cut-off
    applied (``None``: none); ``like`` what ``--like`` did (``None``: not asked)."""

    models: tuple[ListedModel, ...]
    since: str | None
    like: LikeReport | None = None

    def similarity(self, model: ListedModel) -> float | None:
        return None if self.like is None else self.like.similarity.get(model.repo_id)

    def to_json(self) -> dict[str, Any]:
        models = [
            {
                "model_id": m.repo_id,
                "last_modified": m.last_modified,
                "created_at": m.created_at,
                "downloads": m.downloads,
                "likes": m.likes,
                "pipeline_tag": m.pipeline_tag,
                "private": m.private,
                "gated": m.gated,
                "disabled": m.disabled,
                "similarity": self.similarity(m),
            }
            for m in self.models
        ]
        like = None if self.like is None else self.like.to_json()
        return {"models": models, "since": self.since, "like": like}


def _check(query: DiscoverQuery) -> str | None:
    if query.sort not in SORT_KEYS:
        raise UsageError(f"unknown sort {query.sort!r}", hint=f"use one of {', '.join(SORT_KEYS)}")
    if query.limit < 1:
        raise UsageError("--limit must be at least 1")
    if query.like is not None:
        query.like.check()
    if query.since and query.incremental:
        raise UsageError("--since and --incremental cannot be combined")
    if (query.since or query.incremental) and query.sort != "last_modified":
        raise UsageError("--since and --incremental need --sort last_modified")
    if query.since is None:
        return None
    since = hub_timestamp(query.since)
    if since is None:
        raise UsageError(f"invalid timestamp {query.since!r}", hint="use e.g. 2025-01-31T12:00:00Z")
    return since


def _take(
    models: Iterator[ListedModel], query: DiscoverQuery, since: str | None, limit: int
) -> list[ListedModel]:
    shown: list[ListedModel] = []
    for model in models:
        if since is not None and model.last_modified is None:
            continue  # no date to compare: neither shown nor an end of the listing
        if since is not None and model.last_modified is not None and model.last_modified <= since:
            break  # sorted newest first: everything after this is older too
        if query.wants(model):
            shown.append(model)
            if len(shown) >= limit:
                break  # stop before the generator asks for another page
    return shown


def discover(
    settings: Settings, query: DiscoverQuery, *, retry: RetryPolicy | None = None
) -> DiscoverResult:
    since = _check(query)
    listed = query.limit if query.like is None else query.like.candidates
    hub_query = ModelQuery(
        task=query.task,
        author=query.author,
        search=query.search,
        sort=query.sort,
        page_size=min(listed, MAX_PAGE_SIZE),
    )
    with contextlib.ExitStack() as stack:
        if query.like is not None:
            from hubsnap.api.like import Session, prepare, rank_models  # noqa: PLC0415

            session = stack.enter_context(Session(settings))
            embedder = prepare(session, query.like)
        client = stack.enter_context(HubClient.from_settings(settings, retry))
        state = stack.enter_context(DiscoverState(settings.home / "discover.sqlite"))
        key = query.state_key(client.endpoint)
        if query.incremental:
            since = state.watermark(key)
        models = _take(list_models(client, hub_query, state), query, since, listed)
        shown, report = models, None
        if query.like is not None:
            shown, report = rank_models(
                session, client, state, models, query=query.like, embedder=embedder
            )
        # With --like, every candidate ranked counts as seen, shown or not.
        newest = max((m.last_modified for m in models if m.last_modified), default=None)
        if query.incremental and newest is not None:
            state.set_watermark(key, max(newest, since or ""))
    return DiscoverResult(tuple(shown[: query.limit]), since, report)
