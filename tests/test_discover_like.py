"""``hubsnap discover --like`` against the Hub emulator, with the real all-MiniLM-L6-v2 taken
from the store as the embedder: ranking, caches, hostile cards, and the usage errors.

The candidates are repositories this module publishes under one author, with cards written
to be told apart; the listing-only catalogue is left out with ``--author``. Tests that embed
need the optional extra (sentence-transformers, torch) and are skipped without it.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hubsnap.api.like import DEFAULT_THRESHOLD
from hubsnap.digest import Digest
from support.hub import BASE, HubEmulator
from support.keys import Model
from support.schemas import validated
from test_snapshot_cli import Run, home, run

__all__ = ["home", "run"]  # fixtures shared with test_snapshot_cli

AUTHOR = "like-fixtures"
CARDS: dict[str, str | bytes] = {
    f"{AUTHOR}/contract-clauses": (
        "---\nlicense: apache-2.0\nlanguage: en\npipeline_tag: text-classification\n"
        "tags:\n- legal\n---\n\n# Contract clause classifier\n\nClassifies the clauses of "
        "commercial contracts (indemnity, termination, confidentiality) for legal review.\n"
    ),
    f"{AUTHOR}/finnish-asr": (
        "---\nlanguage: fi\npipeline_tag: automatic-speech-recognition\n---\n\n"
        "# Finnish speech recognition\n\nTranscribes spoken Finnish audio into text.\n"
    ),
    f"{AUTHOR}/xray-pneumonia": (
        "---\npipeline_tag: image-classification\ntags: [medical]\n---\n\n"
        "# Chest X-ray pneumonia detector\n\nDetects pneumonia in chest radiographs.\n"
    ),
    f"{AUTHOR}/recipe-writer": (
        "---\npipeline_tag: text-generation\n---\n\n# Recipe writer\n\n"
        "Writes cooking recipes from a list of ingredients.\n"
    ),
}
HOSTILE: dict[str, str | bytes] = {
    # 3 MiB: read only up to the cap, the rest never leaves the server's socket buffers.
    f"{AUTHOR}/huge-card": "---\npipeline_tag: summarization\n---\n\n# News summariser\n\n"
    + "Summarises news articles into three sentences. " * 65_000,
    f"{AUTHOR}/binary-card": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 64,
    f"{AUTHOR}/malformed-card": (
        "---\nlicense: [mit\npipeline_tag: {\n---\n\n# Tweet sentiment\n\n"
        "Tells positive from negative sentiment in short social media posts.\n"
    ),
}
LEGAL = "classify clauses of legal contracts"
HAS_EXTRA = importlib.util.find_spec("sentence_transformers") is not None


def publish(hub: HubEmulator, cards: dict[str, str | bytes]) -> None:
    for repo_id, card in cards.items():
        hub.create_repo(repo_id, date="2026-01-01T00:00:00Z")
        hub.publish_commit(repo_id, {"README.md": card})


@pytest.fixture(scope="module")
def embedder_store(hub_emulator: HubEmulator, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding the emulator's all-MiniLM-L6-v2, snapshotted once for the module."""
    root = tmp_path_factory.mktemp("like")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUBSNAP_"))}
    env |= {"HF_ENDPOINT": hub_emulator.url, "HUBSNAP_HOME": str(root / "home"),
            "HF_HUB_DISABLE_PROGRESS_BARS": "1"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "hubsnap", "snapshot", BASE, "-o", str(root / "s.yaml")],
        env=env, capture_output=True, text=True, timeout=600, check=False, cwd=root,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return root / "home" / "store"


