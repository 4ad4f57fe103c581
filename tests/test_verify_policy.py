"""verify --policy: scoped keys, fingerprint pins, requirements, strict and audit levels."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest
import yaml

from hubsnap.api.signing import sign, verify
from hubsnap.config import Settings
from hubsnap.errors import NotFoundError, UsageError
from hubsnap.signing.keys import load_public_key
from hubsnap.signing.policy import load_policy
from support.keys import FIXED_KEY, FIXED_PUB, SIGNED_AT, Model
from support.registry import run_cli, session_for

MakeModel = Callable[..., Model]
SETTINGS = Settings.from_env({})
SCHEMA = json.loads((Path(__file__).parents[1] / "schemas" / "policy.schema.json").read_text())


def _policy(tmp_path: Path, body: dict[str, object]) -> Path:
    jsonschema.validate(body, SCHEMA)  # every policy the tests use is valid per the schema
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def _scoped(scope: str, **policy: object) -> dict[str, object]:
    return {"version": 1, "policies": [{"name": "mine", "scopes": [scope], **policy}]}


@pytest.fixture
def signed(make_model: MakeModel) -> Model:
    model = make_model()
    sign(session_for(SETTINGS), model.ref, FIXED_KEY, signed_at=SIGNED_AT)
    return model


def test_scope_selects_keys(
    signed: Model, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fingerprint = load_public_key(FIXED_PUB).fingerprint
    keys = [{"path": str(FIXED_PUB), "fingerprint": fingerprint}]
    good = _policy(tmp_path, _scoped(f"oci:{signed.store}", keys=keys))
    result = run_cli(["verify", signed.ref, "--policy", str(good), "--json"], capsys)
    assert result.code == 0, result.err
    assert json.loads(result.out)["policy"] == "mine"

    elsewhere = _policy(tmp_path, _scoped("localhost:5000/models/*", keys=keys))
    result = run_cli(["verify", signed.ref, "--policy", str(elsewhere)], capsys)
    assert result.code == 6
    assert result.err.splitlines()[0] == (
        f"error: verification failed: {signed.ref}: no policy scope covers oci:{signed.store}"
        " (and 2 more)"
    )


def test_fingerprint_pin_mismatch_is_a_usage_error(
    signed: Model, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pinned = [{"path": str(FIXED_PUB), "fingerprint": "sha256:" + "0" * 64}]
    policy = _policy(tmp_path, _scoped("*", keys=pinned))
    result = run_cli(["verify", signed.ref, "--policy", str(policy)], capsys)
    assert result.code == 2
    assert "but the policy pins sha256:000" in result.err.splitlines()[0]


def test_audit_reports_and_exits_zero(
    make_model: MakeModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unsigned = make_model()
    policy = _policy(tmp_path, _scoped("*", keys=[str(FIXED_PUB)], level="audit"))
    result = run_cli(["verify", unsigned.ref, "--policy", str(policy), "--json"], capsys)
    assert result.code == 0
    assert json.loads(result.out)["ok"] is False
    assert result.err.splitlines() == [f"audit: {unsigned.ref}: no signature found"]


def test_requirements_provenance_only(
    make_model: MakeModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = make_model()
    result = sign(session_for(SETTINGS), model.ref, FIXED_KEY, signed_at=SIGNED_AT)
    from support.keys import remove_from_index

    remove_from_index(model.store, result.signature)  # drop the OMS signature
    strict = run_cli(["verify", model.ref, "--key", str(FIXED_PUB)], capsys)
    assert strict.code == 6
    assert "no valid OMS signature (no oms signature found)" in strict.err
    relaxed = _policy(tmp_path, _scoped("*", keys=[str(FIXED_PUB)], require={"signature": False}))
    assert run_cli(["verify", model.ref, "--policy", str(relaxed)], capsys).code == 0


def test_max_age(signed: Model, tmp_path: Path) -> None:
    policy = _policy(tmp_path, _scoped("*", keys=[str(FIXED_PUB)], require={"maxAge": "30d"}))
    fresh = verify(
        session_for(SETTINGS), signed.ref, policy=policy, now=SIGNED_AT + timedelta(days=29)
    )
    assert fresh.ok
    stale = verify(
        session_for(SETTINGS), signed.ref, policy=policy, now=SIGNED_AT + timedelta(days=31)
    )
    assert stale.all_failures == [f"{signed.ref}: signature is older than the policy's maxAge"]


def test_key_given_on_command_line_adds_to_policy(
    signed: Model, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = _policy(tmp_path, _scoped("*", keys=[]))
    argv = ["verify", signed.ref, "--policy", str(policy)]
    assert run_cli(argv, capsys).code == 6
    assert run_cli([*argv, "--key", str(FIXED_PUB)], capsys).code == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: 2\npolicies: []\n", "version must be 1"),
        ("version: 1\npolicies: []\n", "policies must be a non-empty list"),
        ("version: 1\npolicies: [{scopes: ['*'], level: lax}]\n", "level must be strict or audit"),
        ("version: 1\npolicies: [{scopes: ['*'], trust: x}]\n", "unknown field 'trust'"),
        (
            "version: 1\npolicies: [{scopes: ['*'], require: {maxAge: soon}}]\n",
            "invalid duration 'soon'",
        ),
        ("version: 1\npolicies: [{scopes: ['*'], keys: [missing.pub]}]\n", "not found"),
        ("[unclosed\n", "is not valid YAML"),
    ],
)
def test_bad_policy_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    expected = NotFoundError if message == "not found" else UsageError
    with pytest.raises(expected, match=message):
        load_policy(path)


def test_no_key_and_no_policy_is_usage(signed: Model, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(["verify", signed.ref], capsys)
    assert result.code == 2
    assert result.err.splitlines() == [
        "error: no trusted key",
        "hint: pass --key KEY.pub or --policy policy.yaml",
    ]
