"""The ``like`` section of ``scripts/bench.py``: ``discover --like`` against a keyword filter.

On the labelled evaluation set (``tests/data/like_eval.json``: intents in a person's words,
each with the models a person would judge relevant; candidates are every model the Hub
emulator lists), with ``sentence-transformers/all-MiniLM-L6-v2`` snapshotted from the
emulator into a temporary store as the embedder:

- ``discover --like INTENT --limit 10`` at the default threshold, and ``--threshold -1``
  with no effective limit (every candidate ranked) to read off the top 10 at other
  thresholds (the seed's 0.62 among them) and with none;
- where the default threshold comes from: the threshold (on a 0.01 grid) that maximises F1
  over the intents at even positions of the set, F1 of every candidate at or above it
  (no ``--limit``: a threshold decides what belongs, whatever the limit), pooled over those
  intents; checked on the intents at odd positions, and fitted on those too to show how
  much it moves;
- a keyword filter on the same words: the intent's content words (lower-cased, split on
  anything but letters and digits, words of fewer than 3 characters and English function
  words dropped), each one ``discover --search WORD --sort downloads`` (the Hub matches
  model ids), the union ranked by how many of the words an id contains, then by downloads,
  the first 10 shown; and the whole intent as one ``--search``;
- time per 1,000 candidates: nothing cached (cards fetched, every text embedded), cards
  cached but the embedding cache cold, and everything cached (only the intent embedded).

recall@10 is |shown ∩ relevant| / min(10, |relevant|), averaged over intents; the
false-hit rate is the share of all shown models, pooled over intents, that are not
relevant (an intent with nothing shown adds nothing to it).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubsnap.api.like import DEFAULT_THRESHOLD
from like_eval import Intent, load

ROOT = Path(__file__).resolve().parent.parent
EMBEDDER = "sentence-transformers/all-MiniLM-L6-v2"
TOP = 10
#: A ``--limit`` above the number of candidates (the default ``--candidates`` is 2,000).
ALL = 100_000
SEED_THRESHOLD = 0.62
SWEEP = (SEED_THRESHOLD, 0.5, 0.45, 0.35, 0.3)
#: Thresholds tried when fitting one: 0.20, 0.21, ... 0.70.
GRID = tuple(round(0.2 + i / 100, 2) for i in range(51))
# The seed's figures (keyword whitelist against the semantic filter at 0.62).
SEED = {"like recall": 89.1, "keyword recall": 58.3, "like false": 4.2, "keyword false": 23.7}
# English function words: a person typing keywords leaves them out.
_FUNCTION_WORDS = (
    "a about after all also an and any are as at be been before but by can could do does "
    "for from had has have how if in into is it its like may more most my no not of on one "
    "or our out over so some such than that the their them then there these they this to "
    "too under up us use using very was way we were what when where which while who why "
    "will with would you your"
)
STOPWORDS = frozenset(_FUNCTION_WORDS.split())

Add = Callable[[str, float, str], object]
Ratio = Callable[[str, float, str], None]


@dataclass(frozen=True)
class Scores:
    """recall@10 and false-hit rate in percent, over how many shown models and intents."""

    recall: float
    false_hits: float
    shown: int
    empty: int  # intents for which nothing was shown


def content_words(text: str) -> list[str]:
    """The words of ``text`` a keyword search uses, in order, each once."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return list(dict.fromkeys(w for w in words if len(w) >= 3 and w not in STOPWORDS))


def recall_at(shown: Sequence[str], relevant: Collection[str], k: int = TOP) -> float:
    """The share of the relevant models a top-``k`` list could hold that it does hold."""
    if not relevant:
        raise ValueError("an intent without relevant models cannot be scored")
    return len(set(shown[:k]) & set(relevant)) / min(k, len(relevant))


def score(results: Sequence[tuple[Sequence[str], Collection[str]]], k: int = TOP) -> Scores:
    """Macro recall@k and pooled false hits of (shown, relevant) pairs, in percent."""
    recalls = [recall_at(shown, relevant, k) for shown, relevant in results]
    shown = sum(min(k, len(s)) for s, _ in results)
    wrong = sum(len(set(s[:k]) - set(r)) for s, r in results)
    return Scores(
        recall=100 * sum(recalls) / len(recalls),
        false_hits=100 * wrong / shown if shown else 0.0,
        shown=shown,
        empty=sum(1 for s, _ in results if not s),
    )