@pytest.fixture
def store(embedder_store: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shared embedder store as HUBSNAP_STORE, with a fresh HUBSNAP_HOME (``home``)."""
    monkeypatch.setenv("HUBSNAP_STORE", str(embedder_store))
    return embedder_store


@pytest.fixture
def cards(hub: HubEmulator) -> Iterator[HubEmulator]:
    publish(hub, CARDS)
    hub.reset_request_counts()
    yield hub


def like(run: Run, *args: str) -> tuple[dict[str, Any], str]:
    code, out, err = run("discover", "--author", AUTHOR, *args, "--json")
    assert code == 0, err
    return validated(out, "discover"), err


def ranking(document: dict[str, Any]) -> list[tuple[str, float]]:
    return [(m["model_id"], m["similarity"]) for m in document["models"]]


@pytest.mark.usefixtures("cards")
@pytest.mark.behaviour_extra
@pytest.mark.skipif(not HAS_EXTRA, reason="needs the behaviour extra (sentence-transformers)")
def test_models_are_ranked_by_their_cards_reproducibly(
    store: Path, home: Path, run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    document, err = like(run, "--like", LEGAL, "--threshold", "-1")
    assert err == ""
    ranked = ranking(document)
    assert ranked[0][0] == f"{AUTHOR}/contract-clauses"
    assert ranked[0][1] >= DEFAULT_THRESHOLD > ranked[1][1]  # the default tells it apart
    assert [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True)
    assert {m for m, _ in ranked} == set(CARDS)
    report = document["like"]
    tag_digest = (store / "index.json").read_text()
    assert report["embedder"] == BASE and report["embedder_digest"] in tag_digest
    assert report["closest"] == {"model_id": ranked[0][0], "similarity": ranked[0][1]}
    assert (report["candidates"], report["cards_fetched"], report["embedded"]) == (4, 4, 5)
    # The default threshold keeps the one that is about contracts; --limit cuts after ranking.
    kept, _ = like(run, "--like", LEGAL)
    assert ranking(kept) == ranked[:1]
    assert ranking(like(run, "--like", LEGAL, "--threshold", "-1", "--limit", "2")[0]) == ranked[:2]
    # Cold caches elsewhere, the embedder named by its digest: the same ranking, to the digit.
    monkeypatch.setenv("HUBSNAP_HOME", str(tmp_path / "other-home"))
    digest = str(report["embedder_digest"])
    again, _ = like(run, "--like", LEGAL, "--threshold", "-1", "--embedder", digest)
    assert again["like"]["embedded"] == 5 and again["like"]["embedder"] == digest
    assert ranking(again) == ranked
    code, out, err = run("discover", "--author", AUTHOR, "--like", LEGAL)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["MODEL", "SIMILARITY"]
    assert lines[1].split()[:2] == [ranked[0][0], f"{ranked[0][1]:.4f}"]


@pytest.mark.behaviour_extra
@pytest.mark.skipif(not HAS_EXTRA, reason="needs the behaviour extra (sentence-transformers)")
def test_a_second_run_fetches_no_card_and_embeds_nothing(
    store: Path, home: Path, run: Run, cards: HubEmulator
) -> None:
    first, _ = like(run, "--like", LEGAL)
    assert cards.request_count("/resolve/") == 4
    cards.reset_request_counts()
    second, _ = like(run, "--like", LEGAL)
    assert cards.request_count("/resolve/") == 0
    assert (second["like"]["cards_fetched"], second["like"]["embedded"]) == (0, 0)
    assert ranking(second) == ranking(first)
    # Another intent over the same listing costs one embedding: its own.
    other, _ = like(run, "--like", "speech to text for Finnish", "--threshold", "0.3")
    assert (other["like"]["cards_fetched"], other["like"]["embedded"]) == (0, 1)
    assert ranking(other)[0][0] == f"{AUTHOR}/finnish-asr"
    # A new commit changes one card: only it is fetched and embedded again.
    cards.publish_commit(
        f"{AUTHOR}/recipe-writer",
        {"README.md": "# Lease reviewer\n\nFinds risky clauses in rental contracts.\n"},
    )
    cards.reset_request_counts()
    third, _ = like(run, "--like", LEGAL, "--threshold", "0.3")
    assert cards.request_count("/resolve/") == 1
    assert (third["like"]["cards_fetched"], third["like"]["embedded"]) == (1, 1)
    assert f"{AUTHOR}/recipe-writer" in [m for m, _ in ranking(third)]


@pytest.mark.usefixtures("store", "cards")
@pytest.mark.behaviour_extra
@pytest.mark.skipif(not HAS_EXTRA, reason="needs the behaviour extra (sentence-transformers)")
def test_when_nothing_reaches_the_threshold_the_closest_score_is_the_hint(run: Run) -> None:
    code, out, err = run("discover", "--author", AUTHOR, "--like", LEGAL, "--threshold", "0.99")
    assert code == 0, err
    closest = f"{AUTHOR}/contract-clauses"
    assert out.startswith(f"no models scored >= 0.99; the closest, {closest}, scored 0.")
    score = out.split()[-1]
    assert out.splitlines() == [f"no models scored >= 0.99; the closest, {closest}, scored {score}"]
    assert err.splitlines() == [f"hint: --threshold {score} would show it"]
    assert float(score) < 0.99
    # The hint holds: at that threshold the closest is shown (and only the cache is used).
    document, err = like(run, "--like", LEGAL, "--threshold", score)
    assert err == ""
    assert ranking(document)[0] == (closest, float(score))
    assert (document["like"]["cards_fetched"], document["like"]["embedded"]) == (0, 0)
    # --json keeps stderr for notes: the closest model is a field there.
    empty, err = like(run, "--like", LEGAL, "--threshold", "0.99")
    assert (empty["models"], err) == ([], "")
    assert empty["like"]["closest"] == {"model_id": closest, "similarity": float(score)}


@pytest.mark.behaviour_extra
@pytest.mark.skipif(not HAS_EXTRA, reason="needs the behaviour extra (sentence-transformers)")
def test_hostile_cards_are_cut_or_skipped_with_a_note(
    store: Path, home: Path, run: Run, hub: HubEmulator
) -> None:
    publish(hub, HOSTILE)
    document, err = like(run, "--like", "summarise news articles", "--threshold", "-1")
    assert err.splitlines() == [
        f"note: {AUTHOR}/binary-card: model card is not UTF-8 text: ranked on its id and tags "
        "alone",
        f"note: {AUTHOR}/huge-card: model card is larger than 256 KiB: only that much was read",
        f"note: {AUTHOR}/malformed-card: model card metadata is not valid YAML: while parsing a "
        "flow sequence, did not find expected ',' or ']' at line 2: left out",
    ]
    assert document["like"]["notes"] == [line.removeprefix("note: ") for line in err.splitlines()]
    ranked = ranking(document)
    assert {m for m, _ in ranked} == set(HOSTILE)  # every one ranked, none dropped
    assert ranked[0][0] == f"{AUTHOR}/huge-card"  # its first paragraphs were read
    # Kept as read: the next run fetches none of them and repeats no note.
    code, _, err = run("discover", "--author", AUTHOR, "--like", "summarise news articles")
    assert (code, err) == (0, "")


def test_without_the_extra_like_is_a_usage_error_with_the_install_hint(
    home: Path, run: Run, hub: HubEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import fails
    code, out, err = run("discover", "--like", LEGAL)
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "error: --like needs the sentence-transformers and torch packages",
        "hint: pip install 'hubsnap[behaviour]'",
    ]
    assert hub.request_count("/api/models") == 0


def test_an_embedder_that_cannot_be_imported_exits_2_with_the_hint(
    embedder_store: Path, cards: HubEmulator, tmp_path: Path
) -> None:
    # The package is found, so the early check passes; importing it fails once there are
    # texts to embed (as when torch is missing): the same error, after the cards are read.
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sentence_transformers.py").write_text("raise ImportError('no torch here')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUBSNAP_"))}
    env |= {
        "HF_ENDPOINT": cards.url, "HUBSNAP_HOME": str(tmp_path / "h"),
        "HUBSNAP_STORE": str(embedder_store),
        "PYTHONPATH": os.pathsep.join([str(blocker), os.environ.get("PYTHONPATH", "")]),
    }  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "hubsnap", "discover", "--author", AUTHOR, "--like", LEGAL],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines() == [
        "error: --like needs the sentence-transformers and torch packages",
        "hint: pip install 'hubsnap[behaviour]'",
    ]
    assert cards.request_count("/resolve/") == len(CARDS)


def test_a_missing_default_embedder_is_not_found_with_the_snapshot_hint(
    home: Path, run: Run, hub: HubEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hubsnap.api.like.check_installed", lambda: None)
    code, out, err = run("discover", "--like", LEGAL)
    assert (code, out) == (3, "")
    assert err.splitlines() == [
        f"error: the default embedder {BASE} is not in the local store",
        f"hint: hubsnap snapshot {BASE} (or pass --embedder REF)",
    ]
    assert hub.request_count("/api/models") == 0


@pytest.mark.usefixtures("store")
def test_a_missing_named_embedder_is_not_found(
    run: Run, hub: HubEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hubsnap.api.like.check_installed", lambda: None)
    for name in ("org/absent:main", "org/absent@main", "sha256:" + "0" * 64):
        code, out, err = run("discover", "--like", LEGAL, "--embedder", name)
        assert (code, out) == (3, ""), name
        first = err.splitlines()[0]
        assert first.startswith("error: ") and f"{name} not found in " in first, err
    assert hub.request_count("/api/models") == 0


@pytest.mark.usefixtures("store")
def test_the_embedder_can_be_named_every_way_the_store_knows(embedder_store: Path) -> None:
    from hubsnap.api.like import resolve_embedder
    from hubsnap.api.session import Session
    from hubsnap.config import Settings

    with Session(Settings.from_env()) as session:
        default = resolve_embedder(session, None)
        names = (
            str(default.digest),
            "sentence-transformers/all-minilm-l6-v2:main",  # the readable store tag
            f"{BASE}@main",
            f"oci:{embedder_store}@{default.digest}",
        )
        found = {name: resolve_embedder(session, name) for name in names}
    assert default.reference == BASE and isinstance(default.digest, Digest)
    assert {e.digest for e in found.values()} == {default.digest}
    assert {e.store.root for e in found.values()} == {embedder_store.resolve()}
    assert [e.reference for e in found.values()] == list(names)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--like", LEGAL, "--threshold", "1.5"), "--threshold 1.5 is not a cosine similarity"),
        (("--like", LEGAL, "--threshold", "-2"), "--threshold -2 is not a cosine similarity"),
        (("--like", LEGAL, "--threshold", "nan"), "--threshold nan is not a cosine similarity"),
        (("--like", LEGAL, "--threshold", "high"), "Invalid value for '--threshold'"),
        (("--threshold", "0.5"), "--threshold needs --like"),
        (("--embedder", "sha256:" + "0" * 64), "--embedder needs --like"),
        (("--candidates", "10"), "--candidates needs --like"),
        (("--like", " "), "--like needs a text"),
        (("--like", LEGAL, "--candidates", "0"), "--candidates must be at least 1"),
        (("--like", LEGAL, "--limit", "0"), "--limit must be at least 1"),
    ],
)  # fmt: skip
def test_bad_like_options_are_usage_errors(
    home: Path, run: Run, hub: HubEmulator, args: tuple[str, ...], message: str
) -> None:
    code, out, err = run("discover", *args)
    assert (code, out) == (2, "")
    assert err.splitlines()[0].startswith(f"error: {message}")
    assert hub.request_count("/api/models") == 0
    assert not home.exists()


def test_the_help_states_the_defaults_the_verb_applies() -> None:
    from hubsnap.api import like as api
    from hubsnap.cli import discover as cli

    assert (cli.DEFAULT_THRESHOLD, cli.DEFAULT_CANDIDATES) == (
        api.DEFAULT_THRESHOLD,
        api.DEFAULT_CANDIDATES,
    )


@pytest.mark.behaviour_extra
@pytest.mark.skipif(not HAS_EXTRA, reason="needs the behaviour extra (sentence-transformers)")
def test_an_incremental_like_ranks_only_what_changed(
    store: Path, home: Path, run: Run, cards: HubEmulator
) -> None:
    first, _ = like(run, "--like", LEGAL, "--incremental", "--threshold", "-1")
    assert first["like"]["candidates"] == len(CARDS)
    quiet, _ = like(run, "--like", LEGAL, "--incremental", "--threshold", "-1")
    assert (quiet["models"], quiet["like"]["candidates"]) == ([], 0)
    assert quiet["like"]["closest"] is None  # nothing was ranked
    # The listing without --like, and another intent, are queries of their own.
    code, out, err = run("discover", "--author", AUTHOR, "--incremental", "--json")
    assert code == 0, err
    assert len(validated(out, "discover")["models"]) == len(CARDS)
    other, _ = like(run, "--like", "speech", "--incremental", "--threshold", "-1")
    assert other["like"]["candidates"] == len(CARDS)
    cards.publish_commit(
        f"{AUTHOR}/finnish-asr",
        {"README.md": "# Finnish contracts\n\nReads clauses of Finnish legal contracts.\n"},
        date="2030-01-01T00:00:00Z",
    )
    changed, _ = like(run, "--like", LEGAL, "--incremental", "--threshold", "-1")
    assert [m for m, _ in ranking(changed)] == [f"{AUTHOR}/finnish-asr"]
    assert (changed["like"]["cards_fetched"], changed["like"]["embedded"]) == (1, 1)


@pytest.mark.usefixtures("home", "cards")
@pytest.mark.behaviour_extra
@pytest.mark.skipif(not HAS_EXTRA, reason="needs the behaviour extra (sentence-transformers)")
def test_an_artifact_that_is_no_model_is_a_usage_error(
    run: Run,
    make_model: Callable[..., Model],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    junk = make_model("org/notes", store=tmp_path / "junk", files={"notes.txt": b"no weights"})
    code, out, err = run("discover", "--author", AUTHOR, "--like", LEGAL, "--embedder", junk.ref)
    assert (code, out) == (2, "")
    lines = err.splitlines()
    assert lines[0].startswith(
        f"error: cannot load embedder {junk.ref} ({junk.digest}) as a sentence-transformers model: "
    )
    assert lines[1:] == ["hint: --embedder names an artifact of a sentence-transformers model"]
    assert list(scratch.glob("hubsnap-*")) == []  # the folder it was written to is removed
