"""``discover --like``'s stages without a model: what a card contributes (hostile ones too),
the embedding cache and the ranking."""

from __future__ import annotations

import hashlib
import struct
from array import array
from collections.abc import Sequence
from pathlib import Path

import pytest

from hubsnap.discover_state import DiscoverState
from hubsnap.hublist import ListedModel
from hubsnap.like.card import CARD_LIMIT, PARAGRAPH_CHARS, candidate_text, read_card
from hubsnap.like.rank import CHUNK, cosine, embed_texts, rank

CARD = """---
license: apache-2.0
language: [en, fr]
datasets: [cuad]
base_model: bert-base-uncased
widget:
- text: ignored
---

# Contract clauses

<!-- generated
by a tool -->
Classifies **clauses** of [commercial contracts](https://example.com) for legal review.
![logo](logo.png)

| metric | value |
|---|---|
| f1 | 0.9 |

```python
print("code is left out")
```

## Model details

[More Information Needed]

- Indemnity
- Termination
"""


def test_a_card_gives_its_first_paragraphs_then_what_its_metadata_says() -> None:
    card = read_card(CARD.encode())
    assert card.note is None
    assert card.text.splitlines() == [
        "Contract clauses",
        "Classifies clauses of commercial contracts for legal review.",
        "Model details",
        "Indemnity Termination",
        "language: en, fr",
        "datasets: cuad",
        "base model: bert-base-uncased",
    ]


def test_only_the_first_paragraphs_are_read() -> None:
    body = "\n\n".join(f"Paragraph {i} " + "word " * 40 for i in range(200))
    text = read_card(body.encode()).text
    assert text.startswith("Paragraph 0 word")
    assert len(text) <= PARAGRAPH_CHARS
    assert "Paragraph 7 " not in text


def test_a_card_without_front_matter_or_text_gives_what_it_has() -> None:
    assert read_card(b"").text == ""
    assert read_card(b"# Title only\n").text == "Title only"
    assert read_card(b"---\nlanguage: de\n---\n").text == "language: de"


def test_a_huge_card_is_cut_at_the_cap_with_a_note() -> None:
    data = ("---\nlanguage: en\n---\n\n" + "Speech recognition for Finnish. " * 50_000).encode()
    read = data[: CARD_LIMIT + 1]  # what the Hub client hands over: the cap and one byte
    card = read_card(read)
    assert card.note == "is larger than 256 KiB: only that much was read"
    assert card.text.startswith("Speech recognition for Finnish.")
    assert card.text.endswith("language: en")


def test_a_cut_through_a_character_is_not_binary() -> None:
    data = ("a" + "é" * CARD_LIMIT).encode()[: CARD_LIMIT + 1]
    assert data[CARD_LIMIT - 1 : CARD_LIMIT] == b"\xc3"  # the cap splits a character
    card = read_card(data)
    assert card.note == "is larger than 256 KiB: only that much was read"
    assert set(card.text) == {"a", "é"}


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
        b"---\nlanguage: en\n---\nLatin-1 text: caf\xe9\n",
        b"text\x00with a NUL",
    ],
    ids=["png", "latin-1", "nul"],
)
def test_a_binary_card_is_skipped_with_a_note(data: bytes) -> None:
    card = read_card(data)
    assert (card.text, card.note) == ("", "is not UTF-8 text: ranked on its id and tags alone")


@pytest.mark.parametrize(
    ("front", "note"),
    [
        ("license: [mit\nlanguage: {", "metadata is not valid YAML: "),
        ("- a list\n- not a mapping", "metadata is not a mapping: left out"),
        ("a: &x [1]\nb: *x", "metadata is not valid YAML: "),
        ("[" * 1000, "metadata is not valid YAML: "),
        ("x: " + "a" * 70_000, "metadata is 70003 bytes, over the 64 KiB limit: left out"),
    ],
    ids=["unclosed", "list", "anchor", "deep", "long"],
)
def test_malformed_metadata_is_left_out_with_a_note(front: str, note: str) -> None:
    card = read_card(f"---\n{front}\n---\n\nSentiment of tweets.\n".encode())
    assert card.text == "Sentiment of tweets."
    assert card.note is not None and card.note.startswith(note)
    assert "\n" not in card.note


def test_an_unclosed_front_matter_is_all_metadata() -> None:
    card = read_card(b"---\nlanguage: en\n# Title\nSome words.\n")
    assert card.note is not None and card.note.startswith("metadata is not valid YAML")
    assert card.text == ""


