#!/usr/bin/env python3
"""The labelled evaluation set for ``discover --like``: load it, judge it, regenerate it.

``tests/data/like_eval.json`` holds intents, the judgement behind each (``criteria``: the
use cases of ``hubemu/cards.yaml`` a person accepts, plus any language or GGUF constraint
the intent names) and the ids that judgement selects (``relevant``). Run this script after
the catalogue changes to rewrite ``relevant`` from ``criteria``; its ``method`` field says how
the judgements were made.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hubemu.cards import Profile
from hubemu.catalog import profiles

EVAL_SET = Path(__file__).resolve().parent.parent / "tests" / "data" / "like_eval.json"


@dataclass(frozen=True)
class Intent:
    """One thing a person looks for, and the models they would accept."""

    id: str
    text: str
    criteria: dict[str, Any]
    relevant: tuple[str, ...]


def load(path: Path = EVAL_SET) -> list[Intent]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return [
        Intent(i["id"], i["text"], dict(i["criteria"]), tuple(i["relevant"]))
        for i in doc["intents"]
    ]


def accepts(criteria: dict[str, Any], about: Profile) -> bool:
    """Whether a person holding ``criteria`` judges the model ``about`` describes relevant."""
    if about.usecase not in criteria["usecases"]:
        return False
    languages = criteria.get("languages")
    if languages and not set(languages) & set(about.languages):
        return False
    return "quantized" not in criteria or about.quantized == criteria["quantized"]


def judge(criteria: dict[str, Any], catalogue: dict[str, Profile]) -> list[str]:
    """The catalogue ids ``criteria`` accepts, sorted."""
    return sorted(rid for rid, about in catalogue.items() if accepts(criteria, about))


def main() -> int:
    doc = json.loads(EVAL_SET.read_text(encoding="utf-8"))
    catalogue = profiles()
    for intent in doc["intents"]:
        intent["relevant"] = judge(intent["criteria"], catalogue)
    EVAL_SET.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    sizes = [len(i["relevant"]) for i in doc["intents"]]
    print(f"{len(sizes)} intents, {min(sizes)}-{max(sizes)} relevant ids each -> {EVAL_SET}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
