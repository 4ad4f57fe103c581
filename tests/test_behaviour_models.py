"""Behaviour of the emulator's sentiment classifier, v1 against v2: the exact flipped inputs.

The emulator's ``minilm-sentiment`` revisions differ in their classifier head so that v2
flips probes 0 and 7 from NEGATIVE to POSITIVE. Through two endpoints answering from the
NumPy reference forward pass (Hugging Face task JSON, and TEI with the revisions' commits),
and through the ``transformers`` runner (skipped without the ``behaviour`` extra), the
comparison must find exactly those two.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from huggingface_hub import snapshot_download

from hubsnap.diff.behaviour import (
    BehaviourReport,
    Task,
    TransformersRunner,
    endpoint,
    parse_testset,
    run_behaviour,
)
from hubsnap.errors import IntegrityError, UsageError
from support.hostile_registry import HostileServer
from support.hub import BASE, COMMITS, SENTIMENT, SENTIMENT_PROBES, HfEnv
from support.inference import InferenceRoutes, MiniLMModel, inference_server
from support.minilm import MiniLM

FILES = [
    "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
    "special_tokens_map.json", "vocab.txt",
]  # fmt: skip
V1, V2 = COMMITS[SENTIMENT]["v1"], COMMITS[SENTIMENT]["v2"]
HAS_TRANSFORMERS = importlib.util.find_spec("transformers") is not None
_skip_without = pytest.mark.skipif(
    not HAS_TRANSFORMERS, reason="needs the behaviour extra (transformers, torch)"
)


def needs_transformers(test: Callable[..., None]) -> Callable[..., None]:
    """Marked ``behaviour_extra``, and skipped when ``transformers`` is not installed."""
    return pytest.mark.behaviour_extra(_skip_without(test))


# v1's answers (test_hub_emulator asserts the flips) with probe 0 corrected: v1 is wrong on
# probe 0, v2 (flipping 0 and 7) on probe 7, so accuracy and McNemar have pairs to count.
EXPECTED = ["POSITIVE"] * 4 + ["NEGATIVE"] * 4


def probes() -> bytes:
    return json.dumps(
        [{"text": text, "labels": [label]}
         for text, label in zip(SENTIMENT_PROBES, EXPECTED, strict=True)]
    ).encode()  # fmt: skip


@pytest.fixture
def folders(hf_env: HfEnv) -> tuple[Path, Path]:
    v1 = Path(snapshot_download(SENTIMENT, revision="v1", allow_patterns=FILES))
    v2 = Path(snapshot_download(SENTIMENT, revision="v2", allow_patterns=FILES))
    return v1, v2


@pytest.fixture
def reference_servers(folders: tuple[Path, Path]) -> Iterator[tuple[HostileServer, HostileServer]]:
    v1, v2 = (MiniLMModel(MiniLM.from_dir(folder)) for folder in folders)
    with (
        inference_server(InferenceRoutes(v1, sha=V1)) as base,
        inference_server(InferenceRoutes(v2, sha=V2)) as target,
    ):
        yield base, target


def check_flips(report: BehaviourReport) -> None:
    flipped = [i for i, row in enumerate(report.rows) if not row.consistent]
    assert flipped == [0, 7]
    for i in flipped:
        assert report.rows[i].base_labels == ("NEGATIVE",)
        assert report.rows[i].target_labels == ("POSITIVE",)
    assert report.label_shift_rate == 0.25
    # Probe 0 is now right, probe 7 now wrong: one discordant pair each way, p = 2 · 3/4 → 1.
    assert report.base_accuracy == report.target_accuracy == 0.875
    assert report.mcnemar_p == 1.0


@pytest.mark.hub
@pytest.mark.parametrize("protocol", ["hf", "tei"])
def test_flipped_inputs_through_endpoints(
    reference_servers: tuple[HostileServer, HostileServer], protocol: str
) -> None:
    base_server, target_server = reference_servers
    route = "/hf/text-classification" if protocol == "hf" else ""
    prefix = "tei+" if protocol == "tei" else ""
    base = endpoint(f"{prefix}{base_server.url}{route}", role="baseline", revision=V1)
    target = endpoint(f"{prefix}{target_server.url}{route}", role="target", revision=V2)
    report = run_behaviour(parse_testset(probes()), base, target,
                           task=Task.TEXT_CLASSIFICATION, timeout=60)  # fmt: skip
    check_flips(report)
    if protocol == "tei":  # the same endpoints, compared against the wrong commits
        with pytest.raises(IntegrityError, match=f"serves revision {V2}, not the artifact's"):
            run_behaviour(
                parse_testset(probes()),
                endpoint(f"tei+{base_server.url}", role="baseline", revision=V1),
                endpoint(f"tei+{target_server.url}", role="target", revision=V1),
                task=Task.TEXT_CLASSIFICATION, timeout=60,
            )  # fmt: skip


@pytest.mark.hub
@needs_transformers
def test_flipped_inputs_through_the_transformers_runner(folders: tuple[Path, Path]) -> None:
    v1, v2 = folders
    base = TransformersRunner(v1, role="baseline")
    target = TransformersRunner(v2, role="target")
    report = run_behaviour(parse_testset(probes()), base, target,
                           task=Task.TEXT_CLASSIFICATION, timeout=60)  # fmt: skip
    check_flips(report)
    # The pipeline and the NumPy reference agree on every probe, and closely on the scores.
    reference = MiniLMModel(MiniLM.from_dir(v2))
    for text, row in zip(SENTIMENT_PROBES, report.rows, strict=True):
        top = reference.classify(text)[0]
        assert row.target_labels == (top["label"],)
    assert report.wilcoxon_p is not None


@pytest.mark.hub
@needs_transformers
def test_embeddings_through_the_transformers_runner(hf_env: HfEnv) -> None:
    # all-MiniLM-L6-v2 main against v2 (layer 5 and the pooler retrained): per input, the
    # cosine of the pipelines' mean-pooled vectors is the NumPy reference's.
    files = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
             "special_tokens_map.json", "vocab.txt"]  # fmt: skip
    main = Path(snapshot_download(BASE, allow_patterns=files))
    v2 = Path(snapshot_download(BASE, revision="v2", allow_patterns=files))
    texts = SENTIMENT_PROBES[:3]
    testset = parse_testset(json.dumps([{"text": t} for t in texts]).encode())
    report = run_behaviour(
        testset, TransformersRunner(main, role="baseline"), TransformersRunner(v2, role="target"),
        task=Task.FEATURE_EXTRACTION, timeout=60,
    )  # fmt: skip
    before, after = MiniLM.from_dir(main).embed(texts), MiniLM.from_dir(v2).embed(texts)
    expected = [float(a @ b) for a, b in zip(before, after, strict=True)]  # unit vectors
    assert [row.cosine for row in report.rows] == pytest.approx(expected, abs=1e-5)
    assert all(c < 1.0 - 1e-6 for c in expected)  # the change is visible
    assert report.label_shift_rate is None


@needs_transformers
def test_runner_refuses_a_folder_without_a_model(tmp_path: Path) -> None:
    runner = TransformersRunner(tmp_path, role="baseline")
    with pytest.raises(UsageError, match=r"no config\.json"):
        runner.check(Task.TEXT_CLASSIFICATION, timeout=1)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(UsageError, match="cannot load it as a text-classification pipeline"):
        runner.predict(["x"], Task.TEXT_CLASSIFICATION, timeout=1)


def test_runner_without_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)  # import fails as if absent
    runner = TransformersRunner(tmp_path, role="baseline")
    with pytest.raises(UsageError) as info:
        runner.check(Task.TEXT_CLASSIFICATION, timeout=1)
    assert info.value.hint == "pip install 'hubsnap[behaviour]'"
    assert str(info.value) == "--runner transformers needs the transformers and torch packages"
