"""What a model card says of its model, as plain text to embed: the first paragraphs of the
README and a few metadata fields.

A card is untrusted input read with a cap (:data:`CARD_LIMIT`): a longer one is cut there, a
binary one (NUL bytes, not UTF-8) gives no text, malformed front matter gives no metadata,
each with a note saying so; nothing here raises. The body is read line by line, once, and
only as far as the paragraphs wanted: markdown markup, HTML, code blocks and tables are left
out, and so is the "More Information Needed" boilerplate of generated cards.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from hubsnap.documents import InvalidDocument, load_yaml
from hubsnap.http import size_text
from hubsnap.hublist import ListedModel

__all__ = ["CARD_LIMIT", "PARAGRAPH_CHARS", "CardText", "candidate_text", "read_card"]

#: The most bytes of a model card read: enough for any front matter and first paragraphs.
CARD_LIMIT = 256 * 1024
#: How much of the README's first paragraphs a card contributes, in characters.
PARAGRAPH_CHARS = 1200
_META_LIMIT = 64 * 1024
_WHAT = "model card metadata"
#: Card metadata that says what a model is for (licence and widget data do not).
#: (Its tags are the listing's too.)
_META_FIELDS = ("language", "datasets", "base_model")
_MAX_ITEMS = 12
_MAX_ITEM = 100
_MAX_TAGS = 32
#: Listing tags that say nothing of what a model does.
_NOISE_TAGS = ("endpoints_compatible", "autotrain_compatible", "text-embeddings-inference")
_NOISE_PREFIXES = ("region:", "license:", "deploy:")
_BOILERPLATE = "more information needed"
_MARKER = re.compile(r"^(?:#{1,6}|>+|[-*+]|\d{1,3}[.)])\s+")
_IMAGE = re.compile(r"!\[[^\]\n]{0,500}\]\([^)\n]{0,2000}\)")
_LINK = re.compile(r"\[([^\]\n]{0,500})\]\([^)\n]{0,2000}\)")
_TAG = re.compile(r"<[^<>\n]{0,500}>")
_EMPHASIS = re.compile(r"[*_`]{1,3}")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class CardText:
    """A card's contribution to its model's text; ``note`` says what was wrong with the card
    (``None``: nothing)."""

    text: str
    note: str | None = None


def _decode(data: bytes, truncated: bool) -> str | None:
    """The card as text, ``None`` when it is binary. A cut may split the last character."""
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        if truncated and e.start >= len(data) - 3 and e.reason == "unexpected end of data":
            return data[: e.start].decode("utf-8")
        return None


def _split_front_matter(text: str) -> tuple[str | None, str]:
    """The front matter's YAML (``None`` when there is none) and the body after it."""
    if not text.startswith("---\n"):
        return None, text
    end = text.find("\n---", 3)
    if end < 0:
        return text[4:], ""
    line_end = text.find("\n", end + 4)
    return text[4:end], text[line_end + 1 :] if line_end >= 0 else ""


def _values(value: object) -> list[str]:
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items[:_MAX_ITEMS]:
        if isinstance(item, str | int | float) and not isinstance(item, bool):
            text = _SPACES.sub(" ", str(item)).strip()[:_MAX_ITEM]
            if text:
                out.append(text)
    return out


def _metadata(meta: dict[str, object]) -> str:
    lines = []
    for field in _META_FIELDS:
        values = _values(meta.get(field))
        if values:
            lines.append(f"{field.replace('_', ' ')}: {', '.join(values)}")
    return "\n".join(lines)


def _clean(line: str) -> str:
    line = _MARKER.sub("", line)
    line = _IMAGE.sub("", line)
    line = _LINK.sub(r"\1", line)
    line = _TAG.sub("", line)
    line = _EMPHASIS.sub("", line)
    return _SPACES.sub(" ", line).strip()


def _without_comments(lines: Iterable[str]) -> Iterable[str]:
    """The lines with HTML comments removed (a comment may span lines)."""
    inside = False
    for line in lines:
        kept = ""
        rest = line
        while rest:
            if inside:
                _, closed, rest = rest.partition("-->")
                inside = not closed
            else:
                head, opened, rest = rest.partition("<!--")
                kept += head
                inside = bool(opened)
        yield kept


def _paragraphs(body: str, budget: int) -> str:
    """The first paragraphs of ``body`` as plain text, about ``budget`` characters."""
    paragraphs: list[str] = []
    current: list[str] = []
    used = 0
    fence = False

    def flush() -> None:
        nonlocal used
        text = " ".join(current).strip()
        current.clear()
        if sum(c.isalpha() for c in text) >= 3 and _BOILERPLATE not in text.lower():
            paragraphs.append(text)
            used += len(text)

    for raw in _without_comments(body.split("\n")):
        if used >= budget:
            break
        line = raw.strip()[: 2 * budget]  # a longer line cannot all be used anyway
        if line.startswith(("```", "~~~")):
            fence = not fence
            flush()
            continue
        if fence or line.startswith(("|", "<", "![")) or set(line) <= set("-=*_ "):
            flush()  # tables, HTML blocks, images and rules end a paragraph too
            continue
        if line.startswith("#"):
            flush()
            current.append(_clean(line))
            flush()
            continue
        current.append(_clean(line))
    if used < budget:
        flush()
    text = "\n".join(paragraphs)
    if len(text) <= budget:
        return text
    cut = text[:budget]
    return cut[: cut.rfind(" ")] if " " in cut else cut


def read_card(data: bytes, *, limit: int = CARD_LIMIT) -> CardText:
    """The text a card of ``data`` (at most ``limit + 1`` bytes read) contributes."""
    truncated = len(data) > limit
    notes = [f"is larger than {size_text(limit)}: only that much was read"] if truncated else []
    text = _decode(data[:limit], truncated)
    if text is None:
        return CardText("", "is not UTF-8 text: ranked on its id and tags alone")
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    yaml_text, body = _split_front_matter(text)
    meta: dict[str, object] = {}
    if yaml_text is not None:
        try:
            loaded = load_yaml(yaml_text, _WHAT, max_bytes=_META_LIMIT)
        except InvalidDocument as e:
            notes.append(f"metadata {str(e).removeprefix(_WHAT).strip()}: left out")
        else:
            if isinstance(loaded, dict):
                meta = loaded
            elif loaded is not None:
                notes.append("metadata is not a mapping: left out")
    parts = [part for part in (_paragraphs(body, PARAGRAPH_CHARS), _metadata(meta)) if part]
    return CardText("\n".join(parts), "; ".join(notes) or None)


def _tags(model: ListedModel) -> list[str]:
    kept = [
        t[:_MAX_ITEM]
        for t in model.tags
        if t not in _NOISE_TAGS
        and t != model.pipeline_tag
        and not t.startswith(_NOISE_PREFIXES)
        and t.count(":") < 2
    ]
    return list(dict.fromkeys(kept))[:_MAX_TAGS]


def candidate_text(model: ListedModel, card: str) -> str:
    """What is embedded for a listed model: its name, its card's text (prose first: it says
    most), then its pipeline tag and tags. The owner is left out: it says little of what
    a model does."""
    lines = [model.repo_id.rpartition("/")[2]]
    if card:
        lines.append(card)
    if model.pipeline_tag:
        lines.append(f"task: {model.pipeline_tag}")
    tags = _tags(model)
    if tags:
        lines.append(f"tags: {', '.join(tags)}")
    return "\n".join(lines)
