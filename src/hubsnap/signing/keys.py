"""ECDSA keys: generation, PEM files, curve checks, fingerprints, raw sign and verify.

This is the only module that imports ``cryptography``. Keys are P-256 (the default) or
P-384; each curve is paired with its hash (P-256 ↔ SHA-256, P-384 ↔ SHA-384), so a signature
is never checked with a weaker hash than its key. A key's *fingerprint* is the SHA-256 of its
DER SubjectPublicKeyInfo, written ``sha256:HEX``; the *hint* recorded in Sigstore bundles is
what ``model_signing`` computes, the SHA-256 of the PEM encoding, shown to users as the key's
*key id* (``sha256sum key.pub``). Private key files are written
atomically with mode 0600, the public key beside them as ``<name>.pub``. Passwords come from
an environment variable (``HUBSNAP_KEY_PASSWORD`` unless told otherwise) or a prompt, and
never appear in errors.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hubsnap.errors import NotFoundError, UsageError
from hubsnap.fsutil import atomic_write_bytes
from hubsnap.localfile import read_regular_file

__all__ = [
    "CURVES",
    "DEFAULT_PASSWORD_ENV",
    "Curve",
    "KeyPair",
    "PrivateKey",
    "PublicKey",
    "generate_key",
    "load_private_key",
    "load_public_key",
    "public_key_path",
    "save_key_pair",
]

DEFAULT_PASSWORD_ENV = "HUBSNAP_KEY_PASSWORD"  # noqa: S105 (a variable name, not a secret)


class Curve(StrEnum):
    """The ECDSA curves hubsnap signs with, named as users write them."""

    P256 = "p256"
    P384 = "p384"


#: Curve → (cryptography curve class, its hash).
CURVES: dict[Curve, tuple[type[ec.EllipticCurve], type[hashes.HashAlgorithm]]] = {
    Curve.P256: (ec.SECP256R1, hashes.SHA256),
    Curve.P384: (ec.SECP384R1, hashes.SHA384),
}
_CURVE_BY_OID_NAME = {"secp256r1": Curve.P256, "secp384r1": Curve.P384}
#: Key files are tiny; anything larger is not a key.
_MAX_KEY_FILE = 64 * 1024


def _curve_name(curve: ec.EllipticCurve) -> Curve:
    name = _CURVE_BY_OID_NAME.get(curve.name)
    if name is None:
        raise UsageError(
            f"unsupported key curve {curve.name}", hint="use an ECDSA P-256 or P-384 key"
        )
    return name


@dataclass(frozen=True)
class PublicKey:
    """A trusted or candidate ECDSA public key. ``source`` says where it was read from."""

    key: ec.EllipticCurvePublicKey
    source: str = ""

    @property
    def curve(self) -> Curve:
        return _curve_name(self.key.curve)

    def pem(self) -> bytes:
        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def fingerprint(self) -> str:
        """``sha256:HEX`` of the DER SubjectPublicKeyInfo."""
        der = self.key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return "sha256:" + hashlib.sha256(der).hexdigest()

    @property
    def bundle_hint(self) -> str:
        """The key hint ``model_signing`` writes and checks: SHA-256 hex of the PEM bytes.

        It is also the key's *key id* as hubsnap shows it (``keygen``, a ``verify`` that finds
        another signer): what a bundle names its signer by, and ``sha256sum key.pub`` of the
        ``.pub`` file ``keygen`` writes."""
        return hashlib.sha256(self.pem()).hexdigest()

    def verify(self, signature: bytes, data: bytes) -> bool:
        """True when ``signature`` is this key's ECDSA signature over ``data``."""
        hash_type = CURVES[self.curve][1]
        try:
            self.key.verify(signature, data, ec.ECDSA(hash_type()))
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class PrivateKey:
    """An ECDSA private key. Its repr never shows key material."""

    key: ec.EllipticCurvePrivateKey

    def __repr__(self) -> str:
        return f"PrivateKey({self.public().fingerprint})"

    @property
    def curve(self) -> Curve:
        return _curve_name(self.key.curve)

    def public(self) -> PublicKey:
        return PublicKey(self.key.public_key())

    def sign(self, data: bytes) -> bytes:
        """DER-encoded ECDSA signature over ``data`` with the curve's hash."""
        return self.key.sign(data, ec.ECDSA(CURVES[self.curve][1]()))


