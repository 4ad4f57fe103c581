"""The tokenizer level, and the eos/bos/pad cross-check across a side's config files.

The vocabulary is the whole of it: the model's vocabulary (``tokenizer.json``'s model, or
``vocab.txt``/``vocab.json``) plus every added token (``tokenizer.json``'s
``added_tokens``, ``added_tokens.json``, ``tokenizer_config.json``'s
``added_tokens_decoder``). Special tokens come from ``special_tokens_map.json``, else
``tokenizer_config.json``; the chat template from ``tokenizer_config.json``,
``chat_template.jinja`` or ``chat_template.json``.

The cross-check resolves each of ``eos``, ``bos`` and ``pad`` in ``config.json``,
``generation_config.json`` (ids, or lists of ids), ``tokenizer_config.json`` and
``special_tokens_map.json`` (token strings, looked up in the vocabulary) and calls them
consistent when some id is common to all the values found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hubsnap.diff.config import load_json_file, same_value
from hubsnap.diff.files import Side
from hubsnap.errors import IntegrityError

__all__ = ["SpecialIds", "TokenizerDiff", "cross_check", "diff_tokenizer"]

TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
    "vocab.json", "added_tokens.json", "chat_template.jinja", "chat_template.json",
)  # fmt: skip
_SPECIAL_NAMES = (
    "bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token",
    "mask_token", "additional_special_tokens",
)  # fmt: skip
_CROSS_CHECKED = ("eos", "bos", "pad")


@dataclass(frozen=True)
class _Tokenizer:
    vocab: dict[str, int]
    specials: dict[str, Any]
    normalizer: Any
    pre_tokenizer: Any
    chat_template: Any
    has_tokenizer_json: bool


def _token_text(value: Any) -> Any:
    """An AddedToken written as a dict (``{"content": …}``) as its text."""
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]
    if isinstance(value, list):
        return [_token_text(v) for v in value]
    return value


def _text(side: Side, path: str) -> str | None:
    data = side.read_small(path)
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise IntegrityError(f"{path} of {side.reference} is not UTF-8") from e


def _model_vocab(model: Any, side: Side) -> dict[str, int]:
    vocab = model.get("vocab") if isinstance(model, dict) else None
    if isinstance(vocab, dict):
        return {str(k): v for k, v in vocab.items() if isinstance(v, int)}
    if isinstance(vocab, list):  # Unigram: [[piece, score], ...], the id is the position
        return {str(item[0]): i for i, item in enumerate(vocab) if isinstance(item, list) and item}
    if vocab is not None:
        raise IntegrityError(f"tokenizer.json of {side.reference}: model.vocab is malformed")
    return {}


def _load(side: Side) -> _Tokenizer | None:
    if not any(side.has_bytes(p) for p in TOKENIZER_FILES):
        return None
    tokenizer = load_json_file(side, "tokenizer.json") or {}
    config = load_json_file(side, "tokenizer_config.json") or {}
    vocab = _model_vocab(tokenizer.get("model"), side)
    if not vocab:
        text = _text(side, "vocab.txt")
        if text is not None:
            vocab = {line: i for i, line in enumerate(text.split("\n")) if line}
        else:
            vocab = {
                str(k): v
                for k, v in (load_json_file(side, "vocab.json") or {}).items()
                if isinstance(v, int)
            }
    added: list[tuple[str, int]] = []
    for item in tokenizer.get("added_tokens") or []:
        if isinstance(item, dict) and isinstance(item.get("content"), str):
            added.append((item["content"], item.get("id", -1)))
    for token, ident in (load_json_file(side, "added_tokens.json") or {}).items():
        added.append((str(token), ident if isinstance(ident, int) else -1))
    decoder = config.get("added_tokens_decoder")
    if isinstance(decoder, dict):
        for ident, item in decoder.items():
            content = _token_text(item)
            if isinstance(content, str) and str(ident).isdigit():
                added.append((content, int(ident)))
    for token, ident in added:
        vocab.setdefault(token, ident)
    specials_map = load_json_file(side, "special_tokens_map.json") or {}
    specials = {
        name: _token_text(specials_map.get(name, config.get(name)))
        for name in _SPECIAL_NAMES
        if specials_map.get(name, config.get(name)) is not None
    }
    template: Any = config.get("chat_template")
    jinja = _text(side, "chat_template.jinja")
    if jinja is not None:
        template = jinja
    elif template is None:
        template = (load_json_file(side, "chat_template.json") or {}).get("chat_template")
    return _Tokenizer(
        vocab=vocab,
        specials=specials,
        normalizer=tokenizer.get("normalizer"),
        pre_tokenizer=tokenizer.get("pre_tokenizer"),
        chat_template=template,
        has_tokenizer_json=bool(tokenizer),
    )


@dataclass(frozen=True)
class TokenizerDiff:
    """``None`` flags: the level could not say (neither side has a ``tokenizer.json``)."""

    vocab_size: tuple[int, int]
    added_tokens: tuple[str, ...]
    removed_tokens: tuple[str, ...]
    special_tokens: tuple[tuple[str, Any, Any], ...]
    normalizer_changed: bool | None
    pre_tokenizer_changed: bool | None
    chat_template_changed: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "vocab_size": {"base": self.vocab_size[0], "target": self.vocab_size[1]},
            "added_tokens": list(self.added_tokens),
            "removed_tokens": list(self.removed_tokens),
            "special_tokens": [
                {"name": name, "base": base, "target": target}
                for name, base, target in self.special_tokens
            ],
            "normalizer_changed": self.normalizer_changed,
            "pre_tokenizer_changed": self.pre_tokenizer_changed,
            "chat_template_changed": self.chat_template_changed,
        }


def diff_tokenizer(base: Side, target: Side) -> TokenizerDiff | None:
    """The tokenizer compared; ``None`` when neither side has tokenizer files."""
    before, after = _load(base), _load(target)
    if before is None and after is None:
        return None
    empty = _Tokenizer({}, {}, None, None, None, has_tokenizer_json=False)
    before, after = before or empty, after or empty
    names = sorted(set(before.specials) | set(after.specials))
    specials = tuple(
        (n, before.specials.get(n), after.specials.get(n))
        for n in names
        if not same_value(before.specials.get(n), after.specials.get(n))
    )
    structured = before.has_tokenizer_json or after.has_tokenizer_json
    return TokenizerDiff(
        vocab_size=(len(before.vocab), len(after.vocab)),
        added_tokens=tuple(sorted(set(after.vocab) - set(before.vocab))),
        removed_tokens=tuple(sorted(set(before.vocab) - set(after.vocab))),
        special_tokens=specials,
        normalizer_changed=(
            not same_value(before.normalizer, after.normalizer) if structured else None
        ),
        pre_tokenizer_changed=(
            not same_value(before.pre_tokenizer, after.pre_tokenizer) if structured else None
        ),
        chat_template_changed=not same_value(before.chat_template, after.chat_template),
    )


@dataclass(frozen=True)
class SpecialIds:
    """One special id on one side: the ids each file gives it, and whether they agree."""

    side: str
    name: str
    values: dict[str, Any]
    consistent: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "side": self.side,
            "name": self.name,
            "consistent": self.consistent,
            "values": self.values,
        }


def _ids(value: Any) -> set[int] | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return {value}
    if isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        return set(value)
    return None


def cross_check(side: Side, label: str) -> tuple[SpecialIds, ...]:
    """eos/bos/pad across the four files of one side (only names some file gives)."""
    tokenizer = _load(side)
    vocab = tokenizer.vocab if tokenizer is not None else {}
    config = load_json_file(side, "config.json") or {}
    generation = load_json_file(side, "generation_config.json") or {}
    tok_config = load_json_file(side, "tokenizer_config.json") or {}
    specials = load_json_file(side, "special_tokens_map.json") or {}
    out = []
    for name in _CROSS_CHECKED:
        values: dict[str, Any] = {}
        sets: list[set[int]] = []
        for file, document in (("config.json", config), ("generation_config.json", generation)):
            value = document.get(f"{name}_token_id")
            if value is not None:
                values[file] = value
                sets.append(_ids(value) or set())
        for file, document in (
            ("tokenizer_config.json", tok_config),
            ("special_tokens_map.json", specials),
        ):
            token = _token_text(document.get(f"{name}_token"))
            if isinstance(token, str):
                ident = vocab.get(token)
                values[file] = {"token": token, "id": ident}
                sets.append({ident} if ident is not None else set())
        if values:
            common = set.intersection(*sets) if sets else set()
            out.append(SpecialIds(label, name, values, bool(common)))
    return tuple(out)