def above(ranked: Sequence[tuple[str, float]], threshold: float | None, k: int = TOP) -> list[str]:
    """What ``--limit k --threshold X`` shows, from a ranking made with no threshold."""
    return [rid for rid, s in ranked[:k] if threshold is None or s >= threshold]


@dataclass(frozen=True)
class SetScores:
    """Precision, recall and F1 of everything at or above a threshold, pooled over intents."""

    precision: float
    recall: float
    f1: float


def set_scores(
    rankings: Sequence[Sequence[tuple[str, float]]],
    relevant: Sequence[Collection[str]],
    threshold: float,
) -> SetScores:
    """How well ``threshold`` alone separates the relevant models, with no limit."""
    found = shown = wanted = 0
    for ranking, rel in zip(rankings, relevant, strict=True):
        kept = {rid for rid, s in ranking if s >= threshold}
        found += len(kept & set(rel))
        shown += len(kept)
        wanted += len(rel)
    precision = found / shown if shown else 0.0
    recall = found / wanted if wanted else 0.0
    f1 = 2 * precision * recall / (precision + recall) if found else 0.0
    return SetScores(precision, recall, f1)


def fit_threshold(
    rankings: Sequence[Sequence[tuple[str, float]]],
    relevant: Sequence[Collection[str]],
    grid: Sequence[float] = GRID,
) -> float:
    """The threshold of ``grid`` with the best F1 (:func:`set_scores`); of equals, the highest."""
    return max(grid, key=lambda t: (set_scores(rankings, relevant, t).f1, t))


def halves(items: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """The items at even positions and those at odd ones."""
    return list(items[0::2]), list(items[1::2])


def keyword_ranking(
    words: Sequence[str], hits: Mapping[str, Sequence[tuple[str, int]]]
) -> list[str]:
    """The union of each word's ``--search`` hits (id, downloads): ids containing more of
    ``words`` first, then the more downloaded, then by id."""
    matched: dict[str, int] = {}
    downloads: dict[str, int] = {}
    for word in words:
        for rid, count in hits[word]:
            matched[rid] = matched.get(rid, 0) + 1
            downloads[rid] = count
    return sorted(matched, key=lambda rid: (-matched[rid], -downloads[rid], rid))


@contextlib.contextmanager
def _emulator(data: Path) -> Iterator[str]:
    """The Hub emulator on a free loopback port (its first start builds the fixtures)."""
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "hub_emulator.py"), "--port", "0",
         "--data", str(data)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.startswith("ready "):
            raise SystemExit(f"the Hub emulator did not start: {line!r}")
        yield line.split()[1]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


class Hubsnap:
    """``python -m hubsnap`` against the emulator, with its own home and store."""

    def __init__(self, work: Path, endpoint: str) -> None:
        self.home = work / "like-home"
        self.store = work / "like-store"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUBSNAP_"))}
        self.env = env | {
            "PYTHONPATH": str(ROOT / "src"),
            "HF_ENDPOINT": endpoint,
            "HF_HOME": str(work / "like-hf"),
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "HUBSNAP_HOME": str(self.home),
            "HUBSNAP_STORE": str(self.store),
        }
        self.work = work

    def __call__(self, *args: str) -> tuple[float, dict[str, Any]]:
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "hubsnap", *args, "--json"], env=self.env, cwd=self.work,
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"benchmark step failed: hubsnap {' '.join(args)}\n{done.stderr}")
        return elapsed, json.loads(done.stdout)

    def like(self, text: str, *extra: str) -> tuple[float, dict[str, Any]]:
        return self("discover", "--like", text, "--limit", str(TOP), *extra)

    def forget_embeddings(self) -> None:
        with contextlib.closing(sqlite3.connect(self.home / "discover.sqlite")) as db, db:
            db.execute("DELETE FROM embeddings")

    def forget_discover_state(self) -> None:
        (self.home / "discover.sqlite").unlink(missing_ok=True)


