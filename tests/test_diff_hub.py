"""``hubsnap diff`` on the Hub emulator's real models: MiniLM ``main`` against ``v2`` (the
changed config keys, the added tokens, the perturbed and resized tensors) and the fine-tune
against its int8 quantisation, every expectation computed here from the files themselves;
and a metadata-only ``snapshot.yaml`` whose weights are known only by hash."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from safetensors.numpy import load

from support.hub import (
    BASE,
    COMMITS,
    FINETUNED,
    QUANTIZED,
    SENTIMENT,
    SENTIMENT_PROBES,
    HubEmulator,
)
from support.inference import InferenceRoutes, MiniLMModel, inference_server
from support.minilm import MiniLM
from support.registry import run_cli

pytestmark = pytest.mark.hub
SCHEMA = json.loads(
    (Path(__file__).resolve().parents[1] / "schemas" / "diff.schema.json").read_text()
)
INCLUDE = ("*.json", "vocab.txt", "README.md", "model.safetensors")


@pytest.fixture(scope="module")
def models(
    hub_emulator: HubEmulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """Snapshots into one store: name → ``oci:STORE@sha256:…`` (and ``.yaml`` documents)."""
    from hubsnap.api.session import Session
    from hubsnap.api.snapshot import snapshot
    from hubsnap.config import Settings
    from hubsnap.snapshot import Selection

    root = tmp_path_factory.mktemp("diff-hub")
    hub_emulator.reset()
    with pytest.MonkeyPatch.context() as patch:
        for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "HUBSNAP_STORE"):
            patch.delenv(name, raising=False)
        patch.setenv("HF_ENDPOINT", hub_emulator.url)
        patch.setenv("HUBSNAP_HOME", str(root / "home"))
        patch.setenv("HF_HOME", str(root / "hf"))
        session = Session(Settings.from_env())
        out: dict[str, str] = {}
        for key, repo, revision, selection in (
            ("main", BASE, "main", Selection(include=INCLUDE)),
            ("v2", BASE, "v2", Selection(include=INCLUDE)),
            ("v2-meta", BASE, "v2", Selection(metadata_only=True)),
            ("finetuned", FINETUNED, "main", Selection(include=INCLUDE)),
            ("int8", QUANTIZED, "main", Selection(include=INCLUDE)),
            ("sentiment-v1", SENTIMENT, "v1", Selection(include=INCLUDE)),
            ("sentiment-v2", SENTIMENT, "v2", Selection(include=INCLUDE)),
        ):
            document = root / f"{key}.yaml"
            result = snapshot(session, repo, revision, selection, output=document)
            assert result.reference is not None
            out[key] = result.reference
            out[f"{key}.yaml"] = str(document)
        session.close()
        out["home"] = str(root / "home")
        yield out


@pytest.fixture
def env(models: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("HUBSNAP_HOME", models["home"])
    for name in ("HUBSNAP_STORE", "HUBSNAP_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    return models


def _files(reference: str) -> dict[str, bytes]:
    """An artifact's files read straight from the OCI layout, path → bytes."""
    layout, _, digest = reference.removeprefix("oci:").rpartition("@")
    blobs = Path(layout) / "blobs" / "sha256"
    manifest = json.loads((blobs / digest.split(":")[1]).read_bytes())
    return {
        layer["annotations"]["org.cncf.model.filepath"]: (
            blobs / layer["digest"].split(":")[1]
        ).read_bytes()
        for layer in manifest["layers"]
    }


def _vocabulary(files: dict[str, bytes]) -> set[str]:
    tokenizer = json.loads(files["tokenizer.json"])
    return set(tokenizer["model"]["vocab"]) | {t["content"] for t in tokenizer["added_tokens"]}


