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
from hubsnap.api.signing import sign
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
) -> tuple[Model, dict[str, object]]:
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
    assert json.loads(newest.out)["referrer"] == str(results["other"].signature)  # type: ignore[attr-defined]
    chosen = run_cli(
        ["export-signature", model.ref, "-o", str(out), "--key", str(FIXED_PUB), "--json"], capsys
    )
    assert chosen.code == 0, chosen.err
    data = json.loads(chosen.out)
    assert data["referrer"] == str(results["fixed"].signature)  # type: ignore[attr-defined]
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
    assert result.err.splitlines()[0] == (
        f"error: verification failed: {model.ref}: no valid OMS signature (signature does not"
        f" verify with any trusted key; signed by the key with hint {hint} (the SHA-256 of its"
        " .pub file)) (and 1 more)"
    )


def test_describe_signatures_says_which_is_which(
    make_model: MakeModel, key_pair: tuple[Path, Path]
) -> None:
    model, results = _two_signers(make_model, key_pair)
    fixed = load_public_key(FIXED_PUB)
    described = describe_signatures(model.repository, model.digest, [fixed])
    by_referrer = {d.referrer: d for d in described}
    oms = by_referrer[results["fixed"].signature]  # type: ignore[attr-defined]
    assert (oms.kind, oms.signer, oms.verified) == (SignatureKind.OMS, fixed.fingerprint, True)
    provenance = by_referrer[results["fixed"].provenance]  # type: ignore[attr-defined]
    assert (provenance.kind, provenance.verified) == (SignatureKind.PROVENANCE, True)
    theirs = by_referrer[results["other"].signature]  # type: ignore[attr-defined]
    assert (theirs.kind, theirs.signer, theirs.verified) == (SignatureKind.OMS, None, False)
    assert theirs.key_hint == load_public_key(key_pair[1]).bundle_hint
    assert theirs.problem is not None and theirs.key_hint in theirs.problem
    # Without keys: the payloads' own (unverified) claims, and the key hints.
    unverified = describe_signatures(model.repository, model.digest)
    assert sorted(str(d.kind) for d in unverified) == ["oms", "oms", "provenance", "provenance"]
    assert not any(d.verified for d in unverified)
    assert oms.to_json()["kind"] == "oms"
