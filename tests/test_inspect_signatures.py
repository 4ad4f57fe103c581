"""``inspect`` says which referrer is the OMS signature and which the provenance, and which
key signed each (the bundle's key hint: the SHA-256 of the signer's public key file)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import pytest

from support.keys import FIXED_KEY, FIXED_PUB, Model
from support.registry import run_cli
from support.schemas import validated

MakeModel = Callable[..., Model]


def test_inspect_labels_the_signatures_and_their_key(
    make_model: MakeModel, capsys: pytest.CaptureFixture[str]
) -> None:
    model = make_model()
    signed = run_cli(["sign", model.ref, "--key", str(FIXED_KEY), "--json"], capsys)
    assert signed.code == 0, signed.err
    hint = hashlib.sha256(FIXED_PUB.read_bytes()).hexdigest()

    shown = run_cli(["inspect", model.ref, "--json"], capsys)
    assert shown.code == 0, shown.err
    referrers = validated(shown.out, "inspect")["referrers"]
    labels = sorted((r["signature"]["kind"], r["signature"]["key_hint"]) for r in referrers)
    assert labels == [("oms", hint), ("provenance", hint)]

    text = run_cli(["inspect", model.ref], capsys)
    assert text.code == 0, text.err
    assert f"(OMS signature, key {hint})" in text.out
    assert f"(provenance, key {hint})" in text.out


def test_an_unsigned_artifact_has_no_labels(
    make_model: MakeModel, capsys: pytest.CaptureFixture[str]
) -> None:
    model = make_model()
    shown = run_cli(["inspect", model.ref, "--json"], capsys)
    assert shown.code == 0, shown.err
    assert json.loads(shown.out)["referrers"] == []
