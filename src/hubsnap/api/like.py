"""``discover --like TEXT``: listed models ranked by how close their cards are to TEXT.

The embedder is a sentence-transformers model *artifact*, named by any reference hubsnap
takes (``sha256:…``, a store tag, ``REPO@REV``, ``oci:PATH…``, a registry reference, which
is pulled into the local store first, verified). Without ``--embedder`` it is the local
store's ``sentence-transformers/all-MiniLM-L6-v2`` (its readable tag, as ``snapshot``
gives it). It is resolved to a manifest digest before the Hub is asked for anything; the
digest keys the embedding cache, so a ranking is reproducible for it. Its files are written
from the verified store blobs into a temporary folder, and loaded, only when some text has
no cached vector.

Each candidate's text is its id, pipeline tag and tags and what its model card says (see
:mod:`hubsnap.like`); the intent is embedded the same way, and candidates whose cosine
similarity reaches the threshold are kept, most similar first.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubsnap.api.session import Session
from hubsnap.api.transfer import pull
from hubsnap.digest import Digest
from hubsnap.discover_state import DiscoverState
from hubsnap.errors import NotFoundError, UsageError
from hubsnap.hub import HubClient
from hubsnap.hublist import ListedModel
from hubsnap.like.card import candidate_text
from hubsnap.like.cards import card_texts
from hubsnap.like.encoder import Encoder, check_installed
from hubsnap.like.rank import embed_texts, rank
from hubsnap.oci.layout import LayoutStore, check_store_path
from hubsnap.oci.reference import LayoutReference, RegistryReference
from hubsnap.oci.storeops import select

__all__ = [
    "DEFAULT_CANDIDATES",
    "DEFAULT_EMBEDDER",
    "DEFAULT_THRESHOLD",
    "Embedder",
    "LikeQuery",
    "LikeReport",
    "Session",
    "prepare",
    "rank_models",
    "resolve_embedder",
]

DEFAULT_EMBEDDER = "sentence-transformers/all-MiniLM-L6-v2"
#: The least similarity kept by default, fitted for all-MiniLM-L6-v2 on the labelled
#: evaluation set (``tests/data/like_eval.json``): the threshold that maximises F1 of every
#: candidate at or above it over the intents at even positions, checked on the odd ones
#: (``scripts/bench_like.py``; the figures are in docs/performance.md).
#: The seed's 0.62 was tuned for another comparison: a one-line intent and a card summary
#: rarely reach it with this model.
DEFAULT_THRESHOLD = 0.40
#: Listed models ranked when ``--candidates`` is not given.
DEFAULT_CANDIDATES = 2000
MAX_INTENT = 2000


@dataclass(frozen=True)
class LikeQuery:
    """``--like``: the intent, the embedder reference (``None``: the default), the least
    similarity kept, and how many listed models are ranked."""

    text: str
    embedder: str | None = None
    threshold: float = DEFAULT_THRESHOLD
    candidates: int = DEFAULT_CANDIDATES

    def check(self) -> None:
        if not self.text.strip():
            raise UsageError("--like needs a text", hint='e.g. --like "legal contract review"')
        if len(self.text) > MAX_INTENT:
            raise UsageError(f"--like text is longer than {MAX_INTENT} characters")
        if not (math.isfinite(self.threshold) and -1.0 <= self.threshold <= 1.0):
            raise UsageError(
                f"--threshold {self.threshold:g} is not a cosine similarity",
                hint=f"use a number from -1 to 1, e.g. {DEFAULT_THRESHOLD}",
            )
        if self.candidates < 1:
            raise UsageError("--candidates must be at least 1")


@dataclass(frozen=True)
class Embedder:
    """The embedding model: what was asked for, and the artifact it names in ``store``."""

    reference: str
    store: LayoutStore
    digest: Digest


@dataclass(frozen=True)
class LikeReport:
    """What ``--like`` did: each shown model's similarity by id, the most similar model of all
    ranked (``None``: none was), how many listed models were ranked, how many cards were
    requested and texts embedded in this run, and notes."""

    query: LikeQuery
    embedder: Embedder
    similarity: dict[str, float]
    closest: tuple[str, float] | None
    candidates: int
    cards_fetched: int
    embedded: int
    notes: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.query.text,
            "embedder": self.embedder.reference,
            "embedder_digest": str(self.embedder.digest),
            "threshold": self.query.threshold,
            "closest": None
            if self.closest is None
            else {"model_id": self.closest[0], "similarity": self.closest[1]},
            "candidates": self.candidates,
            "cards_fetched": self.cards_fetched,
            "embedded": self.embedded,
            "notes": list(self.notes),
        }


def _default_embedder(session: Session) -> Embedder:
    try:
        store = session.local_store().store
        found = select(store, f"{DEFAULT_EMBEDDER}@main", session.settings.hub_url)
    except NotFoundError:
        found = []
    if not found:
        raise NotFoundError(
            f"the default embedder {DEFAULT_EMBEDDER} is not in the local store",
            hint=f"hubsnap snapshot {DEFAULT_EMBEDDER} (or pass --embedder REF)",
        )
    if len(found) > 1:
        raise UsageError(
            f"{DEFAULT_EMBEDDER}@main names {len(found)} artifacts in the local store",
            hint="pass --embedder sha256:… (hubsnap store ls lists them)",
        )
    return Embedder(DEFAULT_EMBEDDER, store, found[0])


def resolve_embedder(session: Session, reference: str | None) -> Embedder:
    """The artifact ``reference`` names (``None``: the default), in a local layout."""
    if reference is None:
        return _default_embedder(session)
    if not reference.startswith(("oci:", "sha256:", "@sha256:")):
        try:
            store = session.local_store().store
            found = select(store, reference, session.settings.hub_url)
        except NotFoundError as missing:
            try:
                ref = session.parse(reference)
            except UsageError:
                ref = None
            if not isinstance(ref, RegistryReference):
                raise missing from None  # neither in the store nor a registry reference
            pulled = pull(session, reference, allow_tag=True)  # into the store, verified
            return Embedder(reference, session.local_store().store, pulled.digest)
        if len(found) > 1:
            raise UsageError(
                f"{reference} names {len(found)} artifacts: {', '.join(map(str, found))}",
                hint="name one by its digest",
            )
        return Embedder(reference, store, found[0])
    ref = session.parse(reference)
    assert isinstance(ref, LayoutReference)  # oci: and sha256: name layouts
    store = LayoutStore(check_store_path(ref.path)).require()
    digest = ref.digest or store.resolve(tag=ref.tag or "latest").digest
    store.resolve(digest=digest)  # an artifact the layout indexes, or not found
    return Embedder(reference, store, digest)


def prepare(session: Session, query: LikeQuery) -> Embedder:
    """Check what ``--like`` needs before the Hub is asked anything: the optional extra
    (exit 2 with the install hint) and the embedder (exit 3 when it is not found)."""
    query.check()
    check_installed()
    return resolve_embedder(session, query.embedder)


@contextlib.contextmanager
def _folder(session: Session, embedder: Embedder) -> Iterator[Path]:
    """The embedder's files, written from the verified store blobs; removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="hubsnap-embedder-") as scratch:
        folder = Path(scratch) / "model"
        source = LayoutReference(embedder.store.root, None, embedder.digest)
        pull(session, str(source), output=folder)
        yield folder


