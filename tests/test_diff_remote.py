"""``hubsnap diff`` against registries, remote-first: the structural levels read small files
and safetensors headers (HTTP ``Range``), never the weights, and say what they received.

Against the Debian registry (distribution, which honours ``Range``) with 64 MiB of weights
a side, and against a registry that ignores ``Range`` and answers ``200`` with the whole
blob (1 GiB, generated as it is sent): the diff still reads only the headers' bytes.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from safetensors.numpy import save

from hubsnap.digest import sha256_bytes
from support.hostile_registry import HonestRoutes, Reply, Seen, hostile_server
from support.registry import RegistryServer, push_model, run_cli

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[1] / "schemas" / "diff.schema.json").read_text()
)
STRUCTURE = "files,config,tokenizer,card,headers"
MiB = 1024 * 1024
#: 4096 x 4096 float32: 64 MiB of weights.
BIG = (4096, 4096)


def _tokenizer(vocab: list[str]) -> bytes:
    model = {"type": "WordLevel", "vocab": {t: i for i, t in enumerate(vocab)}}
    return json.dumps({"model": model, "added_tokens": [], "normalizer": None}).encode()


def _card(license_name: str) -> bytes:
    return f"---\nlicense: {license_name}\npipeline_tag: fill-mask\n---\n# tiny\n".encode()


def _base_files() -> dict[str, bytes]:
    weights = {
        "embed": np.zeros(BIG, dtype=np.float32),
        "head": np.arange(16, dtype=np.float32).reshape(4, 4),
        "old": np.ones(2, dtype=np.float32),
    }
    return {
        "config.json": json.dumps({"hidden_size": 4096, "eos_token_id": 2}).encode(),
        "generation_config.json": json.dumps({"eos_token_id": 2}).encode(),
        "tokenizer.json": _tokenizer(["a", "b", "</s>"]),
        "tokenizer_config.json": json.dumps({"eos_token": "</s>"}).encode(),
        "README.md": _card("mit"),
        "model.safetensors": save(weights),
    }


def _target_files() -> dict[str, bytes]:
    """The base's model, sharded in two behind an index: ``embed`` changed in value (same
    header), ``head`` reshaped, ``old`` removed, ``new`` added; eos moved to 3 in the configs
    but not in the tokenizer."""
    first: dict[str, np.ndarray] = {"embed": np.full(BIG, 0.5, dtype=np.float32)}
    second: dict[str, np.ndarray] = {
        "head": np.arange(16, dtype=np.float32).reshape(2, 8),
        "new": np.ones(3, dtype=np.float16),
    }
    shards: dict[str, dict[str, np.ndarray]] = {
        "model-00001-of-00002.safetensors": first,
        "model-00002-of-00002.safetensors": second,
    }
    weight_map = {name: shard for shard, tensors in shards.items() for name in tensors}
    total = sum(a.nbytes for tensors in shards.values() for a in tensors.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    return {
        "config.json": json.dumps({"hidden_size": 4096, "eos_token_id": 3}).encode(),
        "generation_config.json": json.dumps({"eos_token_id": 3}).encode(),
        "tokenizer.json": _tokenizer(["a", "b", "</s>", "c"]),
        "tokenizer_config.json": json.dumps({"eos_token": "</s>"}).encode(),
        "README.md": _card("apache-2.0"),
        "model.safetensors.index.json": json.dumps(index).encode(),
        **{name: save(tensors) for name, tensors in shards.items()},
    }


EXPECTED_TENSORS = {
    "added": ["new"],
    "removed": ["old"],
    "reshaped": [
        {
            "file": "model-00002-of-00002.safetensors",
            "name": "head",
            "base": {"dtype": "F32", "shape": [4, 4]},
            "target": {"dtype": "F32", "shape": [2, 8]},
        }
    ],
    "changed": None,
    "unchanged": None,
    "dequantised": [],
}


@pytest.mark.registry
def test_structure_of_large_registry_artifacts_moves_only_small_files_and_headers(
    registry: RegistryServer, repo_name: str, transfer_env: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    base_files, target_files = _base_files(), _target_files()
    weights = [data for name, data in (*base_files.items(), *target_files.items())
               if name.endswith(".safetensors")]  # fmt: skip
    assert all(len(w) >= 64 * MiB for w in weights[:2])
    one = push_model(f"{registry.host}/{repo_name}:one", base_files, tmp_path / "a", capsys)
    push_model(f"{registry.host}/{repo_name}:two", target_files, tmp_path / "b", capsys)
    base, target = f"{registry.host}/{repo_name}@{one}", f"{registry.host}/{repo_name}:two"
    run = run_cli(["diff", base, target, "--levels", STRUCTURE, "--json"], capsys)
    assert run.code == 0, run.err
    report = json.loads(run.out)
    jsonschema.validate(report, SCHEMA)
    small = sum(
        len(data) for files in (base_files, target_files) for name, data in files.items()
        if not name.endswith(".safetensors")
    )  # fmt: skip
    assert small < report["bytes_received"] < 2 * MiB
    assert report["tensors"] == EXPECTED_TENSORS
    assert report["files"] == {
        "added": sorted(n for n in target_files if n not in base_files),
        "removed": ["model.safetensors"],
        "changed": ["README.md", "config.json", "generation_config.json", "tokenizer.json"],
        "unchanged": 1,
    }
    assert report["config"]["changed"] == [
        {"file": "config.json", "path": "eos_token_id", "base": 2, "target": 3},
        {"file": "generation_config.json", "path": "eos_token_id", "base": 2, "target": 3},
    ]
    assert report["card"]["changed"] == [
        {"file": "README.md", "path": "license", "base": "mit", "target": "apache-2.0"}
    ]
    assert report["tokenizer"]["added_tokens"] == ["c"]
    assert report["tokenizer"]["vocab_size"] == {"base": 3, "target": 4}
    eos = {(s["side"], s["name"]): s["consistent"] for s in report["special_ids"]}
    assert eos == {("base", "eos"): True, ("target", "eos"): False}
    store = transfer_env / "store" / "blobs" / "sha256"
    assert not any((store / sha256_bytes(w).hex).exists() for w in weights)


def _header(tensors: dict[str, tuple[str, list[int], int]]) -> bytes:
    """A safetensors header for tensors given as (dtype, shape, nbytes), in order."""
    document, offset = {}, 0
    for name, (dtype, shape, nbytes) in tensors.items():
        document[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    raw = json.dumps(document).encode()
    return struct.pack("<Q", len(raw)) + raw


def _zeros_after(prefix: bytes, size: int, served: list[int]) -> Iterator[bytes]:
    """``prefix``, then zeros up to ``size`` bytes, made as they are sent (and counted)."""
    served.append(len(prefix))
    yield prefix
    left = size - len(prefix)
    piece = b"\0" * 65536
    while left > 0:
        chunk = piece[: min(left, len(piece))]
        left -= len(chunk)
        served.append(len(chunk))
        yield chunk


def test_a_registry_ignoring_range_costs_the_header_not_the_blob(
    transfer_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gib = 1 << 30
    headers = {
        "one": _header({"w": ("F32", [gib // 4], gib), "gone": ("F32", [2], 8)}),
        "two": _header({"w": ("F16", [gib // 2], gib), "more": ("I8", [8], 8)}),
    }
    honest = HonestRoutes()
    large: dict[str, tuple[bytes, int]] = {}
    digests = {}
    for name, header in headers.items():
        size = len(header) + gib + 8
        fake = f"sha256:{sha256_bytes(name.encode()).hex}"  # never read whole: never checked
        large[fake] = (header, size)
        digests[name] = honest.add_model(
            {"config.json": json.dumps({"name": name}).encode()},
            external={"model.safetensors": (fake, size)},
        )
    served: list[int] = []
    ranges: list[str | None] = []

    def route(seen: Seen) -> Reply:
        digest = seen.path.rsplit("/", 1)[-1]
        if "/blobs/" in seen.path and digest in large:
            ranges.append(seen.headers.get("range"))
            header, size = large[digest]  # Range ignored: the whole blob, every time
            return Reply(200, [("Content-Length", str(size))], _zeros_after(header, size, served))
        return honest(seen)

    with hostile_server(route) as server:
        base, target = (f"{server.host}/m@{digests[n]}" for n in ("one", "two"))
        run = run_cli(["diff", base, target, "--levels", "headers", "--json"], capsys)
        sent = server.bytes_sent
    assert run.code == 0, run.err
    report = json.loads(run.out)
    jsonschema.validate(report, SCHEMA)
    assert report["tensors"]["added"] == ["more"] and report["tensors"]["removed"] == ["gone"]
    assert [r["name"] for r in report["tensors"]["reshaped"]] == ["w"]
    assert ranges == ["bytes=0-7", f"bytes=8-{len(headers['one']) - 1}",
                      "bytes=0-7", f"bytes=8-{len(headers['two']) - 1}"]  # fmt: skip
    assert report["bytes_received"] < MiB
    # What left the server is bounded by the socket buffers, not by the 2 GiB asked twice.
    assert sent < 64 * MiB and sum(served) < 64 * MiB


def _one_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert lines[0].startswith("error: ") and len(lines) <= 2, err
    assert "Traceback" not in err
    return lines[0]


#: (safetensors header, config bytes served instead of the real ones, the fault, how many
#: times the weights blob is asked for)
Lie = tuple[bytes, bytes | None, str, int]
LIES: dict[str, Lie] = {
    "over-100MB": (struct.pack("<Q", 200_000_000), None, "header length 200000000 is over", 1),
    "past-the-end": (struct.pack("<Q", 1000), None, "runs past the end of the file", 1),
    "bad-json": (_header({"w": ("F32", [4], 16)})[:-1] + b"!", None, "invalid JSON", 2),
    "tampered-config": (_header({"w": ("F32", [4], 16)}), b'{"eos": 9}', "digest mismatch", 0),
}


@pytest.mark.parametrize("lie", LIES.values(), ids=LIES.keys())
def test_a_lying_remote_file_exits_6_naming_it_and_asks_no_more(
    lie: Lie, transfer_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header, config_served, fault, blob_reads = lie
    honest = HonestRoutes()
    config = json.dumps({"eos": 1}).encode()
    weights = header + b"\0" * 16
    one = honest.add_model({"config.json": config, "model.safetensors": weights})
    two = honest.add_model({"config.json": json.dumps({"eos": 2}).encode()})
    if config_served is not None:
        honest.blobs[str(sha256_bytes(config))] = config_served
    asked: list[str | None] = []

    def route(seen: Seen) -> Reply:
        if seen.path.endswith(str(sha256_bytes(weights))):
            asked.append(seen.headers.get("range"))
        return honest(seen)

    with hostile_server(route) as server:
        base, target = f"{server.host}/m@{one}", f"{server.host}/m@{two}"
        run = run_cli(["diff", base, target, "--levels", "config,headers"], capsys)
    assert run.code == 6, run.err
    line = _one_error(run.err)
    assert fault in line
    assert ("model.safetensors" if blob_reads else "config.json") in run.err
    assert len(asked) == blob_reads  # a length over the cap or the file is never asked for
    assert not (transfer_env / "store").exists()


def test_blobs_the_local_store_holds_are_read_from_it(
    transfer_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    honest = HonestRoutes()
    weights = save({"w": np.ones(4, dtype=np.float32)})
    one = honest.add_model({"config.json": b'{"eos": 1}', "model.safetensors": weights})
    two = honest.add_model({"config.json": b'{"eos": 2}', "model.safetensors": weights})
    blob_reads: list[str] = []

    def route(seen: Seen) -> Reply:
        if "/blobs/" in seen.path and seen.method == "GET":
            blob_reads.append(seen.path.rsplit("/", 1)[-1])
        return honest(seen)

    with hostile_server(route) as server:
        base, target = f"{server.host}/m@{one}", f"{server.host}/m@{two}"
        assert run_cli(["pull", base], capsys).code == 0
        blob_reads.clear()
        run = run_cli(["diff", base, target, "--levels", "config,headers", "--json"], capsys)
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert report["config"]["changed"] == [
        {"file": "config.json", "path": "eos", "base": 1, "target": 2}
    ]
    assert report["tensors"]["reshaped"] == [] and report["tensors"]["changed"] is None
    assert blob_reads == [str(sha256_bytes(b'{"eos": 2}'))]  # the one blob not held locally
    manifests = sum(len(honest.manifests[d]) for d in (one, two))
    assert report["bytes_received"] == manifests + len(b'{"eos": 2}')


def test_behaviour_through_endpoints_reads_registry_artifacts_remote_first(
    transfer_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from support.inference import InferenceRoutes, ToyModel

    card = b"---\npipeline_tag: text-classification\n---\n# toy\n"  # the task comes from here
    weights = save({"w": np.ones(4, dtype=np.float32)})
    honest = HonestRoutes()
    one = honest.add_model({"README.md": card, "model.safetensors": weights})
    two = honest.add_model({"README.md": card, "config.json": b"{}", "model.safetensors": weights})
    gets: list[str] = []

    def route(seen: Seen) -> Reply:
        if "/blobs/" in seen.path and seen.method == "GET":
            gets.append(seen.path.rsplit("/", 1)[-1])
        return honest(seen)

    testset = tmp_path / "set.jsonl"
    testset.write_text("\n".join(json.dumps({"text": t}) for t in ("a good film", "it was fine")))
    with (
        hostile_server(route) as server,
        hostile_server(InferenceRoutes(ToyModel(1))) as b,
        hostile_server(InferenceRoutes(ToyModel(2))) as t,
    ):
        run = run_cli([
            "diff", f"{server.host}/m@{one}", f"{server.host}/m@{two}", "--levels", "files",
            "--testset", str(testset), "--json",
            "--baseline-endpoint", f"{b.url}/hf/text-classification",
            "--target-endpoint", f"{t.url}/hf/text-classification",
        ], capsys)  # fmt: skip
    assert run.code == 0, run.err
    report = json.loads(run.out)
    jsonschema.validate(report, SCHEMA)
    assert report["files"]["added"] == ["config.json"]
    assert [r["consistent"] for r in report["behaviour"]["rows"]] == [True, False]
    assert str(sha256_bytes(weights)) not in gets  # only the card was read, whole
    assert gets == [str(sha256_bytes(card))]