def _ranked(out: Mapping[str, Any]) -> list[tuple[str, float]]:
    return [(m["model_id"], float(m["similarity"])) for m in out["models"]]


def _timings(hubsnap: Hubsnap, rounds: int, add: Add, ratio: Ratio) -> None:
    """Seconds per 1,000 candidates with nothing cached, a cold embedding cache, all warm."""
    probes = iter(f"benchmark probe {i}: models that read contracts" for i in range(99))

    def timed(label: str, note: str, prepare: Callable[[], object], runs: int) -> float:
        best, candidates, work_done = float("inf"), 0, ""
        for _ in range(runs):
            prepare()
            seconds, out = hubsnap.like(next(probes))
            best, candidates = min(best, seconds), out["like"]["candidates"]
            work_done = (
                f"{out['like']['cards_fetched']} cards fetched, "
                f"{out['like']['embedded']} texts embedded"
            )
        per_thousand = 1000 * best / candidates
        add(f"like, {label}: {candidates} candidates", best, f"{note}; {work_done}")
        ratio(f"like: seconds per 1,000 candidates, {label}", per_thousand, "report")
        return per_thousand

    cold = timed("nothing cached", "one run", hubsnap.forget_discover_state, 1)
    embed = timed("embedding cache cold", "cards cached; one run", hubsnap.forget_embeddings, 1)
    warm = timed("warm caches", f"best of {rounds}", lambda: None, rounds)
    ratio("like: warm / embedding-cold time per candidate", warm / embed, "report")
    ratio("like: warm / nothing-cached time per candidate", warm / cold, "report")


def _keyword(hubsnap: Hubsnap, intents: Sequence[Intent]) -> tuple[list[list[str]], int]:
    """Each intent's keyword top 10, and how many intents' whole phrase matched any id."""
    hits: dict[str, list[tuple[str, int]]] = {}
    shown: list[list[str]] = []
    phrase_matches = 0
    for intent in intents:
        words = content_words(intent.text)
        for word in words:
            if word not in hits:
                _, out = hubsnap("discover", "--search", word, "--sort", "downloads",
                                 "--limit", "2000")  # fmt: skip
                hits[word] = [(m["model_id"], int(m["downloads"] or 0)) for m in out["models"]]
        shown.append(keyword_ranking(words, hits)[:TOP])
        _, out = hubsnap("discover", "--search", intent.text, "--limit", str(TOP))
        phrase_matches += bool(out["models"])
    return shown, phrase_matches


def _report(label: str, scores: Scores, add: Add, ratio: Ratio, targets: tuple[str, str]) -> None:
    add(label, 0.0, f"recall@10 {scores.recall:.1f} %, false hits {scores.false_hits:.1f} % "
                    f"of {scores.shown} shown, {scores.empty} intents with none")  # fmt: skip
    ratio(f"{label}: recall@10 %", scores.recall, targets[0])
    ratio(f"{label}: false hits %", scores.false_hits, targets[1])


def _fit(
    ranked: Sequence[Sequence[tuple[str, float]]],
    relevant: Sequence[Collection[str]],
    add: Add,
    ratio: Ratio,
) -> None:
    """The default threshold's derivation: fitted on one half of the intents, checked on the
    other (and the other way round, to show how far it moves)."""
    (fit_ranked, check_ranked), (fit_relevant, check_relevant) = halves(ranked), halves(relevant)
    for label, (a_ranked, a_rel, b_ranked, b_rel) in (
        ("even", (fit_ranked, fit_relevant, check_ranked, check_relevant)),
        ("odd", (check_ranked, check_relevant, fit_ranked, fit_relevant)),
    ):
        threshold = fit_threshold(a_ranked, a_rel)
        fitted, checked = (
            set_scores(a_ranked, a_rel, threshold),
            set_scores(b_ranked, b_rel, threshold),
        )
        top = score([(above(r, threshold), rel) for r, rel in zip(b_ranked, b_rel, strict=True)])
        other = "odd" if label == "even" else "even"
        add(f"threshold fitted on the {label}-position intents", 0.0,
            f"{threshold:.2f}: F1 {fitted.f1:.3f} there (P {fitted.precision:.3f}, "
            f"R {fitted.recall:.3f}); on the {other} ones F1 {checked.f1:.3f} "
            f"(P {checked.precision:.3f}, R {checked.recall:.3f}), recall@10 {top.recall:.1f} %, "
            f"false hits {top.false_hits:.1f} %")  # fmt: skip
        target = f"= {DEFAULT_THRESHOLD} (the default)" if label == "even" else "report"
        ratio(f"threshold fitted on the {label}-position intents", threshold, target)


