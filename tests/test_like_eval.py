"""The labelled evaluation set for ``discover --like`` matches the Hub emulator's catalogue.

Every intent has at least one relevant model, every relevant id is a model the emulator
lists, and the stored ids are exactly what the recorded judgement (``criteria``) selects
from the generated cards, so the set cannot silently drift from the catalogue.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from huggingface_hub import HfApi

from support.hub import HfEnv

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

from hubemu.cards import tables  # noqa: E402
from hubemu.catalog import profiles  # noqa: E402
from like_eval import EVAL_SET, judge, load  # noqa: E402


def test_the_set_is_well_formed() -> None:
    doc = json.loads(EVAL_SET.read_text(encoding="utf-8"))
    assert {"description", "method", "intents"} <= set(doc)
    intents = load()
    assert 20 <= len(intents) <= 40
    assert len({i.id for i in intents}) == len({i.text.lower() for i in intents}) == len(intents)
    known = {u.key for u in tables().usecases}
    for intent in intents:
        assert set(intent.criteria) <= {"usecases", "languages", "quantized"}, intent.id
        assert set(intent.criteria["usecases"]) <= known, intent.id
        assert intent.relevant, f"{intent.id}: no relevant model"
        assert list(intent.relevant) == sorted(set(intent.relevant)), intent.id


def test_relevant_ids_are_what_the_judgement_selects() -> None:
    catalogue = profiles()
    stale = [i.id for i in load() if list(i.relevant) != judge(i.criteria, catalogue)]
    assert not stale, f"regenerate with python scripts/like_eval.py: {stale}"


def test_no_intent_repeats_a_card_phrase() -> None:
    # Intents are written in a person's words: none may be lifted from a card.
    cards = [about.card.lower() for about in profiles().values()]
    for intent in load():
        assert not any(intent.text.lower() in card for card in cards), intent.id


def test_every_relevant_id_is_listed_by_the_emulator(hf_env: HfEnv) -> None:
    listed = {m.id: m for m in HfApi().list_models()}
    catalogue = profiles()
    for intent in load():
        missing = set(intent.relevant) - set(listed)
        assert not missing, (intent.id, sorted(missing))
        # ... and what the listing says about them is what the judgement relied on.
        for rid in intent.relevant:
            assert listed[rid].pipeline_tag == catalogue[rid].task, rid