@dataclass(frozen=True)
class KeyPair:
    """Where :func:`save_key_pair` wrote the keys, the public key's fingerprint (policies pin
    it) and its key id (what signature bundles name their signer by)."""

    private_path: Path
    public_path: Path
    fingerprint: str
    curve: Curve
    encrypted: bool
    key_id: str

    def to_json(self) -> dict[str, Any]:
        return {
            "private_key": str(self.private_path),
            "public_key": str(self.public_path),
            "fingerprint": self.fingerprint,
            "key_id": self.key_id,
            "curve": str(self.curve),
            "encrypted": self.encrypted,
        }


def generate_key(curve: str = Curve.P256) -> PrivateKey:
    try:
        chosen = Curve(curve)
    except ValueError as e:
        raise UsageError(f"unknown curve {curve!r}", hint="use p256 or p384") from e
    return PrivateKey(ec.generate_private_key(CURVES[chosen][0]()))


def public_key_path(private_path: Path) -> Path:
    """``key.pem`` → ``key.pub`` (``key`` → ``key.pub``)."""
    return private_path.with_suffix(".pub")


def save_key_pair(key: PrivateKey, path: Path, *, password: str | None = None) -> KeyPair:
    """Write the private key (mode 0600, atomically) and ``.pub`` beside it.

    Refuses to overwrite either file: losing a signing key is not something to do silently.
    """
    public_path = public_key_path(path)
    for target in (path, public_path):
        if target.exists() or target.is_symlink():
            raise UsageError(f"{target} already exists", hint="choose another -o path")
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode("utf-8"))
        if password
        else serialization.NoEncryption()
    )
    private_pem = key.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    atomic_write_bytes(path, private_pem, mode=0o600)
    try:
        atomic_write_bytes(public_path, key.public().pem(), mode=0o644)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    public = key.public()
    return KeyPair(
        path, public_path, public.fingerprint, key.curve, bool(password), public.bundle_hint
    )


def _read_key_file(path: Path) -> bytes:
    # A FIFO, device or directory is refused unread; at most the cap plus one byte is read.
    return read_regular_file(path, limit=_MAX_KEY_FILE, what="key file", not_found=NotFoundError)


def load_private_key(
    path: Path,
    *,
    password_env: str = DEFAULT_PASSWORD_ENV,
    prompt: Callable[[str], str] | None = None,
) -> PrivateKey:
    """Load a PEM private key; an encrypted one takes its password from the env or a prompt."""
    data = _read_key_file(path)
    encrypted = b"ENCRYPTED" in data.split(b"\n", 1)[0] or b"Proc-Type: 4,ENCRYPTED" in data
    password: str | None = None
    if encrypted:
        password = os.environ.get(password_env) or None
        if password is None and prompt is not None:
            password = prompt(f"Password for {path}")
        if not password:
            raise UsageError(
                f"{path} is encrypted and no password was given",
                hint=f"set {password_env} or run interactively",
            )
    try:
        key = serialization.load_pem_private_key(
            # The variable's own bytes: a password that is not UTF-8 arrives surrogate-escaped.
            data,
            password.encode("utf-8", "surrogateescape") if password else None,
        )
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        # The library's message may quote the password's failure, never the password;
        # still, keep ours fixed so nothing secret can leak.
        reason = "wrong password or corrupt key" if encrypted else "not a PEM private key"
        raise UsageError(f"cannot load private key {path}: {reason}") from e
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise UsageError(f"{path} is not an ECDSA key", hint="use an ECDSA P-256 or P-384 key")
    _curve_name(key.curve)
    return PrivateKey(key)


def load_public_key(path: Path) -> PublicKey:
    """Load a PEM public key (or the public half of an unencrypted private key)."""
    data = _read_key_file(path)
    try:
        if b"PRIVATE KEY" in data:
            raise UsageError(
                f"{path} is a private key", hint="pass the .pub file written beside it"
            )
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as e:
        raise UsageError(f"cannot load public key {path}: not a PEM public key") from e
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise UsageError(f"{path} is not an ECDSA key", hint="use an ECDSA P-256 or P-384 key")
    _curve_name(key.curve)
    return PublicKey(key, source=str(path))