@pytest.mark.parametrize(
    "body",
    ["<!--" * 70_000, "[" * 250_000, "![" * 120_000, "](" * 120_000, "<" * 250_000, "`" * 250_000],
    ids=["comments", "brackets", "images", "links", "tags", "ticks"],
)
def test_pathological_markdown_is_read_in_one_pass(body: str) -> None:
    # A quadratic reader would take minutes on these 256 KiB; the test only has to end.
    card = read_card(body.encode())
    assert len(card.text) <= PARAGRAPH_CHARS


def _model(repo_id: str, *, task: str | None = None, tags: tuple[str, ...] = ()) -> ListedModel:
    return ListedModel(
        repo_id=repo_id, last_modified=None, created_at=None, downloads=0, likes=0,
        pipeline_tag=task, private=False, gated=False, disabled=False, sha="a" * 40, tags=tags,
    )  # fmt: skip


def test_a_candidate_text_is_name_card_task_and_telling_tags() -> None:
    model = _model(
        "acme/contract-clauses",
        task="text-classification",
        tags=("transformers", "legal", "text-classification", "region:us", "license:mit",
              "base_model:finetune:bert-base", "endpoints_compatible", "en"),
    )  # fmt: skip
    assert candidate_text(model, "Classifies clauses.") == (
        "contract-clauses\nClassifies clauses.\ntask: text-classification\n"
        "tags: transformers, legal, en"
    )
    assert candidate_text(_model("acme/bare"), "") == "bare"


def _vector(values: Sequence[float]) -> array[float]:
    return array("f", values)


def test_ranking_keeps_the_threshold_and_breaks_ties_by_id() -> None:
    intent = _vector([1.0, 0.0])
    candidates = [
        ("b/two", _vector([1.0, 1.0])),  # cos 45° = 0.7071
        ("a/one", _vector([2.0, 2.0])),  # the same direction, another length
        ("c/far", _vector([0.0, 1.0])),  # 0
        ("d/same", _vector([3.0, 0.0])),  # 1
        ("e/zero", _vector([0.0, 0.0])),  # no direction: 0
        ("f/short", _vector([1.0])),  # another embedder's width: 0
    ]
    assert rank(intent, candidates, 0.7071) == [
        ("d/same", 1.0),
        ("a/one", 0.7071),
        ("b/two", 0.7071),
    ]
    assert [name for name, _ in rank(intent, candidates, -1.0)][-3:] == [
        "c/far",
        "e/zero",
        "f/short",
    ]
    assert cosine(intent, _vector([-1.0, 0.0])) == -1.0


class CountingEncoder:
    """Deterministic vectors from each text's hash; counts what it was asked to embed."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def encode(self, texts: Sequence[str]) -> list[bytes]:
        self.texts += texts
        out = []
        for text in texts:
            digest = hashlib.sha256(text.encode()).digest()
            out.append(struct.pack("<8f", *(b - 128 for b in digest[:8])))
        return out


def test_embeddings_are_kept_by_embedder_and_text(tmp_path: Path) -> None:
    texts = [f"text {i}" for i in range(CHUNK + 5)] + ["text 0"]  # a repeat is embedded once
    encoder = CountingEncoder()
    loads: list[str] = []

    def load() -> CountingEncoder:
        loads.append("loaded")
        return encoder

    with DiscoverState(tmp_path / "discover.sqlite") as state:
        first = embed_texts(texts, embedder="sha256:" + "1" * 64, state=state, load=load)
        assert first.computed == CHUNK + 5 and len(encoder.texts) == CHUNK + 5
        assert first.vectors[0] == first.vectors[-1]
        again = embed_texts(texts[::-1], embedder="sha256:" + "1" * 64, state=state, load=load)
        assert again.computed == 0 and loads == ["loaded"]  # nothing new: no model loaded
        assert again.vectors == first.vectors[::-1]
        grown = embed_texts(["new", *texts], embedder="sha256:" + "1" * 64, state=state, load=load)
        assert grown.computed == 1 and encoder.texts[-1] == "new"
        other = embed_texts(texts[:2], embedder="sha256:" + "2" * 64, state=state, load=load)
        assert other.computed == 2  # another embedder's vectors are its own
    with DiscoverState(tmp_path / "discover.sqlite") as state:  # kept across runs
        kept = embed_texts(texts, embedder="sha256:" + "1" * 64, state=state, load=load)
        assert kept.computed == 0 and kept.vectors == first.vectors


def test_cards_are_kept_per_repository_at_its_latest_commit(tmp_path: Path) -> None:
    with DiscoverState(tmp_path / "discover.sqlite") as state:
        state.store_cards([("org/a", "1" * 40, "old text", None)])
        assert state.card("org/a", "1" * 40) == ("old text", None)
        state.store_cards([("org/a", "2" * 40, "new text", "a note")])
        assert state.card("org/a", "2" * 40) == ("new text", "a note")
        assert state.card("org/a", "1" * 40) is None  # the older commit's row was replaced