def _diff(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    run = run_cli(["diff", *argv, "--json"], capsys)
    assert run.code == 0, run.err
    report = json.loads(run.out)
    jsonschema.validate(report, SCHEMA)
    return report  # type: ignore[no-any-return]


def test_minilm_main_against_v2(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    report = _diff([env["main"], env["v2"]], capsys)
    base, target = _files(env["main"]), _files(env["v2"])

    changed_files = sorted(p for p in base if p in target and base[p] != target[p])
    assert report["files"]["changed"] == changed_files  # type: ignore[index]

    before, after = json.loads(base["config.json"]), json.loads(target["config.json"])
    keys = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert keys == ["hidden_dropout_prob", "vocab_size"]
    changes = report["config"]["changed"]  # type: ignore[index]
    assert [(c["path"], c["base"], c["target"]) for c in changes] == [
        (k, before[k], after[k]) for k in keys
    ]

    tokenizer = report["tokenizer"]
    added = sorted(_vocabulary(target) - _vocabulary(base))
    assert added == ["[DOC]", "[ENT]", "[QRY]"]
    assert tokenizer["added_tokens"] == added  # type: ignore[index]
    assert tokenizer["removed_tokens"] == []  # type: ignore[index]
    assert tokenizer["vocab_size"] == {  # type: ignore[index]
        "base": len(_vocabulary(base)), "target": len(_vocabulary(target)),
    }  # fmt: skip

    a, b = load(base["model.safetensors"]), load(target["model.safetensors"])
    reshaped = sorted(n for n in a if n in b and a[n].shape != b[n].shape)
    perturbed = sorted(
        n for n in a if n in b and a[n].shape == b[n].shape and not np.array_equal(a[n], b[n])
    )
    assert reshaped == ["embeddings.word_embeddings.weight"] and len(perturbed) == 3
    tensors = report["tensors"]
    assert [r["name"] for r in tensors["reshaped"]] == reshaped  # type: ignore[index]
    assert tensors["unchanged"] == len(a) - len(reshaped) - len(perturbed)  # type: ignore[index]
    by_name = {c["name"]: c for c in tensors["changed"]}  # type: ignore[index]
    assert sorted(by_name) == perturbed
    for name in perturbed:
        x, y = a[name].astype(np.float64).ravel(), b[name].astype(np.float64).ravel()
        d = y - x
        got = by_name[name]
        assert got["max_abs_diff"] == pytest.approx(float(np.max(np.abs(d))), rel=1e-12)
        assert got["mean_abs_diff"] == pytest.approx(float(np.mean(np.abs(d))), rel=1e-9)
        assert got["rel_l2"] == pytest.approx(
            float(np.linalg.norm(d) / np.linalg.norm(x)), rel=1e-9
        )
        cosine = float(np.dot(x, y) / (np.linalg.norm(x) * np.linalg.norm(y)))
        assert got["cosine"] == pytest.approx(cosine, abs=1e-12)
        assert got["nan_count"] == 0 and got["inf_count"] == 0


def test_finetune_against_its_int8_quantisation(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    report = _diff([env["finetuned"], env["int8"]], capsys)
    base, target = _files(env["finetuned"]), _files(env["int8"])
    a, b = load(base["model.safetensors"]), load(target["model.safetensors"])
    reshaped = sorted(
        n for n in a if n in b and (a[n].dtype, a[n].shape) != (b[n].dtype, b[n].shape)
    )
    assert reshaped and all(b[n].dtype == np.int8 for n in reshaped)
    tensors = report["tensors"]
    assert [r["name"] for r in tensors["reshaped"]] == reshaped  # type: ignore[index]
    for entry in tensors["reshaped"]:  # type: ignore[index]
        assert entry["base"]["dtype"] == "F32" and entry["target"]["dtype"] == "I8"
        assert entry["base"]["shape"] == entry["target"]["shape"]
    assert tensors["added"] == sorted(b.keys() - a.keys())  # type: ignore[index]
    assert all(n.endswith("_scale") for n in tensors["added"])  # type: ignore[index]
    assert tensors["removed"] == [] and tensors["changed"] == []  # type: ignore[index]
    dequantised = {c["name"]: c for c in tensors["dequantised"]}  # type: ignore[index]
    assert sorted(dequantised) == reshaped
    for name in reshaped:
        scale = b[name + "_scale"].astype(np.float64)
        w, q = a[name].astype(np.float64), b[name].astype(np.float64) * scale
        got = dequantised[name]
        assert got["dtype"] == "F32->I8"
        assert got["max_abs_diff"] == pytest.approx(float(np.max(np.abs(q - w))), rel=1e-12)
        assert got["max_abs_diff"] <= float(scale[0]) / 2 * (1 + 1e-5)  # float32 rounding
        assert got["rel_l2"] == pytest.approx(
            float(np.linalg.norm(q - w) / np.linalg.norm(w)), rel=1e-9
        )
    config = {c["path"] for c in report["config"]["added"]}  # type: ignore[index]
    assert "quantization_config" in config
    card = {c["path"]: c for c in report["card"]["changed"]}  # type: ignore[index]
    assert card["base_model"]["target"] == FINETUNED
    assert card["base_model_relation"]["target"] == "quantized"


def test_snapshot_documents_compare_weights_known_only_by_hash(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    report = _diff([env["main.yaml"], env["v2-meta.yaml"]], capsys)
    assert "model.safetensors" in report["files"]["changed"]  # type: ignore[index]
    assert report["tensors"] is None  # the target's weights were never downloaded
    assert [c["path"] for c in report["config"]["changed"]] == [  # type: ignore[index]
        "hidden_dropout_prob", "vocab_size",
    ]  # fmt: skip
    same = _diff([env["v2.yaml"], env["v2-meta.yaml"]], capsys)
    assert same["files"]["changed"] == []  # type: ignore[index]


def _probes(tmp_path: Path) -> Path:
    path = tmp_path / "probes.jsonl"
    path.write_text("\n".join(json.dumps({"text": t}) for t in SENTIMENT_PROBES) + "\n")
    return path


def _flipped(report: dict[str, object]) -> list[int]:
    rows = report["behaviour"]["rows"]  # type: ignore[index]
    flipped = [i for i, row in enumerate(rows) if not row["consistent"]]
    for i in flipped:
        assert rows[i]["base_labels"] == ["NEGATIVE"] and rows[i]["target_labels"] == ["POSITIVE"]
    return flipped


def test_sentiment_revisions_flip_two_probes_through_tei_endpoints(
    env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = []
    for key in ("sentiment-v1", "sentiment-v2"):
        folder = tmp_path / key
        folder.mkdir()
        for path, data in _files(env[key]).items():
            (folder / path).write_bytes(data)
        models.append(MiniLMModel(MiniLM.from_dir(folder)))
    v1, v2 = COMMITS[SENTIMENT]["v1"], COMMITS[SENTIMENT]["v2"]
    with (
        inference_server(InferenceRoutes(models[0], sha=v1)) as base,
        inference_server(InferenceRoutes(models[1], sha=v2)) as target,
    ):
        argv = [env["sentiment-v1"], env["sentiment-v2"], "--testset", str(_probes(tmp_path)),
                "--baseline-endpoint", f"tei+{base.url}",
                "--target-endpoint", f"tei+{target.url}"]  # fmt: skip
        report = _diff([*argv, "--levels", "config,behaviour"], capsys)
        assert _flipped(report) == [0, 7]
        assert report["behaviour"]["label_shift_rate"] == 0.25  # type: ignore[index]
        assert report["tensors"] is None and report["config"] is not None
        swapped = run_cli(["diff", env["sentiment-v2"], env["sentiment-v1"], *argv[2:]], capsys)
        assert swapped.code == 6  # each endpoint serves the other side's commit
        assert "not the artifact's" in swapped.err


@pytest.mark.behaviour_extra
@pytest.mark.skipif(
    importlib.util.find_spec("transformers") is None, reason="needs hubsnap[behaviour]"
)
def test_sentiment_revisions_flip_two_probes_through_the_transformers_runner(
    env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [env["sentiment-v1"], env["sentiment-v2"], "--testset", str(_probes(tmp_path)),
            "--runner", "transformers"]  # fmt: skip
    report = _diff(argv, capsys)
    assert _flipped(report) == [0, 7]
    changed = {c["name"] for c in report["tensors"]["changed"]}  # type: ignore[index]
    assert changed == {"classifier.weight", "classifier.bias"}
