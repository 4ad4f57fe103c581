"""The Hub emulator's listing-only repositories carry realistic, reproducible model cards.

The cards are what ``discover --like`` reads, so they must be the same on every machine and
in every process, varied enough that ranking means something, and agree with what the
listing API says about each model (pipeline tag, tags, card data).
"""

from __future__ import annotations

import collections
import re
import subprocess
import sys
from pathlib import Path

import yaml
from huggingface_hub import HfApi

from support.hub import BULK_AUTHOR, HfEnv

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

from hubemu.cards import profile, tables  # noqa: E402
from hubemu.catalog import AUTHORS, BULK_COUNT, OTHERS_PER_AUTHOR, profiles  # noqa: E402

# SHA-256 over every generated card, in catalogue order. A change here changes what the
# listing serves: regenerate tests/data/like_eval.json (python scripts/like_eval.py),
# re-read its judgements, and re-run the `like` benchmark section.
CATALOGUE_DIGEST = "78dd1e5f9fcca82c314972ed260a765b8fba3212ec1b8755884159d8e46d86a9"
DIGEST_SNIPPET = """
import hashlib, sys
sys.path.insert(0, sys.argv[1])
from hubemu.catalog import profiles
digest = hashlib.sha256()
for rid, about in profiles().items():
    digest.update(rid.encode() + b"\\0" + about.card.encode() + b"\\0")
print(digest.hexdigest())
"""
TASKS = {
    "text-classification", "token-classification", "question-answering", "fill-mask",
    "summarization", "translation", "text-generation", "sentence-similarity",
    "feature-extraction", "zero-shot-classification", "image-classification",
    "automatic-speech-recognition",
}  # fmt: skip


def _split(card: str) -> tuple[dict[str, object], str]:
    _, front, body = card.split("---\n", 2)
    meta = yaml.safe_load(front)
    assert isinstance(meta, dict)
    return meta, body


def test_cards_are_identical_in_every_process() -> None:
    # Different hash seeds in the children: no set or dict order may leak into a card.
    digests = {
        subprocess.run(
            [sys.executable, "-c", DIGEST_SNIPPET, str(SCRIPTS)],
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
            capture_output=True, text=True, check=True, timeout=120,
        ).stdout.strip()
        for seed in ("0", "1", "12345")
    }  # fmt: skip
    assert digests == {CATALOGUE_DIGEST}


def test_cards_are_varied_and_shaped_like_the_hubs() -> None:
    catalogue = profiles()
    assert len(catalogue) == BULK_COUNT + len(AUTHORS) * OTHERS_PER_AUTHOR
    about = list(catalogue.values())
    assert {a.usecase for a in about} == {u.key for u in tables().usecases}
    assert len({a.domain for a in about}) >= 10
    assert {a.task for a in about} == TASKS
    assert len({a.base_model for a in about}) >= 40
    assert collections.Counter(len(a.languages) for a in about)[0] < len(about) // 5
    bodies = set()
    for rid, a in catalogue.items():
        meta, body = _split(a.card)
        assert meta["pipeline_tag"] == a.task and meta["base_model"] == a.base_model
        assert meta["library_name"] == a.library and meta.get("language", []) == list(a.languages)
        title, *paragraphs = body.strip().split("\n\n")
        assert title == f"# {rid.split('/')[1]}"
        prose = [p for p in paragraphs if not p.startswith("## ")]
        assert 1 <= len(prose) <= 3, rid
        assert all(p.rstrip('"').endswith(".") and len(p) > 20 for p in prose), rid
        bodies.add(body.replace(rid.split("/")[1], "NAME"))
    # Cards about the same job are worded differently, not stamped from one template.
    assert len(bodies) > 0.9 * len(catalogue)


def test_a_card_avoids_the_keywords_of_its_job_where_people_do() -> None:
    # A de-identification card speaks of protected health information, never of named
    # entities or NER: keyword search and semantic search must be able to disagree.
    deid = [a for a in profiles().values() if a.usecase == "clinical-deid"]
    assert len(deid) >= 10
    for a in deid:
        words = set(re.findall(r"[a-z]+", a.card.lower()))
        assert not words & {"ner", "named", "entity", "entities"}, a.name


def test_the_listing_agrees_with_the_cards(hf_env: HfEnv) -> None:
    catalogue = profiles()
    listed = {m.id: m for m in HfApi().list_models(author=BULK_AUTHOR, cardData=True)}
    assert set(listed) == {rid for rid in catalogue if rid.startswith(f"{BULK_AUTHOR}/")}
    for rid, model in listed.items():
        about = catalogue[rid]
        meta, _ = _split(about.card)
        assert model.pipeline_tag == about.task, rid
        assert model.card_data is not None, rid
        assert model.card_data.to_dict() == meta, rid  # type: ignore[no-untyped-call]
        tags = set(model.tags or [])
        card_tags = meta["tags"]
        assert isinstance(card_tags, list)
        assert set(card_tags) | set(about.languages) <= tags, rid
        assert {f"base_model:{about.base_model}", about.library, about.task} <= tags, rid
    # A card is served as the repository's README, byte for byte.
    rid = next(iter(listed))
    readme = HfApi().hf_hub_download(rid, "README.md")
    assert Path(readme).read_text(encoding="utf-8") == catalogue[rid].card
    assert profile(0).card == catalogue[next(iter(catalogue))].card
