"""DSSE envelopes and the Sigstore bundle v0.3 that carries them, as typed values.

A statement is encoded as canonical JSON, wrapped in a DSSE envelope whose signature covers
the pre-authentication encoding (PAE) of payload type and payload, and the envelope is put in
a Sigstore bundle (``verificationMaterial.publicKey.hint`` + ``dsseEnvelope``, no
transparency log entries) — the exact shape ``model_signing`` writes for key signatures.
Parsing is defensive: a bundle is size-capped, every field is type-checked, base64 is strict,
and :func:`open_envelope` checks a signature against the trusted keys *before* the payload is
parsed, so no payload field is ever read from unauthenticated bytes.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from hubsnap.canonical import canonical_json, loads_object
from hubsnap.digest import Digest, sha256_bytes
from hubsnap.errors import IntegrityError
from hubsnap.models import ARTIFACT_TYPE_SIGSTORE_BUNDLE
from hubsnap.signing.keys import PrivateKey, PublicKey

__all__ = [
    "BUNDLE_MEDIA_TYPE",
    "MAX_BUNDLE_BYTES",
    "MAX_SIGNATURES",
    "PAYLOAD_TYPE_IN_TOTO",
    "STATEMENT_TYPE",
    "Bundle",
    "Envelope",
    "EnvelopeSignature",
    "OpenedEnvelope",
    "Statement",
    "open_envelope",
    "pae",
    "parse_bundle",
    "sign_statement",
]

BUNDLE_MEDIA_TYPE = ARTIFACT_TYPE_SIGSTORE_BUNDLE
PAYLOAD_TYPE_IN_TOTO = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
#: Bundles are a few KiB even for thousand-file models; a bigger one is refused unread.
MAX_BUNDLE_BYTES = 1024 * 1024
#: Each signature is tried against each trusted key; more than this is not a real bundle.
MAX_SIGNATURES = 16


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: ``DSSEv1 LEN(type) type LEN(body) body``."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


@dataclass(frozen=True)
class EnvelopeSignature:
    """One DSSE signature; ``keyid`` is empty, as ``model_signing`` writes it."""

    sig: bytes
    keyid: str = ""


@dataclass(frozen=True)
class Envelope:
    payload: bytes
    payload_type: str
    signatures: tuple[EnvelopeSignature, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "payload": base64.b64encode(self.payload).decode("ascii"),
            "payloadType": self.payload_type,
            "signatures": [
                {"sig": base64.b64encode(s.sig).decode("ascii"), "keyid": s.keyid}
                for s in self.signatures
            ],
        }

    @classmethod
    def from_json(cls, value: object) -> Envelope:
        """The envelope in ``value``; ``ValueError`` naming the first field that is wrong."""
        if not isinstance(value, dict):
            raise ValueError("dsseEnvelope must be an object")
        payload_type = value.get("payloadType")
        if not isinstance(payload_type, str):
            raise ValueError("dsseEnvelope.payloadType must be a string")
        raw_signatures = value.get("signatures")
        if not isinstance(raw_signatures, list) or not raw_signatures:
            raise ValueError("dsseEnvelope.signatures must be a non-empty list")
        if len(raw_signatures) > MAX_SIGNATURES:
            raise ValueError(
                f"dsseEnvelope has {len(raw_signatures)} signatures, over {MAX_SIGNATURES}"
            )
        signatures = []
        for item in raw_signatures:
            if not isinstance(item, dict):
                raise ValueError("each DSSE signature must be an object")
            keyid = item.get("keyid", "")
            if not isinstance(keyid, str):
                raise ValueError("DSSE signature keyid must be a string")
            signatures.append(EnvelopeSignature(_b64(item.get("sig"), "DSSE signature"), keyid))
        payload = _b64(value.get("payload"), "DSSE payload")
        return cls(payload, payload_type, tuple(signatures))

    @property
    def digest(self) -> Digest:
        """SHA-256 of the envelope's canonical JSON: what a child's provenance links to."""
        return sha256_bytes(canonical_json(self.to_json()))


@dataclass(frozen=True)
class Bundle:
    """A Sigstore bundle v0.3 with a DSSE envelope; ``key_hint`` is ``None`` when absent."""

    envelope: Envelope
    key_hint: str | None

    def to_json(self) -> dict[str, Any]:
        material: dict[str, Any] = {"tlogEntries": []}
        if self.key_hint is not None:
            material["publicKey"] = {"hint": self.key_hint}
        return {
            "mediaType": BUNDLE_MEDIA_TYPE,
            "verificationMaterial": material,
            "dsseEnvelope": self.envelope.to_json(),
        }

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_json())

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Bundle:
        """The bundle in ``value``; ``ValueError`` naming the first field that is wrong."""
        if value.get("mediaType") != BUNDLE_MEDIA_TYPE:
            raise ValueError(f"mediaType is {value.get('mediaType')!r}, not {BUNDLE_MEDIA_TYPE}")
        material = value.get("verificationMaterial")
        if not isinstance(material, dict):
            raise ValueError("verificationMaterial must be an object")
        hint = None
        public_key = material.get("publicKey")
        if public_key is not None:
            if not isinstance(public_key, dict):
                raise ValueError("verificationMaterial.publicKey must be an object")
            hint = public_key.get("hint")
            if hint is not None and not isinstance(hint, str):
                raise ValueError("publicKey.hint must be a string")
        return cls(Envelope.from_json(value.get("dsseEnvelope")), hint)


class Statement(Protocol):
    """A typed in-toto statement: what :func:`sign_statement` signs."""

    def to_json(self) -> dict[str, Any]: ...


def sign_statement(statement: Statement, key: PrivateKey) -> Bundle:
    """Encode ``statement`` canonically, sign its PAE and wrap it in a bundle."""
    payload = canonical_json(statement.to_json())
    signature = key.sign(pae(PAYLOAD_TYPE_IN_TOTO, payload))
    envelope = Envelope(payload, PAYLOAD_TYPE_IN_TOTO, (EnvelopeSignature(signature),))
    return Bundle(envelope, key.public().bundle_hint)


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError(f"{what} is not valid base64") from e


def parse_bundle(data: bytes) -> Bundle:
    """Parse bundle bytes; :class:`IntegrityError` with the reason when they are not one."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise IntegrityError(f"signature bundle is {len(data)} bytes, over the 1 MiB limit")
    try:
        return Bundle.from_json(loads_object(data, "signature bundle"))
    except ValueError as e:
        raise IntegrityError(f"malformed signature bundle: {e}") from e
    except RecursionError as e:
        # The stdlib parser recurses per nesting level: a bundle is never this deep.
        raise IntegrityError("malformed signature bundle: nested too deeply") from e