def section_like(work: Path, rounds: int, add: Add, ratio: Ratio, *, data: Path) -> None:
    intents = load()
    for leftover in ("like-home", "like-store", "like-hf"):
        shutil.rmtree(work / leftover, ignore_errors=True)
    with _emulator(data) as endpoint:
        hubsnap = Hubsnap(work, endpoint)
        seconds, _ = hubsnap("snapshot", EMBEDDER, "--store", str(hubsnap.store),
                             "-o", str(work / "like-embedder.yaml"))  # fmt: skip
        add(f"snapshot {EMBEDDER} into a temp store", seconds, "from the emulator")
        _timings(hubsnap, max(rounds, 3), add, ratio)

        default: list[list[str]] = []
        ranked: list[list[tuple[str, float]]] = []
        for intent in intents:
            _, out = hubsnap.like(intent.text)
            default.append([m["model_id"] for m in out["models"]])
            # Every candidate, not only the top 10: fitting a threshold needs them all.
            _, out = hubsnap("discover", "--like", intent.text, "--threshold", "-1",
                             "--limit", str(ALL))  # fmt: skip
            ranked.append(_ranked(out))
        keyword, phrase_matches = _keyword(hubsnap, intents)

    relevant = [set(i.relevant) for i in intents]
    for intent, shown, ranking, kw in zip(intents, default, ranked, keyword, strict=True):
        rel = set(intent.relevant)
        top = ranking[0][1] if ranking else float("nan")
        print(f"    {intent.id:26} {len(rel):3} relevant | like@{DEFAULT_THRESHOLD}: "
              f"{len(set(shown) & rel)}/{len(shown)} | like top 10: "
              f"{len(set(above(ranking, None)) & rel)}/10 (best {top:.3f}) | keyword: "
              f"{len(set(kw) & rel)}/{len(kw)}", flush=True)  # fmt: skip
    like = score(list(zip(default, relevant, strict=True)))
    words = score(list(zip(keyword, relevant, strict=True)))
    _report(f"like, threshold {DEFAULT_THRESHOLD}", like, add, ratio,
            (f">= {SEED['like recall']}", f"<= {SEED['like false']}"))  # fmt: skip
    _report("keyword (--search per content word)", words, add, ratio, ("report", "report"))
    add("keyword, whole intent as one --search", 0.0,
        f"{phrase_matches} of {len(intents)} intents match any model id")  # fmt: skip
    seed_recall = SEED["like recall"] / SEED["keyword recall"]
    seed_false = SEED["like false"] / SEED["keyword false"]
    ratio("like / keyword recall@10", like.recall / words.recall if words.recall else float("inf"),
          f">= {seed_recall:.2f}")  # fmt: skip
    ratio("like / keyword false hits", like.false_hits / words.false_hits
          if words.false_hits else float("inf"), f"<= {seed_false:.2f}")  # fmt: skip
    for threshold in (*SWEEP, None):
        cut = [above(r, threshold) for r in ranked]
        scores = score(list(zip(cut, relevant, strict=True)))
        label = f"like, threshold {threshold}" if threshold is not None else "like, top 10"
        _report(label, scores, add, ratio, ("report", "report"))
    _fit(ranked, relevant, add, ratio)
    for leftover in ("like-home", "like-store", "like-hf"):
        shutil.rmtree(work / leftover, ignore_errors=True)
    (work / "like-embedder.yaml").unlink(missing_ok=True)