def rank_models(
    session: Session,
    client: HubClient,
    state: DiscoverState,
    models: Sequence[ListedModel],
    *,
    query: LikeQuery,
    embedder: Embedder,
) -> tuple[list[ListedModel], LikeReport]:
    """``models`` at or above the threshold, most similar first, and the report (which names
    the most similar model even when none reaches the threshold)."""
    unique: dict[str, ListedModel] = {}
    for model in models:
        unique.setdefault(model.repo_id, model)  # a listing may repeat a model: rank it once
    models = list(unique.values())
    cards = card_texts(client, models, state)
    texts = [query.text] + [candidate_text(m, cards.texts[m.repo_id]) for m in models]
    with contextlib.ExitStack() as stack:

        def load() -> Encoder:
            folder = stack.enter_context(_folder(session, embedder))
            return Encoder(folder, name=f"embedder {embedder.reference} ({embedder.digest})")

        embedded = embed_texts(texts, embedder=str(embedder.digest), state=state, load=load)
    intent, vectors = embedded.vectors[0], embedded.vectors[1:]
    by_id = {m.repo_id: m for m in models}
    ranked = rank(intent, [(m.repo_id, v) for m, v in zip(models, vectors, strict=True)], -1.0)
    kept = [(name, score) for name, score in ranked if score >= query.threshold]
    report = LikeReport(
        query=query,
        embedder=embedder,
        similarity=dict(kept),
        closest=ranked[0] if ranked else None,
        candidates=len(models),
        cards_fetched=cards.fetched,
        embedded=embedded.computed,
        notes=cards.notes,
    )
    return [by_id[name] for name, _ in kept], report
