"""The diff levels on small sides built in the test: config and card key paths, tokenizer,
the eos/bos/pad cross-check, safetensors headers and tensor values (statistics computed
independently here, from the arrays)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import save

from hubsnap.diff.card import diff_card
from hubsnap.diff.config import diff_config
from hubsnap.diff.dtypes import decode
from hubsnap.diff.files import Side, diff_files
from hubsnap.diff.tensors import diff_tensors, side_tensors
from hubsnap.diff.tokenizer import cross_check, diff_tokenizer
from hubsnap.errors import IntegrityError
from support.diff_sides import side


def test_files_compare_by_digest(tmp_path: Path) -> None:
    a = side(tmp_path, "a", {"x": "1", "y": "2", "z": "3"})
    b = side(tmp_path, "b", {"x": "1", "y": "22", "w": "4"})
    assert diff_files(a, b).to_json() == {
        "added": ["w"], "removed": ["z"], "changed": ["y"], "unchanged": 1,
    }  # fmt: skip


def test_config_dotted_paths(tmp_path: Path) -> None:
    base = {"a": 1, "flag": True, "n": {"x": 1, "deep": {"y": 2}}, "l": [1, 2], "gone": {"k": 1}}
    target = {"a": 1.0, "flag": 1, "n": {"x": 2, "deep": {"y": 2, "z": 3}}, "l": [1, 3], "new": {}}
    diff = diff_config(
        side(tmp_path, "a", {"config.json": base, "generation_config.json": {"max_length": 20}}),
        side(tmp_path, "b", {"config.json": target}),
    )
    assert diff is not None
    out = diff.to_json()
    assert out["added"] == [
        {"file": "config.json", "path": "n.deep.z", "value": 3},
        {"file": "config.json", "path": "new", "value": {}},
    ]
    assert out["removed"] == [
        {"file": "config.json", "path": "gone", "value": {"k": 1}},
        {"file": "generation_config.json", "path": "max_length", "value": 20},
    ]
    assert [c["path"] for c in out["changed"]] == ["flag", "l", "n.x"]


def test_malformed_config_is_an_integrity_error(tmp_path: Path) -> None:
    with pytest.raises(IntegrityError, match=r"config\.json of b is not valid JSON"):
        diff_config(side(tmp_path, "a", {}), side(tmp_path, "b", {"config.json": "{"}))


def test_card_front_matter(tmp_path: Path) -> None:
    card = "---\nlicense: mit\ntags:\n- a\ndate: 2024-01-02\n---\n# body\n"
    new = "---\nlicense: apache-2.0\ntags:\n- a\ndate: 2024-01-02\n---\n# other body\n"
    diff = diff_card(
        side(tmp_path, "a", {"README.md": card}), side(tmp_path, "b", {"README.md": new})
    )
    assert diff is not None
    assert diff.to_json()["changed"] == [
        {"file": "README.md", "path": "license", "base": "mit", "target": "apache-2.0"}
    ]


def test_tokenizer_vocabulary_specials_and_template(tmp_path: Path) -> None:
    base = side(tmp_path, "a", {
        "vocab.txt": "[PAD]\n[UNK]\nhello\nworld\n",
        "tokenizer_config.json": {"pad_token": "[PAD]", "chat_template": "{{ a }}"},
    })  # fmt: skip
    target = side(tmp_path, "b", {
        "vocab.txt": "[PAD]\n[UNK]\nhello\nthere\n",
        "added_tokens.json": {"[DOC]": 4},
        "tokenizer_config.json": {"pad_token": "[UNK]", "chat_template": "{{ b }}"},
    })  # fmt: skip
    diff = diff_tokenizer(base, target)
    assert diff is not None
    out = diff.to_json()
    assert out["vocab_size"] == {"base": 4, "target": 5}
    assert out["added_tokens"] == ["[DOC]", "there"]
    assert out["removed_tokens"] == ["world"]
    assert out["special_tokens"] == [{"name": "pad_token", "base": "[PAD]", "target": "[UNK]"}]
    assert out["chat_template_changed"] is True
    assert out["normalizer_changed"] is None


def test_special_ids_drift_is_caught(tmp_path: Path) -> None:
    files = {
        "config.json": {"eos_token_id": 128001, "bos_token_id": 1},
        "generation_config.json": {"eos_token_id": [128001, 128009], "bos_token_id": 1},
        "tokenizer.json": {
            "model": {"vocab": {"<s>": 1}},
            "added_tokens": [{"id": 128009, "content": "<|eot_id|>"}],
        },
        "tokenizer_config.json": {"eos_token": "<|eot_id|>", "bos_token": "<s>"},
    }
    checks = {c.name: c for c in cross_check(side(tmp_path, "a", files), "target")}
    assert checks["bos"].consistent
    assert not checks["eos"].consistent
    assert checks["eos"].values["tokenizer_config.json"] == {"token": "<|eot_id|>", "id": 128009}
    assert "pad" not in checks


# -- tensors ------------------------------------------------------------------------------------


def _expected(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    x, y = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    d = y - x
    return {
        "max_abs_diff": float(np.max(np.abs(d))),
        "mean_abs_diff": float(np.mean(np.abs(d))),
        "rel_l2": float(np.linalg.norm(d) / np.linalg.norm(x)),
        "cosine": float(np.dot(x, y) / (np.linalg.norm(x) * np.linalg.norm(y))),
    }


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int8, np.int64])
def test_changed_tensor_statistics(tmp_path: Path, dtype: type[np.number[Any]]) -> None:
    rng = np.random.default_rng(7)
    a = (rng.standard_normal((64, 33)) * 10).astype(dtype)
    b = a.copy()
    b[3, :5] += 1
    same = np.arange(10, dtype=np.float32)
    base = side(tmp_path, "a", {"model.safetensors": save({"w": a, "s": same})})
    target = side(tmp_path, "b", {"model.safetensors": save({"w": b, "s": same})})
    diff = diff_tensors(side_tensors(base) or {}, side_tensors(target) or {}, values=True)
    assert diff.unchanged == 1 and diff.changed is not None
    (change,) = diff.changed
    got = change.to_json()
    for key, value in _expected(a, b).items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert got["name"] == "w" and got["shape"] == [64, 33] and got["nan_count"] == 0


def test_bf16_and_fp8_decode_without_torch() -> None:
    values = np.array([1.0, -2.5, 3.140625, 0.0], dtype=np.float32)
    bf16 = (values.view(np.uint32) >> 16).astype("<u2").view(np.uint8)
    assert decode(bf16, "BF16").tolist() == values.tolist()
    codes = np.array([0x7E, 0x7F, 0x01, 0xBE], dtype=np.uint8)
    e4m3 = decode(codes, "F8_E4M3")
    assert e4m3[0] == 448.0 and math.isnan(e4m3[1]) and e4m3[2] == 2.0**-9
    assert e4m3[3] == -1.75
    e5m2 = decode(np.array([0x7B, 0x7C, 0x7D], dtype=np.uint8), "F8_E5M2")
    assert e5m2[0] == 57344.0 and e5m2[1] == math.inf and math.isnan(e5m2[2])
    fnuz = decode(np.array([0x7F, 0x80, 0x00], dtype=np.uint8), "F8_E4M3FNUZ")
    assert fnuz[0] == 240.0 and math.isnan(fnuz[1]) and fnuz[2] == 0.0
    assert decode(np.array([127, 255], dtype=np.uint8), "F8_E8M0")[0] == 1.0


def _bf16_file(values: np.ndarray) -> bytes:
    raw = (values.astype(np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
    header = json.dumps(
        {"w": {"dtype": "BF16", "shape": list(values.shape), "data_offsets": [0, len(raw)]}}
    ).encode()
    header += b" " * (-len(header) % 8)
    return len(header).to_bytes(8, "little") + header + raw


def test_bf16_tensor_statistics_and_nan_counts(tmp_path: Path) -> None:
    a = np.linspace(-4, 4, 300, dtype=np.float32)
    b = a.copy()
    b[10] = 1.0
    b[11] = np.nan
    base = side(tmp_path, "a", {"model.safetensors": _bf16_file(a)})
    target = side(tmp_path, "b", {"model.safetensors": _bf16_file(b)})
    diff = diff_tensors(side_tensors(base) or {}, side_tensors(target) or {}, values=True)
    (change,) = diff.changed or ()
    expected_a = decode(np.frombuffer(_bf16_file(a)[-600:], np.uint8), "BF16")
    expected_b = decode(np.frombuffer(_bf16_file(b)[-600:], np.uint8), "BF16")
    keep = np.isfinite(expected_b)
    assert change.nan_count == 1 and change.base_nan_count == 0
    assert change.max_abs_diff == pytest.approx(
        float(np.max(np.abs(expected_b[keep] - expected_a[keep])))
    )


def test_cosine_of_near_identical_tensors_is_exact(tmp_path: Path) -> None:
    a = np.array([1.0, 0.0], dtype=np.float32)
    b = np.array([1.0, 1e-8], dtype=np.float32)
    diff = diff_tensors(
        side_tensors(side(tmp_path, "a", {"m.safetensors": save({"w": a})})) or {},
        side_tensors(side(tmp_path, "b", {"m.safetensors": save({"w": b})})) or {},
        values=True,
    )
    (change,) = diff.changed or ()
    y = float(np.float32(1e-8))
    assert change.cosine_distance == pytest.approx(1 - 1 / math.sqrt(1 + y * y), rel=1e-6)
    assert change.cosine_distance is not None and change.cosine_distance > 0


def test_sharded_and_single_file_with_equal_tensors_are_equal(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    tensors = {
        f"layer.{i}.weight": rng.standard_normal((8, 8)).astype(np.float32) for i in range(4)
    }
    single = side(tmp_path, "a", {"model.safetensors": save(tensors)})
    shards: dict[str, bytes | str | object] = {}
    weight_map = {}
    total = 0
    for i, (name, array) in enumerate(tensors.items()):
        shard = f"model-{i + 1:05d}-of-00004.safetensors"
        shards[shard] = save({name: array})
        weight_map[name] = shard
        total += array.nbytes
    shards["model.safetensors.index.json"] = {
        "metadata": {"total_size": total}, "weight_map": weight_map,
    }  # fmt: skip
    sharded = side(tmp_path, "b", shards)
    diff = diff_tensors(side_tensors(single) or {}, side_tensors(sharded) or {}, values=True)
    assert diff.to_json() == {
        "added": [], "removed": [], "reshaped": [], "changed": [], "unchanged": 4,
        "dequantised": [],
    }  # fmt: skip


def test_reshaped_added_removed(tmp_path: Path) -> None:
    base = side(tmp_path, "a", {"m.safetensors": save({
        "w": np.zeros((2, 2), np.float32), "q": np.zeros(3, np.float32),
        "old": np.zeros(1, np.int8),
    })})  # fmt: skip
    target = side(tmp_path, "b", {"m.safetensors": save({
        "w": np.zeros((2, 3), np.float32), "q": np.zeros(3, np.int8), "new": np.zeros(1, np.int8),
    })})  # fmt: skip
    out = diff_tensors(side_tensors(base) or {}, side_tensors(target) or {}, values=False).to_json()
    assert out["added"] == ["new"] and out["removed"] == ["old"]
    assert out["reshaped"] == [
        {"file": "m.safetensors", "name": "q",
         "base": {"dtype": "F32", "shape": [3]}, "target": {"dtype": "I8", "shape": [3]}},
        {"file": "m.safetensors", "name": "w",
         "base": {"dtype": "F32", "shape": [2, 2]}, "target": {"dtype": "F32", "shape": [2, 3]}},
    ]  # fmt: skip
    assert out["changed"] is None and out["unchanged"] is None


def test_malformed_weights_name_file_and_side(tmp_path: Path) -> None:
    bad = side(tmp_path, "b", {"sub/model.safetensors": b"\x08" + b"\0" * 7 + b" {}     "})
    with pytest.raises(IntegrityError) as info:
        side_tensors(bad)
    assert info.value.message.startswith("malformed safetensors file sub/model.safetensors: ")
    assert info.value.hint == "in b"


def _quantised_side(tmp_path: Path, name: str, tensors: dict[str, np.ndarray]) -> Side:
    config = {
        "quantization_config": {"quant_method": "compressed-tensors", "format": "int-quantized"}
    }
    return side(tmp_path, name, {"config.json": config, "model.safetensors": save(tensors)})


@pytest.mark.parametrize("layout", ["tensor", "channel", "group"])
def test_dequantised_comparison_follows_the_scale_layout(tmp_path: Path, layout: str) -> None:
    from hubsnap.diff.quant import compare_dequantised

    rng = np.random.default_rng(5)
    w = rng.standard_normal((6, 8)).astype(np.float32)
    shape = {"tensor": (1,), "channel": (6, 1), "group": (6, 2)}[layout]
    scale = (rng.random(shape) * 0.05 + 0.01).astype(np.float32)
    zero = rng.integers(-3, 3, shape).astype(np.int8)
    full_scale = np.repeat(scale, 4, axis=1) if layout == "group" else scale
    full_zero = np.repeat(zero, 4, axis=1) if layout == "group" else zero
    q = np.clip(np.rint(w / full_scale) + full_zero, -127, 127).astype(np.int8)
    base = side(tmp_path, "a", {"model.safetensors": save({"l.weight": w})})
    target = _quantised_side(tmp_path, "b", {
        "l.weight": q, "l.weight_scale": scale, "l.weight_zero_point": zero,
    })  # fmt: skip
    before, after = side_tensors(base) or {}, side_tensors(target) or {}
    diff = diff_tensors(before, after, values=True)
    (change,) = compare_dequantised(before, after, diff.reshaped, (False, True))
    expected = (q.astype(np.float64) - full_zero) * full_scale.astype(np.float64)
    assert change.dtype == "F32->I8"
    assert change.max_abs_diff == pytest.approx(float(np.max(np.abs(expected - w))), rel=1e-12)


def test_an_unknown_scale_layout_is_not_guessed(tmp_path: Path) -> None:
    from hubsnap.diff.quant import compare_dequantised

    w = np.ones((4, 6), np.float32)
    target = _quantised_side(tmp_path, "b", {
        "l.weight": np.ones((4, 6), np.int8), "l.weight_scale": np.ones((5,), np.float32),
    })  # fmt: skip
    before = side_tensors(side(tmp_path, "a", {"model.safetensors": save({"l.weight": w})})) or {}
    after = side_tensors(target) or {}
    diff = diff_tensors(before, after, values=True)
    assert len(diff.reshaped) == 1
    assert compare_dequantised(before, after, diff.reshaped, (False, True)) == ()


@pytest.mark.parametrize("dtype", ["F32", "BF16"])
def test_statistics_accumulate_across_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dtype: str
) -> None:
    import hubsnap.diff.tensors as tensors_module

    monkeypatch.setattr(tensors_module, "VALUE_CHUNK", 7)
    monkeypatch.setattr(tensors_module, "COMPARE_CHUNK", 16)
    rng = np.random.default_rng(11)
    a = rng.standard_normal(100).astype(np.float32)
    b = a + rng.standard_normal(100).astype(np.float32) * np.float32(0.01)
    b[50], b[93] = np.nan, np.inf
    make = _bf16_file if dtype == "BF16" else (lambda v: save({"w": v}))
    base = side(tmp_path, "a", {"model.safetensors": make(a)})
    target = side(tmp_path, "b", {"model.safetensors": make(b)})
    (change,) = (
        diff_tensors(side_tensors(base) or {}, side_tensors(target) or {}, values=True).changed
        or ()
    )
    raw = {n: s.read_small("model.safetensors") for n, s in (("a", base), ("b", target))}
    x, y = (
        decode(
            np.frombuffer(raw[n] or b"", np.uint8)[-len(a) * (2 if dtype == "BF16" else 4) :], dtype
        )
        for n in ("a", "b")
    )
    keep = np.isfinite(x) & np.isfinite(y)
    d = y[keep] - x[keep]
    assert change.nan_count == 1 and change.inf_count == 1
    assert change.max_abs_diff == pytest.approx(float(np.max(np.abs(d))), rel=1e-12)
    assert change.mean_abs_diff == pytest.approx(float(np.mean(np.abs(d))), rel=1e-12)
    assert change.rel_l2 == pytest.approx(
        float(np.linalg.norm(d) / np.linalg.norm(x[keep])), rel=1e-9
    )
    cosine = float(np.dot(x[keep], y[keep]) / (np.linalg.norm(x[keep]) * np.linalg.norm(y[keep])))
    assert change.cosine == pytest.approx(cosine, abs=1e-12)


def test_statistics_run_on_the_calling_thread_without_blas(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """numpy's dot, inner, vdot and matmul are BLAS, whose thread pool spins on every core
    for each large vector: on a busy machine that made a diff five to ten times slower. The
    statistics use none of them, and stay exact to float64 rounding."""

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("BLAS reached from the tensor statistics")

    for name in ("dot", "inner", "vdot", "matmul"):
        monkeypatch.setattr(np, name, refuse)
    rng = np.random.default_rng(5)
    a = rng.standard_normal(300_000).astype(np.float32)
    b = a + rng.standard_normal(300_000).astype(np.float32) * np.float32(1e-4)
    base = side(tmp_path, "a", {"model.safetensors": save({"w": a})})
    target = side(tmp_path, "b", {"model.safetensors": save({"w": b})})
    (change,) = (
        diff_tensors(side_tensors(base) or {}, side_tensors(target) or {}, values=True).changed
        or ()
    )
    monkeypatch.undo()
    x, y = a.astype(np.float64), b.astype(np.float64)
    d = y - x
    assert change.rel_l2 == pytest.approx(math.sqrt(math.fsum(d * d) / math.fsum(x * x)), rel=1e-12)
    exact = 1 - math.fsum(x * y) / math.sqrt(math.fsum(x * x) * math.fsum(y * y))
    assert change.cosine_distance == pytest.approx(exact, rel=1e-6)
