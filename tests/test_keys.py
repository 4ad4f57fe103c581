"""hubsnap keygen and key loading: file modes, fingerprints, curves, encrypted keys."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from hubsnap.api.signing import keygen, sign
from hubsnap.config import Settings
from support.keys import Model
from support.registry import run_cli, session_for

MakeModel = Callable[..., Model]


def _openssl_text(key: Path) -> bytes:
    """What openssl says about a private key (its curve name among it)."""
    return subprocess.run(
        ["openssl", "ec", "-in", str(key), "-noout", "-text"], capture_output=True, check=True
    ).stdout


def test_keygen_files_modes_and_fingerprint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "key.pem"
    result = run_cli(["keygen", "-o", str(key), "--json"], capsys)
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["public_key"] == str(tmp_path / "key.pub")
    assert (data["curve"], data["encrypted"]) == ("p256", False)
    assert key.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "key.pub").stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key.pem", "key.pub"]
    # The fingerprint is the SHA-256 of the DER SubjectPublicKeyInfo, as openssl writes it.
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-in", str(tmp_path / "key.pub"), "-outform", "DER"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    assert data["fingerprint"] == "sha256:" + hashlib.sha256(der).hexdigest()
    assert b"prime256v1" in _openssl_text(key)


def test_keygen_p384(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "k.pem"
    assert run_cli(["keygen", "-o", str(key), "--curve", "p384"], capsys).code == 0
    assert b"secp384r1" in _openssl_text(key)


def test_keygen_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "key.pem"
    (tmp_path / "key.pub").write_text("precious")
    result = run_cli(["keygen", "-o", str(key)], capsys)
    assert result.code == 2
    assert result.err.splitlines() == [
        f"error: {tmp_path / 'key.pub'} already exists",
        "hint: choose another -o path",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key.pub"]
    assert (tmp_path / "key.pub").read_text() == "precious"


def test_keygen_unknown_curve(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(["keygen", "-o", str(tmp_path / "k.pem"), "--curve", "p521"], capsys)
    assert result.code == 2
    assert result.err.splitlines()[0] == "error: unknown curve 'p521'"
    assert list(tmp_path.iterdir()) == []


def test_encrypted_key_with_password_from_env(
    make_model: MakeModel, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    secret = "correct horse battery staple"
    monkeypatch.setenv("MY_KEY_PW", secret)
    key = tmp_path / "enc.pem"
    made = run_cli(["keygen", "-o", str(key), "--password-env", "MY_KEY_PW", "--json"], capsys)
    assert made.code == 0
    assert json.loads(made.out)["encrypted"] is True
    assert b"ENCRYPTED PRIVATE KEY" in key.read_bytes()
    model = make_model()

    signed = run_cli(["sign", model.ref, "--key", str(key), "--password-env", "MY_KEY_PW"], capsys)
    assert signed.code == 0, signed.err
    assert secret not in signed.out + signed.err

    attached = model.repository.referrers(model.digest)
    assert len(attached) == 2
    monkeypatch.delenv("HUBSNAP_KEY_PASSWORD", raising=False)
    missing = run_cli(["sign", model.ref, "--key", str(key)], capsys)
    assert missing.code == 2
    assert missing.err.splitlines() == [
        f"error: {key} is encrypted and no password was given",
        "hint: set HUBSNAP_KEY_PASSWORD or run interactively",
    ]

    monkeypatch.setenv("HUBSNAP_KEY_PASSWORD", "wrong-" + secret)
    wrong = run_cli(["sign", model.ref, "--key", str(key)], capsys)
    assert wrong.code == 2
    assert wrong.err.splitlines() == [
        f"error: cannot load private key {key}: wrong password or corrupt key"
    ]
    assert secret not in wrong.err and "wrong-" not in wrong.err
    assert model.repository.referrers(model.digest) == attached  # nothing more was attached
    pub = tmp_path / "enc.pub"
    assert run_cli(["verify", model.ref, "--key", str(pub)], capsys).code == 0


def test_keygen_password_env_unset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(["keygen", "-o", str(tmp_path / "k.pem"), "--password-env", "NOPE_X"], capsys)
    assert result.code == 2
    assert result.err.splitlines()[0] == "error: NOPE_X is not set"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ecparam", "-name", "secp521r1", "-genkey", "-noout"], "unsupported key curve secp521r1"),
        (
            ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"],
            "is not an ECDSA key",
        ),
        (["ecparam", "-name", "secp256k1", "-genkey", "-noout"], "unsupported key curve secp256k1"),
    ],
    ids=["p521", "rsa", "secp256k1"],
)
def test_unsupported_signing_keys(
    make_model: MakeModel, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    argv: list[str], message: str,
) -> None:  # fmt: skip
    key = tmp_path / "other.pem"
    subprocess.run(["openssl", *argv, "-out", str(key)], check=True, capture_output=True)
    model = make_model()
    result = run_cli(["sign", model.ref, "--key", str(key)], capsys)
    assert result.code == 2
    assert message in result.err.splitlines()[0]
    assert model.repository.referrers(model.digest) == []


def test_private_key_as_trusted_key_is_refused(
    make_model: MakeModel, key_pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    model = make_model()
    result = run_cli(["verify", model.ref, "--key", str(key_pair[0])], capsys)
    assert result.code == 2
    assert result.err.splitlines() == [
        f"error: {key_pair[0]} is a private key",
        "hint: pass the .pub file written beside it",
    ]
    assert "PRIVATE" not in result.out


def test_keygen_encrypt_with_prompted_password(
    make_model: MakeModel, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.delenv("HUBSNAP_KEY_PASSWORD", raising=False)
    secret = "typed at the terminal"
    asked: list[str] = []

    def prompt(message: str) -> str:
        asked.append(message)
        return secret

    pair = keygen(tmp_path / "k.pem", encrypt=True, prompt=prompt)
    assert pair.encrypted and asked == ["Password for the new key"]
    model = make_model()
    settings = Settings.from_env({"HUBSNAP_HOME": str(tmp_path / "home")})
    signed = sign(session_for(settings), model.ref, pair.private_path, prompt=prompt)
    assert asked[-1] == f"Password for {pair.private_path}"
    assert signed.signer == pair.fingerprint

    # Not at a terminal (as under pytest) there is nobody to ask: refused, nothing written.
    refused = run_cli(["keygen", "-o", str(tmp_path / "new" / "k.pem"), "--encrypt"], capsys)
    assert refused.code == 2
    assert refused.err.splitlines() == [
        "error: --encrypt needs a password typed at a terminal",
        "hint: run interactively, or pass --password-env VAR",
    ]
    assert not (tmp_path / "new").exists()
