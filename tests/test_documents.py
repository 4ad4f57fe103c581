"""Bounded document and value parsers, and the local inputs that used to crash or hang."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hubsnap.canonical import canonical_json, loads_object
from hubsnap.config import parse_duration
from hubsnap.documents import InvalidDocument, dump_yaml, load_json, load_yaml
from hubsnap.errors import IntegrityError, NotFoundError, UsageError
from hubsnap.localfile import read_regular_file
from hubsnap.models import Index, Manifest
from hubsnap.oci.layout import LayoutStore
from hubsnap.signing.policy import load_policy
from hubsnap.snapshot import parse_card, read_artifact_reference
from hubsnap.values import InvalidValue, parse_date, parse_int, parse_timestamp
from support.keys import FIXED_KEY, FIXED_PUB, Model

MakeModel = Callable[..., Model]
DIGEST = "sha256:" + "a" * 64

# -- JSON -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"[" * 200_000, "nested deeper than 64 levels"),
        (b'{"a": ' * 100_000, "nested deeper than 64 levels"),
        (b'{"a": 1, "a": 2}', "duplicate key 'a'"),
        (b'["\\ud800"]', "lone surrogate"),
        (b'{"\\udfff": 1}', "lone surrogate"),
        (b"1e400", "out of range"),
        (b"[NaN]", "NaN is not a JSON number"),
        (b"-Infinity", "-Infinity is not a JSON number"),
        (b"9" * 5000, "64-bit range"),
        (b"18446744073709551616", "64-bit range"),
        (b"\xff\xfe{\x00}\x00", "not UTF-8"),
        (b"{not json", "is not valid JSON"),
    ],
)
def test_json_refusals_are_clean(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidDocument, match=reason) as info:
        load_json(data, "doc")
    assert str(info.value).startswith("doc ")
    assert "\n" not in str(info.value)


def test_json_accepts_what_it_should() -> None:
    text = b'{"a": [1, -2, 1.5, true, null, "[[[{{"], "\\ud83d\\ude00": 18446744073709551615}'
    value = load_json(text, "doc")
    assert value == {"a": [1, -2, 1.5, True, None, "[[[{{"], "😀": 2**64 - 1}
    assert canonical_json(value)  # what parses can be hashed
    assert load_json(b"[" * 64 + b"]" * 64, "doc") is not None
    with pytest.raises(InvalidDocument, match="over the 1 KiB limit"):
        load_json(b" " * 1025, "doc", max_bytes=1024)


def test_loads_object_keeps_its_contract() -> None:
    with pytest.raises(ValueError, match="manifest is not a JSON object"):
        loads_object(b"[]", "manifest")
    with pytest.raises(ValueError, match="manifest is nested deeper"):
        loads_object(b"[" * 200_000, "manifest")


def test_manifest_with_malformed_digest_is_integrity_not_usage() -> None:
    body = (
        b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",'
        b' "config": {"mediaType": "x", "digest": "sha256:XYZ", "size": 2}, "layers": []}'
    )
    with pytest.raises(IntegrityError, match="malformed manifest: invalid digest"):
        Manifest.from_bytes(body)
    with pytest.raises(IntegrityError, match="malformed manifest"):
        Manifest.from_bytes(b"[" * 200_000)


def test_empty_artifact_type_reads_as_absent() -> None:
    config = f'{{"mediaType": "x", "digest": "{DIGEST}", "size": 2, "artifactType": ""}}'
    body = (
        f'{{"schemaVersion": 2, "artifactType": "", "config": {config}, "layers": []}}'
    ).encode()
    manifest = Manifest.from_bytes(body)
    assert manifest.artifact_type is None and manifest.config.artifact_type is None
    assert Manifest.from_bytes(manifest.to_bytes()) == manifest


def test_image_index_parsing() -> None:
    entry = f'{{"mediaType": "m", "digest": "{DIGEST}", "size": 3}}'
    index = Index.from_bytes(f'{{"schemaVersion": 2, "manifests": [{entry}]}}'.encode())
    assert [str(m.digest) for m in index.manifests] == [DIGEST]
    for bad in (
        b'{"schemaVersion": 2, "manifests": [{"mediaType": "m", "digest": "md5:00", "size": 1}]}',
        b'{"schemaVersion": 2, "manifests": {}}',
        b"[" * 10**5,
    ):
        with pytest.raises(IntegrityError, match="malformed image index"):
            Index.from_bytes(bad)


@pytest.mark.parametrize(
    "index", [b"[" * 200_000, b'{"manifests": [{"digest": "sha256:nothex", "size": 1}]}']
)
def test_a_hostile_layout_index_is_integrity(tmp_path: Path, index: bytes) -> None:
    store = LayoutStore(tmp_path / "store").ensure()
    (store.root / "index.json").write_bytes(index)
    with pytest.raises(IntegrityError, match=r"index\.json"):
        LayoutStore(store.root).require()
    with pytest.raises(IntegrityError):
        store.entries()


# -- YAML -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[" * 200_000, "nest"),
        ("- " * 100 + "x\n", "nested deeper than 64 levels"),
        ("a: &x [1, 2]\nb: *x\n", "anchors are not allowed"),
        ("b: *x\n", "alias"),
        ("<<: {a: 1}\nb: 2\n", "merge keys are not allowed"),
        ("1: a\n", "mapping keys must be strings"),
        ("? [a, b]\n: c\n", "mapping keys must be strings"),
        ("a: 1\na: 2\n", "duplicate key 'a'"),
        ("a: " + "9" * 5000 + "\n", "number is too long"),
        ("a: 0x" + "f" * 70 + "\n", "64-bit range"),
        ("a: .nan\n", "finite"),
        ("a: !!binary aGVsbG8=\n", "not allowed"),
        ("a: !!set {x}\n", "not allowed"),
        ("a: !!python/object/apply:os.system [true]\n", "not allowed"),
        ('a: "\\ud800"\n', "lone surrogate|invalid Unicode"),
        ('a: "\\UFFFFFFFF"\n', "not valid YAML"),
        ("a: b\n---\nc: d\n", "more than one document"),
        ("a: \x00\n", "not valid YAML"),
        ("[unclosed\n", "is not valid YAML"),
    ],
)
def test_yaml_refusals_are_clean(text: str, reason: str) -> None:
    with pytest.raises(InvalidDocument, match=reason) as info:
        load_yaml(text.encode(), "doc")
    assert "\n" not in str(info.value)


def test_yaml_keeps_dates_as_text_and_round_trips() -> None:
    value = load_yaml(b"date: 2023-02-30\nyear1: 0001-01-01\nv: =\nn: 3\nf: 1.5\n", "doc")
    assert value == {"date": "2023-02-30", "year1": "0001-01-01", "v": "=", "n": 3, "f": 1.5}
    shared = [1, 2]
    document = {"a": shared, "b": shared}
    assert load_yaml(dump_yaml(document), "doc") == document  # no anchors written


def test_yaml_node_cap() -> None:
    with pytest.raises(InvalidDocument, match="more than 100 nodes"):
        load_yaml(b"[" + b"0," * 200 + b"]", "doc", max_nodes=100)


def test_model_card_with_bad_dates_and_bombs() -> None:
    card = b"---\nlicense: mit\ndate: 2023-02-30\nold: 0001-01-01T00:00:00+01:00\n---\n# x\n"
    assert parse_card(card) == {
        "license": "mit",
        "date": "2023-02-30",
        "old": "0001-01-01T00:00:00+01:00",
    }
    bomb = b"---\na: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n---\n"
    assert parse_card(bomb) == {}
    assert parse_card(b"---\n" + b"[" * 200_000 + b"\n---\n") == {}


# -- values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30.0), ("500ms", 0.5), ("1.5m", 90.0), ("2h", 7200.0), ("1d", 86400.0), ("7", 7.0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["²s", "1" * 400, "9" * 15 + "d", "8d", "0s", "-1s", "1e3s", ""])
def test_bad_durations_are_usage(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_duration(text)
    assert "\n" not in info.value.message
    assert len(info.value.message) < 200


def test_integers() -> None:
    assert parse_int("-42") == -42
    assert parse_int("64", minimum=1, maximum=64) == 64
    for bad in ("²", "٣", "1" * 5000, "0x10", " 1", "1_000", ""):
        with pytest.raises(InvalidValue):
            parse_int(bad)
    with pytest.raises(InvalidValue, match="at most 64"):
        parse_int("65", "maxDepth", maximum=64)


def test_timestamps() -> None:
    expected = datetime(2024, 6, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert parse_timestamp("2024-06-01T12:00:00.1234567+02:00") == expected
    assert parse_timestamp("2024-06-01T10:00:00.123456Z") == expected
    for bad in (
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "2023-02-30T00:00:00Z",
        "2023-01-01T00:00:60Z",
        "2023-01-01T00:00:00",
        "2023-01-01T00:00:00+24:00",
        "２０２３-01-01T00:00:00Z",
    ):
        with pytest.raises(InvalidValue):
            parse_timestamp(bad)
    assert parse_date("2024-02-29").day == 29
    with pytest.raises(InvalidValue):
        parse_date("2023-02-30")


# -- local files ----------------------------------------------------------------------------


def test_read_regular_file_refuses_what_is_not_a_file(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="not a regular file"):
        read_regular_file(fifo, limit=10, what="policy file")  # returns, never blocks
    with pytest.raises(UsageError, match="a directory"):
        read_regular_file(tmp_path, limit=10, what="policy file")
    with pytest.raises(UsageError, match="not a regular file"):
        read_regular_file(Path("/dev/zero"), limit=10, what="policy file")
    with pytest.raises(NotFoundError, match="not found"):
        read_regular_file(tmp_path / "nope", limit=10, what="key", not_found=NotFoundError)
    with pytest.raises(UsageError, match="cannot read"):
        read_regular_file(tmp_path / ("x" * 300), limit=10, what="policy file")
    with pytest.raises(UsageError, match="invalid path"):
        read_regular_file(Path("a\0b"), limit=10, what="policy file")
    big = tmp_path / "big"
    big.write_bytes(b"x" * 11)
    with pytest.raises(UsageError, match="over the 10 bytes limit"):
        read_regular_file(big, limit=10, what="policy file")
    assert read_regular_file(big, limit=11, what="policy file") == b"x" * 11


def test_policy_values_that_crashed(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    for require, reason in (
        ('{maxAge: "²d"}', "invalid duration"),
        ("{maxAge: 99999999999999999d}", "invalid duration"),
        ("{maxAge: 0x" + "f" * 5000 + "}", "number is too long"),
        ("{maxDepth: " + "9" * 5000 + "}", "number is too long"),
        ("{maxAge: [1]}", "must be a duration"),
    ):
        path.write_text(f"version: 1\npolicies: [{{scopes: ['*'], require: {require}}}]\n")
        with pytest.raises(UsageError, match=reason):
            load_policy(path)
    with pytest.raises(UsageError, match="a directory"):
        load_policy(tmp_path)


def test_snapshot_document_refusals(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.yaml"
    path.write_bytes(b"[" * 200_000)
    with pytest.raises(UsageError, match="nest"):
        read_artifact_reference(path)
    with pytest.raises(UsageError, match="a directory"):
        read_artifact_reference(tmp_path)


def _hubsnap(args: list[str], home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "HUBSNAP_HOME": str(home), **env}
    environment.pop("HUBSNAP_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "hubsnap", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,  # a generous bound: the point is that it does not hang
        check=False,
    )


def test_fifo_and_devices_as_inputs_exit_2_without_hanging(
    make_model: MakeModel, tmp_path: Path
) -> None:
    model = make_model()
    fifo = tmp_path / "input.yaml"
    os.mkfifo(fifo)
    cases = [
        (["verify", model.ref, "--key", str(fifo)], fifo),
        (["verify", model.ref, "--key", str(FIXED_PUB), "--policy", str(fifo)], fifo),
        (["verify", model.ref, "--key", str(FIXED_PUB), "--policy", "/dev/zero"], "/dev/zero"),
        (["verify", model.ref, "--key", str(FIXED_PUB), "--policy", str(tmp_path)], tmp_path),
        (["sign", model.ref, "--key", str(fifo)], fifo),
        (["sign", model.ref, "--key", str(FIXED_KEY), "--snapshot", "/dev/zero"], "/dev/zero"),
        (["sign", model.ref, "--key", str(FIXED_KEY), "--snapshot", str(fifo)], fifo),
    ]
    for argv, path in cases:
        done = _hubsnap(argv, tmp_path / "home")
        assert done.returncode == 2, (argv, done.stderr)
        line = done.stderr.splitlines()[0]
        assert line.startswith("error: cannot read") and str(path) in line, (argv, done.stderr)
        assert "internal error" not in done.stderr


def test_huge_timeout_is_usage(make_model: MakeModel, tmp_path: Path) -> None:
    model = make_model()
    verify = ["verify", model.ref, "--key", str(FIXED_PUB)]
    done = _hubsnap([*verify, "--timeout", "9" * 400], tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines()[0].startswith("error: invalid duration '9999")
    done = _hubsnap([*verify, "--timeout", "30d"], tmp_path)
    assert done.returncode == 2
    assert "longer than the maximum" in done.stderr


def test_non_utf8_key_password_is_a_wrong_password(tmp_path: Path) -> None:
    from hubsnap.signing.keys import generate_key, load_private_key, save_key_pair

    pair = save_key_pair(generate_key("p256"), tmp_path / "key.pem", password="right")
    os.environ["HUBSNAP_TEST_PASSWORD"] = os.fsdecode(b"\xff\xfe-not-utf8")
    try:
        with pytest.raises(UsageError, match="wrong password or corrupt key"):
            load_private_key(pair.private_path, password_env="HUBSNAP_TEST_PASSWORD")
    finally:
        del os.environ["HUBSNAP_TEST_PASSWORD"]
