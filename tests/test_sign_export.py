"""``export-signature --key`` picks the signer's bundle; ``describe_signatures`` says which
referrer is which and by which key; a wrong key is told which key did sign."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from hubsnap.api.signatures import describe_signatures
from hubsnap.api.signing import SignResult, sign
from hubsnap.config import Settings
from hubsnap.signing.dsse import parse_bundle
from hubsnap.signing.keys import load_public_key
from hubsnap.signing.kinds import SignatureKind
from support.keys import FIXED_KEY, FIXED_PUB, SIGNED_AT, Model
from support.registry import run_cli, session_for

MakeModel = Callable[..., Model]
SETTINGS = Settings.from_env({})


def _two_signers(
    make_model: MakeModel, key_pair: tuple[Path, Path]
) -> tuple[Model, dict[str, SignResult]]:
    model = make_model()
    fixed = sign(session_for(SETTINGS), model.ref, FIXED_KEY, signed_at=SIGNED_AT)
    # The other key signs later: it is the newest, and what export picks without --key.
    other = sign(
        session_for(SETTINGS), model.ref, key_pair[0], signed_at=SIGNED_AT + timedelta(days=1)
    )
    return model, {"fixed": fixed, "other": other}


def test_export_with_key_picks_that_signer(
    make_model: MakeModel, key_pair: tuple[Path, Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    model, results = _two_signers(make_model, key_pair)
    out = tmp_path / "model.sig"
    newest = run_cli(["export-signature", model.ref, "-o", str(out), "--json"], capsys)
    assert newest.code == 0, newest.err
    assert json.loads(newest.out)["referrer"] == str(results["other"].signature)
    chosen = run_cli(
        ["export-signature", model.ref, "-o", str(out), "--key", str(FIXED_PUB), "--json"], capsys
    )
    assert chosen.code == 0, chosen.err
    data = json.loads(chosen.out)
    assert data["referrer"] == str(results["fixed"].signature)
    assert data["signer"] == load_public_key(FIXED_PUB).fingerprint
    assert parse_bundle(out.read_bytes()).key_hint == load_public_key(FIXED_PUB).bundle_hint


def test_export_with_a_key_that_never_signed(
    make_model: MakeModel, key_pair: tuple[Path, Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    model = make_model()
    sign(session_for(SETTINGS), model.ref, FIXED_KEY, signed_at=SIGNED_AT)
    out = tmp_path / "model.sig"
    result = run_cli(
        ["export-signature", model.ref, "-o", str(out), "--key", str(key_pair[1])], capsys
    )
    assert result.code == 6
    fingerprint = load_public_key(key_pair[1]).fingerprint
    assert result.err.splitlines()[0] == (
        f"error: no signature by {fingerprint} found for oci:{model.store}@{model.digest}"
    )
    assert not out.exists()


def test_wrong_key_names_the_key_that_signed(
    make_model: MakeModel, key_pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    model = make_model()
    sign(session_for(SETTINGS), model.ref, FIXED_KEY, signed_at=SIGNED_AT)
    result = run_cli(["verify", model.ref, "--key", str(key_pair[1])], capsys)
    assert result.code == 6
    hint = load_public_key(FIXED_PUB).bundle_hint
    assert hint == hashlib.sha256(FIXED_PUB.read_bytes()).hexdigest()
    trusted = hashlib.sha256(key_pair[1].read_bytes()).hexdigest()
    assert result.err.splitlines() == [
        f"error: verification failed: {model.ref}: no valid OMS signature (signature does not"
        f" verify with any trusted key; signed by key id {hint}, trusted key id {trusted})"
        " (and 1 more)",
        "hint: a key id is the SHA-256 of a .pub file (sha256sum key.pub; hubsnap keygen prints"
        " it): pass the signer's public key with --key",
    ]


def test_keygen_prints_the_key_id_verify_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_cli(["keygen", "-o", str(tmp_path / "key.pem")], capsys)
    assert result.code == 0, result.err
    key_id = hashlib.sha256((tmp_path / "key.pub").read_bytes()).hexdigest()
    assert key_id == load_public_key(tmp_path / "key.pub").bundle_hint
    assert f"key id:      {key_id}  (signatures name their signer by it)" in result.out.splitlines()
    result = run_cli(["keygen", "-o", str(tmp_path / "other.pem"), "--json"], capsys)
    key_id = hashlib.sha256((tmp_path / "other.pub").read_bytes()).hexdigest()
    assert json.loads(result.out)["key_id"] == key_id


def test_describe_signatures_says_which_is_which(
    make_model: MakeModel, key_pair: tuple[Path, Path]
) -> None:
    model, results = _two_signers(make_model, key_pair)
    fixed = load_public_key(FIXED_PUB)
    described = describe_signatures(model.repository, model.digest, [fixed])
    by_referrer = {d.referrer: d for d in described}
    oms = by_referrer[results["fixed"].signature]
    assert (oms.kind, oms.signer, oms.verified) == (SignatureKind.OMS, fixed.fingerprint, True)
    provenance = by_referrer[results["fixed"].provenance]
    assert (provenance.kind, provenance.verified) == (SignatureKind.PROVENANCE, True)
    theirs = by_referrer[results["other"].signature]
    assert (theirs.kind, theirs.signer, theirs.verified) == (SignatureKind.OMS, None, False)
    assert theirs.key_hint == load_public_key(key_pair[1]).bundle_hint
    assert theirs.problem is not None and theirs.key_hint in theirs.problem
    # Without keys: the payloads' own (unverified) claims, and the key hints.
    unverified = describe_signatures(model.repository, model.digest)
    assert sorted(str(d.kind) for d in unverified) == ["oms", "oms", "provenance", "provenance"]
    assert not any(d.verified for d in unverified)
    assert oms.to_json()["kind"] == "oms"


def test_wrong_key_names_every_key_that_signed(
    make_model: MakeModel, key_pair: tuple[Path, Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    model, _ = _two_signers(make_model, key_pair)
    assert run_cli(["keygen", "-o", str(tmp_path / "third.pem")], capsys).code == 0
    third = tmp_path / "third.pub"
    result = run_cli(["verify", model.ref, "--key", str(third)], capsys)
    assert result.code == 6
    line = result.err.splitlines()[0]
    signers = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (FIXED_PUB, key_pair[1])]
    trusted = hashlib.sha256(third.read_bytes()).hexdigest()
    oms = line.split(": no valid OMS signature (", 1)[1]
    for key_id in signers:
        assert f"signed by key id {key_id}, trusted key id {trusted}" in oms
