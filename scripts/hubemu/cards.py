"""Model cards for the listing-only repositories: what each one is for, written as people do.

Every entry of the catalogue draws, from SHA-256 of its index, one use case of
``cards.yaml`` (a job in a domain: de-identifying clinical notes, routing support tickets,
...), then its languages, base model, licence, name and which phrasings its README uses.
The front matter (``pipeline_tag``, ``tags``, ``language``, ``datasets``, ``base_model``)
is what the listing API reports, because the views derive those fields from the card.
Nothing depends on the clock or on ``random``: the same index always gives the same card.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

TABLES = Path(__file__).with_name("cards.yaml")
LICENSES = ("apache-2.0", "apache-2.0", "mit", "cc-by-4.0", "cc-by-nc-4.0", "openrail")
BASE_LICENSES = {"meta-llama/": "llama3.2", "google/gemma": "gemma"}
EMBEDDING_TASKS = {"sentence-similarity", "feature-extraction"}
QUANTS = "Q4_K_M, Q5_K_M and Q8_0"


@dataclass(frozen=True)
class UseCase:
    """One job in one domain, with the phrasings cards about it choose from."""

    key: str
    domain: str
    task: str
    family: str
    langs: tuple[str, ...]
    slugs: tuple[str, ...]
    datasets: tuple[str, ...]
    tags: tuple[str, ...]
    does: tuple[str, ...]
    detail: tuple[str, ...]
    data: tuple[str, ...]
    use: tuple[str, ...]
    prefer: tuple[str, ...] = ()


@dataclass(frozen=True)
class Profile:
    """What one generated repository is: its name, job, languages, base and card text."""

    name: str
    usecase: str
    domain: str
    task: str
    library: str
    languages: tuple[str, ...]  # ISO codes in the card; empty for image models
    base_model: str
    quantized: bool  # a GGUF build rather than transformers weights
    card: str


@dataclass(frozen=True)
class Tables:
    languages: dict[str, str]
    bases: dict[str, tuple[str, str]]  # id -> (name prefix, how cards refer to it)
    families: dict[str, dict[str, tuple[str, ...]]]
    caveats: dict[str, tuple[str, ...]]
    domain_tags: dict[str, tuple[str, ...]]
    usecases: tuple[UseCase, ...]


def _usecase(raw: dict[str, Any]) -> UseCase:
    def texts(key: str) -> tuple[str, ...]:
        return tuple(str(v) for v in raw.get(key) or ())

    return UseCase(
        key=str(raw["key"]),
        domain=str(raw["domain"]),
        task=str(raw["task"]),
        family=str(raw["family"]),
        langs=texts("langs"),
        slugs=texts("slugs"),
        datasets=texts("datasets"),
        tags=texts("tags"),
        does=texts("does"),
        detail=texts("detail"),
        data=texts("data"),
        use=texts("use"),
        prefer=texts("prefer"),
    )


@functools.cache
def tables() -> Tables:
    raw: dict[str, Any] = yaml.safe_load(TABLES.read_text(encoding="utf-8"))
    usecases = tuple(_usecase(u) for u in raw["usecases"])
    return Tables(
        languages=dict(raw["languages"]),
        bases={k: (v[0], v[1]) for k, v in raw["bases"].items()},
        families={f: {k: tuple(v) for k, v in m.items()} for f, m in raw["families"].items()},
        caveats={d: tuple(v["caveats"]) for d, v in raw["domains"].items()},
        domain_tags={d: tuple(v["tags"]) for d, v in raw["domains"].items()},
        usecases=usecases,
    )


class _Draws:
    """Independent, reproducible choices for one catalogue index."""

    def __init__(self, index: int) -> None:
        self.index = index

    def number(self, what: str) -> int:
        seed = f"hub-emulator-card:{self.index}:{what}".encode()
        return int.from_bytes(hashlib.sha256(seed).digest()[:8], "big")

    def pick(self, what: str, options: tuple[str, ...]) -> str:
        return options[self.number(what) % len(options)]

    def chance(self, what: str, percent: int) -> bool:
        return self.number(what) % 100 < percent


def _base_ref(draw: _Draws, base: str, pretty: str) -> str:
    return draw.pick("base-ref", (pretty, f"`{base}`", f"{pretty} (`{base}`)"))


def _name(draw: _Draws, usecase: UseCase, prefix: str, lang: str, quantized: bool) -> str:
    slug = draw.pick("slug", usecase.slugs)
    shape = draw.number("name-shape") % 10
    if shape < 3:
        name = f"{prefix}-{slug}"
    elif shape < 5:
        name = f"{slug}-{prefix}"
    elif shape < 7:
        name = f"{prefix}-finetuned-{slug}"
    elif shape < 9:
        name = f"{prefix}-{slug}-v{1 + draw.number('version') % 3}"
    else:  # some authors never say what a model is for in its name
        name = f"{prefix}-ft"
    if lang in {"fr", "de", "es"} and draw.chance("lang-suffix", 60):
        name += f"-{lang}"
    elif lang == "multilingual" and draw.chance("lang-suffix", 40):
        name += "-multilingual"
    if quantized:
        name += "-gguf"
    return f"{name}-{draw.index:04d}"


def _language_phrase(draw: _Draws, lang: str, names: dict[str, str]) -> str:
    if lang == "none":
        return ""
    if "-" in lang:  # a translation pair
        return f"; it translates from {names['en']} into {names[lang.split('-')[1]]}"
    if lang == "multilingual":
        return f", covering {names[lang]}"
    return draw.pick("lang-phrase", (f" in {names[lang]}", f" ({names[lang]} text)"))


def _language_sentence(lang: str, names: dict[str, str]) -> str:
    if "-" in lang:
        return f"It translates from {names['en']} into {names[lang.split('-')[1]]}."
    if lang == "multilingual":
        return f"It handles {names[lang]}."
    return f"It expects {names[lang]} input."


def _opening(draw: _Draws, name: str, usecase: UseCase, base_ref: str, quantized: bool) -> str:
    does = draw.pick("does", usecase.does)
    if quantized:
        return (
            f"GGUF quantisations ({QUANTS}) of a model fine-tuned from {base_ref} to {does}. "
            "The files run on a CPU with llama.cpp, Ollama and similar runtimes."
        )
    return draw.pick(
        "opening",
        (
            f"{name} is a fine-tuned version of {base_ref} that can {does}.",
            f"This model was trained from {base_ref} to {does}.",
            f"Use this checkpoint to {does}. It is {base_ref}, fine-tuned for the job.",
            f"Fine-tuned from {base_ref}, this model learned to {does}.",
        ),
    )


def _body(
    draw: _Draws, name: str, usecase: UseCase, lang: str, base: str, *, quantized: bool
) -> str:
    t = tables()
    base_ref = _base_ref(draw, base, t.bases[base][1])
    first = _opening(draw, name, usecase, base_ref, quantized)
    if draw.chance("detail", 70):
        first += " " + draw.pick("detail", usecase.detail)
    paragraphs = 1 + draw.number("paragraphs") % 3
    language = _language_phrase(draw, lang, t.languages)
    if paragraphs == 1 and lang not in {"en", "none"}:
        first += " " + _language_sentence(lang, t.languages)
    parts = [f"# {name}", first]
    if paragraphs >= 2:
        data = draw.pick("data", usecase.data)
        epochs = 1 + draw.number("epochs") % 5
        parts.append(
            draw.pick(
                "data-shape",
                (
                    f"It was trained on {data}{language}.",
                    f"Training data: {data}{language}.",
                    f"We fine-tuned on {data}{language} for {epochs} epochs.",
                ),
            )
        )
    if paragraphs == 3:
        use = draw.pick("use", usecase.use)
        caveat = draw.pick("caveat", t.caveats[usecase.domain])
        if draw.chance("use-heading", 50):
            parts.append(f"## Intended use\n\n{use[0].upper()}{use[1:]}. {caveat}")
        else:
            parts.append(f"Intended for {use}. {caveat}")
    return "\n\n".join(parts) + "\n"


def _base(draw: _Draws, usecase: UseCase, lang: str) -> str:
    family = tables().families[usecase.family]
    if usecase.prefer and lang in {"en", "none"} and draw.chance("prefer", 50):
        return draw.pick("base", usecase.prefer)
    return draw.pick("base", family[lang])


def _license(draw: _Draws, base: str) -> str:
    for prefix, license_id in BASE_LICENSES.items():
        if base.startswith(prefix):
            return license_id
    return draw.pick("license", LICENSES)


def profile(index: int) -> Profile:
    """The repository generated for catalogue entry ``index``."""
    t = tables()
    draw = _Draws(index)
    usecase = t.usecases[draw.number("usecase") % len(t.usecases)]
    lang = draw.pick("lang", usecase.langs)
    base = _base(draw, usecase, lang)
    prefix = t.bases[base][0]
    quantized = usecase.task == "text-generation" and draw.chance("gguf", 30)
    name = _name(draw, usecase, prefix, lang, quantized)
    body = _body(draw, name, usecase, lang, base, quantized=quantized)
    if lang == "none":
        languages: tuple[str, ...] = ()
    elif "-" in lang:
        languages = tuple(lang.split("-"))
    elif lang == "multilingual":
        languages = ("multilingual", "en", "fr", "de", "es", "it")
    else:
        languages = (lang,)
    if usecase.task in EMBEDDING_TASKS:
        library = "sentence-transformers"
    else:
        library = "gguf" if quantized else "transformers"
    tags = [*t.domain_tags[usecase.domain], *usecase.tags, *(["gguf"] if quantized else [])]
    front: dict[str, Any] = {"license": _license(draw, base)}
    if languages:
        front["language"] = list(languages)
    front |= {"library_name": library, "pipeline_tag": usecase.task}
    front["tags"] = list(dict.fromkeys(tags))
    front["datasets"] = list(usecase.datasets)
    front["base_model"] = base
    front["base_model_relation"] = "quantized" if quantized else "finetune"
    meta = yaml.safe_dump(front, sort_keys=False, allow_unicode=True, width=100)
    return Profile(
        name=name,
        usecase=usecase.key,
        domain=usecase.domain,
        task=usecase.task,
        library=library,
        languages=languages,
        base_model=base,
        quantized=quantized,
        card=f"---\n{meta}---\n\n{body}",
    )
