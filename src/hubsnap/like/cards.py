"""Model cards of listed models, fetched once per commit.

A listed model names its head commit (``sha``); its card is read at that commit, capped
while read (:data:`~hubsnap.like.card.CARD_LIMIT`), and what it contributes is kept by
(repository, commit) in the discover state. A later run asks the Hub only for the cards of
models that have a new commit. A model without a card is kept as such; a card that cannot
be read now (no access, a network failure) is noted and not kept, so the next run tries
again. Nothing here stops a ranking: a bad card costs its model only its card's text.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from hubsnap.discover_state import DiscoverState
from hubsnap.errors import AuthError, NotFoundError, RemoteError
from hubsnap.hub import HubClient
from hubsnap.hublist import ListedModel
from hubsnap.like.card import CARD_LIMIT, CardText, read_card
from hubsnap.modelcard import CARD_PATH
from hubsnap.progress import count_progress

__all__ = ["KEEP_EVERY", "WORKERS", "CardTexts", "card_texts"]

#: Cards read between two writes to the discover state.
KEEP_EVERY = 64
#: Cards requested at once: a card is small, so its round trip is most of its cost.
WORKERS = 8


@dataclass(frozen=True)
class CardTexts:
    """Each model's card text by id (``""``: none), notes on the cards, and how many cards
    were requested from the Hub."""

    texts: dict[str, str]
    notes: tuple[str, ...]
    fetched: int


def _fetch(client: HubClient, model: ListedModel, sha: str) -> tuple[CardText, bool]:
    """The card's text and whether it may be kept for this commit."""
    try:
        data = client.file_head(model.repo_id, sha, CARD_PATH, CARD_LIMIT)
    except NotFoundError:
        return CardText(""), True  # no card at this commit
    except (AuthError, RemoteError) as e:
        return CardText("", f"could not be read ({e.message}): ranked on its id and tags"), False
    return read_card(data), True


def card_texts(client: HubClient, models: Sequence[ListedModel], state: DiscoverState) -> CardTexts:
    """The card text of every model in ``models``, from the state or the Hub."""
    texts: dict[str, str] = {}
    notes: list[str] = []
    wanted: list[tuple[ListedModel, str]] = []
    for model in models:
        if model.sha is None:
            texts[model.repo_id] = ""
            notes.append(f"{model.repo_id}: the listing names no commit, so no card was read")
            continue
        kept = state.card(model.repo_id, model.sha)
        if kept is None:
            wanted.append((model, model.sha))
        else:
            texts[model.repo_id] = kept[0]
    rows: list[tuple[str, str, str, str | None]] = []
    pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="hubsnap-card")
    try:
        # The client's connection pool is shared; answers are handled here, in order.
        read = pool.map(lambda item: _fetch(client, *item), wanted)
        with count_progress("reading model cards", len(wanted)) as progress:
            for (model, sha), (card, keep) in zip(wanted, read, strict=True):
                texts[model.repo_id] = card.text
                if card.note:
                    notes.append(f"{model.repo_id}: model card {card.note}")
                if keep:
                    rows.append((model.repo_id, sha, card.text, card.note))
                if len(rows) >= KEEP_EVERY:
                    state.store_cards(rows)
                    rows.clear()
                progress.advance(1)
    finally:
        pool.shutdown(cancel_futures=True)
        if rows:  # what was read is kept even when a later request fails
            state.store_cards(rows)
    return CardTexts(texts, tuple(notes), len(wanted))