@dataclass(frozen=True)
class OpenedEnvelope:
    """An envelope whose signature checked out: the key that signed it and the statement."""

    key: PublicKey
    statement: dict[str, Any]


def open_envelope(envelope: Envelope, keys: Sequence[PublicKey]) -> OpenedEnvelope:
    """Check ``envelope`` against ``keys``; only then parse its payload as an in-toto Statement.

    Raises :class:`IntegrityError` naming why: no trusted key signed it, wrong payload type,
    or a payload that is not a Statement v1.
    """
    if envelope.payload_type != PAYLOAD_TYPE_IN_TOTO:
        raise IntegrityError(
            f"DSSE payload type is {envelope.payload_type!r}, not {PAYLOAD_TYPE_IN_TOTO}"
        )
    message = pae(envelope.payload_type, envelope.payload)
    signer = next(
        (key for sig in envelope.signatures for key in keys if key.verify(sig.sig, message)),
        None,
    )
    if signer is None:
        raise IntegrityError("signature does not verify with any trusted key")
    try:
        statement = loads_object(envelope.payload, "signed statement")
    except ValueError as e:
        raise IntegrityError(str(e)) from e
    except RecursionError as e:
        raise IntegrityError("signed statement is nested too deeply") from e
    if statement.get("_type") != STATEMENT_TYPE:
        raise IntegrityError(f"signed payload is not an in-toto Statement v1: {STATEMENT_TYPE}")
    return OpenedEnvelope(signer, statement)
