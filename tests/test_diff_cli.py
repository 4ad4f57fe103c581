"""``hubsnap diff`` on artifacts built in the test: sharded against single-file weights,
malformed files (exit 6 naming file and fault), ``--fail-on`` (exit 1 and 2), formats,
``-o``, the ``--baseline``/``--target`` aliases and identical artifacts read no layer."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from safetensors.numpy import save

from hubsnap.digest import Digest
from support.registry import build_model, run_cli

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[1] / "schemas" / "diff.schema.json").read_text()
)
RNG = np.random.default_rng(3)
TENSORS = {f"layer.{i}.weight": RNG.standard_normal((16, 8)).astype(np.float32) for i in range(4)}


def _sharded(tensors: dict[str, np.ndarray]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    weight_map: dict[str, str] = {}
    for i, (name, array) in enumerate(sorted(tensors.items())):
        shard = f"model-{i + 1:05d}-of-{len(tensors):05d}.safetensors"
        files[shard] = save({name: array})
        weight_map[name] = shard
    total = sum(a.nbytes for a in tensors.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    files["model.safetensors.index.json"] = json.dumps(index).encode()
    return files


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "store"
    monkeypatch.setenv("HUBSNAP_STORE", str(root))
    monkeypatch.setenv("HUBSNAP_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HUBSNAP_DEBUG", raising=False)
    return root


CONFIG = json.dumps({"hidden_size": 8, "eos_token_id": 1}).encode()


def test_sharded_and_single_file_weights_with_equal_tensors_are_equal(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    single = build_model(store, {"config.json": CONFIG, "model.safetensors": save(TENSORS)})
    sharded = build_model(store, {"config.json": CONFIG, **_sharded(TENSORS)})
    run = run_cli(["diff", single, sharded, "--json"], capsys)
    assert run.code == 0, run.err
    report = json.loads(run.out)
    jsonschema.validate(report, SCHEMA)
    assert report["tensors"] == {
        "added": [], "removed": [], "reshaped": [], "changed": [], "unchanged": 4,
        "dequantised": [],
    }  # fmt: skip
    assert report["files"]["removed"] == ["model.safetensors"]
    assert len(report["files"]["added"]) == 5
    assert report["config"] == {"added": [], "removed": [], "changed": []}


def test_a_perturbed_shard_is_the_one_changed_tensor(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    changed = dict(TENSORS)
    changed["layer.2.weight"] = TENSORS["layer.2.weight"] + np.float32(0.5)
    single = build_model(store, {"model.safetensors": save(TENSORS)})
    sharded = build_model(store, _sharded(changed))
    run = run_cli(["diff", "--baseline", single, "--target", sharded, "--format", "json"], capsys)
    assert run.code == 0, run.err
    (change,) = json.loads(run.out)["tensors"]["changed"]
    assert change["name"] == "layer.2.weight"
    assert change["file"] == "model-00003-of-00004.safetensors"
    assert change["max_abs_diff"] == pytest.approx(0.5)
    assert change["mean_abs_diff"] == pytest.approx(0.5)


def test_the_table_says_when_tensor_values_were_not_compared(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    changed = dict(TENSORS)
    changed["layer.2.weight"] = TENSORS["layer.2.weight"] + np.float32(0.5)
    a = build_model(store, {"model.safetensors": save(TENSORS)})
    b = build_model(store, {"model.safetensors": save(changed)})
    headers = run_cli(["diff", a, b, "--levels", "headers"], capsys)
    assert headers.code == 0, headers.err
    assert (
        "tensors: 0 added, 0 removed, 0 reshaped (values not compared: --levels tensors "
        "compares them)" in headers.out.splitlines()
    )
    values = run_cli(["diff", a, b, "--levels", "tensors"], capsys)
    assert "tensors: 0 added, 0 removed, 0 reshaped, 1 changed, 3 unchanged" in values.out


def _raw(header: bytes, data: bytes) -> bytes:
    return struct.pack("<Q", len(header)) + header + data


def _one_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert 1 <= len(lines) <= 2 and lines[0].startswith("error: "), err
    assert len(lines) == 1 or lines[1].startswith("hint: ")
    return lines[0]


@pytest.mark.parametrize(
    ("files", "fault"),
    [
        (
            {
                "model.safetensors": _raw(
                    b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
                    b'"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}',
                    b"\0",
                ),
            },
            "malformed safetensors file model.safetensors: key 'a' appears twice",
        ),
        (
            {"model.safetensors": struct.pack("<Q", 2**40) + b"{}"},
            "malformed safetensors file model.safetensors: header length 1099511627776 is "
            "over the 100 MB limit",
        ),
        (
            {
                "model-00001-of-00002.safetensors": save({"a": np.zeros(2, np.float32)}),
                "model.safetensors.index.json": json.dumps(
                    {
                        "weight_map": {
                            "a": "model-00001-of-00002.safetensors",
                            "b": "model-00002-of-00002.safetensors",
                        }
                    }
                ).encode(),
            },
            "malformed safetensors index model.safetensors.index.json: shard "
            "model-00002-of-00002.safetensors is missing from the artifact",
        ),
        (
            {"config.json": b'{"a": '},
            "config.json of",
        ),
    ],
    ids=["duplicate tensor", "huge header", "missing shard", "bad config"],
)
def test_malformed_files_exit_6_naming_file_and_fault(
    store: Path, capsys: pytest.CaptureFixture[str], files: dict[str, bytes], fault: str
) -> None:
    good = build_model(store, {"model.safetensors": save(TENSORS)})
    bad = build_model(store, files)
    run = run_cli(["diff", good, bad], capsys)
    assert run.code == 6, run.err
    assert fault in _one_error(run.err)
    assert "Traceback" not in run.err and run.out == ""


def test_fail_on_breach_exits_1_with_every_check_listed(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    changed = {**TENSORS, "layer.0.weight": TENSORS["layer.0.weight"] * np.float32(1.01)}
    a = build_model(store, {"config.json": CONFIG, "model.safetensors": save(TENSORS)})
    b = build_model(store, {"config.json": CONFIG, "model.safetensors": save(changed)})
    argv = [
        "diff",
        a,
        b,
        "--json",
        "--fail-on",
        "max_abs_diff>1e-3",
        "--fail-on",
        "config_changed>0",
    ]
    run = run_cli(argv, capsys)
    assert run.code == 1
    checks = json.loads(run.out)["checks"]
    assert [(c["expr"], c["failed"]) for c in checks] == [
        ("max_abs_diff>1e-3", True), ("config_changed>0", False),
    ]  # fmt: skip
    expected = float(np.max(np.abs(changed["layer.0.weight"].astype(np.float64)
                                   - TENSORS["layer.0.weight"])))  # fmt: skip
    assert checks[0]["value"] == pytest.approx(expected)
    assert _one_error(run.err).startswith("error: 1 of 2 checks failed: max_abs_diff>1e-3 (")
    passing = run_cli(["diff", a, b, "--fail-on", "max_abs_diff>10"], capsys)
    assert passing.code == 0, passing.err
    assert "max_abs_diff>10" in passing.out and "ok" in passing.out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--fail-on", "bogus>1"], "unknown metric 'bogus'"),
        (["--fail-on", "max_abs_diff>>1"], "invalid --fail-on"),
        (["--levels", "files", "--fail-on", "max_abs_diff>1"], "the tensors level was not"),
        (["--levels", "files,nope"], "unknown level 'nope'"),
        (["--format", "yaml"], "unknown format 'yaml'"),
        (["--levels", "behaviour"], "needs --testset"),
    ],
)
def test_usage_errors_exit_2(
    store: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    a = build_model(store, {"config.json": CONFIG})
    b = build_model(store, {"config.json": b"{}"})
    run = run_cli(["diff", a, b, *argv], capsys)
    assert run.code == 2, run.err
    assert message in _one_error(run.err)


def test_identical_artifacts_read_no_layer(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    weights = save(TENSORS)
    digest = build_model(store, {"config.json": CONFIG, "model.safetensors": weights})
    from hubsnap.digest import sha256_bytes

    blob = store / "blobs" / "sha256" / sha256_bytes(weights).hex
    blob.chmod(0o644)
    blob.write_bytes(b"\xff" * len(weights))  # the same size: any read of it would fail
    checks = ["--fail-on", "tensors_changed>0", "--fail-on", "files_changed>0"]
    run = run_cli(["diff", digest, f"oci:{store}@{digest}", "--json", *checks], capsys)
    assert run.code == 0, run.err
    report = json.loads(run.out)
    jsonschema.validate(report, SCHEMA)
    assert report["identical"] is True
    assert report["files"] == {"added": [], "removed": [], "changed": [], "unchanged": 2}
    assert [c["failed"] for c in report["checks"]] == [False, False]
    other = build_model(store, {"config.json": CONFIG, "model.safetensors": save({})})
    broken = run_cli(["diff", digest, other], capsys)
    assert broken.code == 6
    assert "malformed safetensors file model.safetensors" in broken.err


def test_markdown_and_output_file(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = build_model(store, {"config.json": CONFIG})
    b = build_model(store, {"config.json": json.dumps({"hidden_size": 9}).encode()})
    out = tmp_path / "report.md"
    run = run_cli(["diff", a, b, "--format", "markdown", "-o", str(out)], capsys)
    assert run.code == 0, run.err
    assert run.out == "" and f"wrote {out}" in run.err
    text = out.read_text()
    assert text.startswith("## hubsnap diff")
    assert "| ~ | config.json:hidden_size | 8 | 9 |" in text
    assert "| - | config.json:eos_token_id | 1 |  |" in text


def test_missing_digest_is_not_found(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = build_model(store, {"config.json": CONFIG})
    run = run_cli(["diff", a, str(Digest.sha256("0" * 64))], capsys)
    assert run.code == 3
    _one_error(run.err)


@pytest.mark.registry
def test_registry_artifacts_are_pulled_once_then_compared(
    registry: object, repo_name: str, transfer_env: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from hubsnap.digest import sha256_bytes
    from support.registry import RegistryServer, push_model

    assert isinstance(registry, RegistryServer)
    changed = {**TENSORS, "layer.1.weight": TENSORS["layer.1.weight"] * np.float32(2)}
    one = push_model(f"{registry.host}/{repo_name}:one", {
        "config.json": CONFIG, "model.safetensors": save(TENSORS),
    }, tmp_path / "a", capsys)  # fmt: skip
    two = push_model(f"{registry.host}/{repo_name}:two", {
        "config.json": CONFIG, "model.safetensors": save(changed),
    }, tmp_path / "b", capsys)  # fmt: skip
    base, target = f"{registry.host}/{repo_name}@{one}", f"{registry.host}/{repo_name}:two"
    twins = run_cli(["diff", base, f"{registry.host}/{repo_name}:one", "--json",
                     "--fail-on", "tensors_changed>0"], capsys)  # fmt: skip
    assert twins.code == 0, twins.err
    same = json.loads(twins.out)
    jsonschema.validate(same, SCHEMA)
    assert same["identical"] is True and same["files"]["unchanged"] == 2
    assert same["special_ids"] is None  # its config files were never fetched
    assert 0 < same["bytes_received"] < 4096  # two manifests, no layer
    weights = transfer_env / "store" / "blobs" / "sha256" / sha256_bytes(save(TENSORS)).hex
    assert not weights.exists()
    first = run_cli(["diff", base, target, "--json"], capsys)
    assert first.code == 0, first.err
    report = json.loads(first.out)
    jsonschema.validate(report, SCHEMA)
    assert report["target"] == {"reference": target, "digest": two}
    assert [c["name"] for c in report["tensors"]["changed"]] == ["layer.1.weight"]
    assert report["bytes_received"] > 2 * len(save(TENSORS))
    again = run_cli(["diff", base, target, "--json"], capsys)
    assert again.code == 0, again.err
    assert json.loads(again.out)["bytes_received"] == 0  # the store holds both already
    local = run_cli(["diff", one, two, "--json"], capsys)  # now in the local store by digest
    assert local.code == 0 and "bytes_received" not in json.loads(local.out)


def test_identical_artifacts_load_no_numpy(store: Path) -> None:
    """Two sides naming one manifest answer without the tensor machinery: numpy (a tenth of
    a second or more of start-up) is never imported."""
    import subprocess
    import sys

    digest = build_model(store, {"config.json": CONFIG, "model.safetensors": save(TENSORS)})
    probe = (
        "import sys\nfrom hubsnap.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "assert 'numpy' not in sys.modules, 'numpy was imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, "diff", digest, digest, "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["identical"] is True
