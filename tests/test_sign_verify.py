"""sign → verify round trips on the local store, and every way verification must fail."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from hubsnap.api.signing import sign_artifact
from hubsnap.canonical import canonical_json
from hubsnap.cli import main
from hubsnap.digest import sha256_bytes
from hubsnap.errors import IntegrityError
from hubsnap.models import (
    ARTIFACT_TYPE_SIGSTORE_BUNDLE,
    EMPTY_JSON,
    MEDIA_TYPE_EMPTY,
    Descriptor,
    Manifest,
)
from hubsnap.oci.layout import LayoutStore
from hubsnap.signing.attach import KIND_OMS, KIND_PROVENANCE, attach_bundle
from hubsnap.signing.dsse import (
    PAYLOAD_TYPE_IN_TOTO,
    Bundle,
    Envelope,
    EnvelopeSignature,
    open_envelope,
    pae,
    parse_bundle,
)
from hubsnap.signing.keys import PrivateKey, generate_key, load_private_key
from support.keys import FIXED_KEY, SIGNED_AT, Model
from support.registry import session_for

MakeModel = Callable[..., Model]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    assert isinstance(info.value.code, int)
    return info.value.code, out, err


def _bundles(model: Model, key: PrivateKey) -> dict[str, Bundle]:
    """Sign ``model`` in a scratch copy of its store and return the two bundles."""
    result = sign_artifact(model.repository, model.digest, key, signed_at=SIGNED_AT)
    store = LayoutStore(model.store)
    out = {}
    for kind, digest in ((KIND_OMS, result.signature), (KIND_PROVENANCE, result.provenance)):
        _, manifest = store.read_manifest(digest)
        out[kind] = parse_bundle(store.read_blob(manifest.layers[0].digest))
    return out


def test_round_trip_cli(
    make_model: MakeModel, key_pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    model = make_model()
    private, public = key_pair
    code, out, err = run(["sign", model.ref, "--key", str(private), "--json"], capsys)
    assert code == 0, err
    signed = json.loads(out)
    assert signed["digest"] == str(model.digest)
    assert signed["files"] == 4  # .gitattributes is left to the manifest, as model_signing does
    assert signed["parent"] is None

    code, out, err = run(["verify", model.ref, "--key", str(public)], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(
        f"oci:{model.store}@{model.digest}  https://huggingface.co/org/model"
    )
    assert lines[1].startswith("├── ok   oms         key " + signed["signer"])
    assert lines[2].startswith("└── ok   provenance  key " + signed["signer"])

    code, out, _ = run(["verify", model.ref, "--key", str(public), "--json"], capsys)
    report = json.loads(out)
    assert report["ok"] is True
    assert {s["kind"] for s in report["signatures"]} == {"oms", "provenance"}
    assert all(s["signer"] == signed["signer"] for s in report["signatures"])


def test_sign_by_tag_signs_the_digest(
    make_model: MakeModel, key_pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    model = make_model(tag="v1")
    code, out, _ = run(["sign", f"oci:{model.store}:v1", "--key", str(key_pair[0])], capsys)
    assert code == 0
    assert f"signed oci:{model.store}@{model.digest}" in out
    refs = model.repository.referrers(model.digest)
    assert {r.annotations["dev.hubsnap.signature.kind"] for r in refs} == {"oms", "provenance"}
    assert all(r.artifact_type == ARTIFACT_TYPE_SIGSTORE_BUNDLE for r in refs)


def test_unsigned_artifact_says_no_signature_found(
    make_model: MakeModel, key_pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    model = make_model()
    code, _out, err = run(["verify", model.ref, "--key", str(key_pair[1])], capsys)
    assert code == 6
    assert err.splitlines()[0] == f"error: verification failed: {model.ref}: no signature found"


def test_unknown_reference_is_not_found(
    make_model: MakeModel, key_pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    model = make_model()
    missing = f"oci:{model.store}@sha256:{'0' * 64}"
    code, _, err = run(["verify", missing, "--key", str(key_pair[1])], capsys)
    assert code == 3
    assert err.startswith(f"error: manifest sha256:{'0' * 64} not found")
    code, _, err = run(["sign", missing, "--key", str(key_pair[0])], capsys)
    assert code == 3
    assert model.repository.referrers(model.digest) == []


@pytest.mark.parametrize("curve", ["p256", "p384"], ids=["other-key", "other-curve"])
def test_wrong_key_fails(
    make_model: MakeModel, key_pair: tuple[Path, Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str], curve: str,
) -> None:  # fmt: skip
    model = make_model()
    run(["sign", model.ref, "--key", str(key_pair[0])], capsys)  # a P-256 key
    other = tmp_path / "other.pem"
    assert run(["keygen", "-o", str(other), "--curve", curve], capsys)[0] == 0
    code, out, err = run(["verify", model.ref, "--key", str(tmp_path / "other.pub")], capsys)
    assert code == 6
    assert "signature does not verify with any trusted key" in err.splitlines()[0]
    assert out.count("FAIL oms         signature does not verify with any trusted key") == 1
    assert out.count("FAIL provenance  signature does not verify with any trusted key") == 1


def test_p384_key_round_trip_and_hash(
    make_model: MakeModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = make_model()
    key = tmp_path / "p384.pem"
    assert run(["keygen", "-o", str(key), "--curve", "p384"], capsys)[0] == 0
    assert run(["sign", model.ref, "--key", str(key)], capsys)[0] == 0
    assert run(["verify", model.ref, "--key", str(tmp_path / "p384.pub")], capsys)[0] == 0
    # A P-384 signature is made with SHA-384: re-checking it with SHA-256 must fail.
    loaded = load_private_key(key)
    bundle = _bundles(make_model(store=tmp_path / "s2"), loaded)[KIND_OMS]
    message = pae(bundle.envelope.payload_type, bundle.envelope.payload)
    assert loaded.public().verify(bundle.envelope.signatures[0].sig, message)
    with pytest.raises(InvalidSignature):
        loaded.key.public_key().verify(
            bundle.envelope.signatures[0].sig, message, ec.ECDSA(hashes.SHA256())
        )


def _attach(model: Model, bundle: Bundle, kind: str, subject: Model | None = None) -> None:
    target = subject or model
    manifest = target.repository.manifest(target.digest).manifest
    descriptor = Descriptor(manifest.media_type, target.digest, len(manifest.to_bytes()))
    attach_bundle(target.repository, descriptor, bundle, kind, SIGNED_AT)


def test_transplanted_signature_fails(
    make_model: MakeModel, fixed_key: PrivateKey, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    a = make_model("org/a", store=tmp_path / "scratch")
    bundles = _bundles(a, fixed_key)
    b = make_model("org/b")
    _attach(b, bundles[KIND_OMS], KIND_OMS)
    _attach(b, bundles[KIND_PROVENANCE], KIND_PROVENANCE)
    from support.keys import FIXED_PUB

    code, out, err = run(["verify", b.ref, "--key", str(FIXED_PUB), "--json"], capsys)
    assert code == 6
    report = json.loads(out)
    reasons = {s["kind"]: s["reason"] for s in report["signatures"]}
    assert reasons["oms"] == "OMS signature digest for config.json differs from the artifact"
    assert reasons["provenance"] == f"provenance is for {a.digest}, not {b.digest}"
    assert "no valid OMS signature" in err


def test_edited_payload_fails(
    make_model: MakeModel, fixed_key: PrivateKey, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    bundle = _bundles(make_model(store=tmp_path / "scratch"), fixed_key)[KIND_PROVENANCE]
    statement = json.loads(bundle.envelope.payload)
    statement["predicate"]["buildDefinition"]["externalParameters"]["source"]["revision"] = "evil"
    forged = replace(bundle, envelope=replace(bundle.envelope, payload=canonical_json(statement)))
    model = make_model()
    _attach(model, forged, KIND_PROVENANCE)
    from support.keys import FIXED_PUB

    code, out, _ = run(["verify", model.ref, "--key", str(FIXED_PUB), "--json"], capsys)
    assert code == 6
    (check,) = json.loads(out)["signatures"]
    assert check == {
        "kind": "provenance",
        "ok": False,
        "reason": "signature does not verify with any trusted key",
        "referrer": check["referrer"],
    }


def test_referrer_that_is_not_a_signature(
    make_model: MakeModel, key_pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    model = make_model()
    store = LayoutStore(model.store)
    store.put_bytes(EMPTY_JSON)
    sbom = b'{"spdxVersion": "SPDX-2.3"}'
    store.put_bytes(sbom)
    _, subject = store.read_manifest(model.digest)
    empty = Descriptor(MEDIA_TYPE_EMPTY, sha256_bytes(EMPTY_JSON), 2)
    other = Manifest(
        config=empty,
        layers=(Descriptor("application/spdx+json", sha256_bytes(sbom), len(sbom)),),
        artifact_type="application/spdx+json",
        subject=Descriptor(subject.media_type, model.digest, len(subject.to_bytes())),
    )
    store.put_manifest(other.to_bytes())
    # A referrer that claims to be a bundle but carries something else.
    claimed = replace(other, artifact_type=ARTIFACT_TYPE_SIGSTORE_BUNDLE)
    store.put_manifest(claimed.to_bytes())
    code, out, _err = run(["verify", model.ref, "--key", str(key_pair[1]), "--json"], capsys)
    assert code == 6
    (check,) = json.loads(out)["signatures"]  # the SBOM is not a candidate at all
    assert check["reason"] == "referrer must hold exactly one bundle layer"


@pytest.mark.parametrize(
    ("blob", "reason"),
    [
        (b"{not json", "malformed signature bundle: signature bundle is not valid JSON"),
        (b"[]", "malformed signature bundle: signature bundle is not a JSON object"),
        (
            b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",'
            b' "verificationMaterial": {}, "dsseEnvelope": {"payload": "%%%",'
            b' "payloadType": "x", "signatures": [{"sig": "AA=="}]}}',
            "malformed signature bundle: DSSE payload is not valid base64",
        ),
        (b" " * (1024 * 1024 + 1), "signature bundle is 1048577 bytes, over the 1 MiB limit"),
        (
            b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",'
            b' "verificationMaterial": {}, "dsseEnvelope": {"payload": "e30=",'
            b' "payloadType": "x", "signatures": [' + b",".join([b'{"sig": "AA=="}'] * 17) + b"]}}",
            "malformed signature bundle: dsseEnvelope has 17 signatures, over 16",
        ),
    ],
    ids=["not-json", "not-object", "bad-base64", "huge", "many-signatures"],
)
def test_malformed_or_huge_bundle(
    make_model: MakeModel, key_pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str],
    blob: bytes, reason: str,
) -> None:  # fmt: skip
    model = make_model()
    store = LayoutStore(model.store)
    store.put_bytes(EMPTY_JSON)
    store.put_bytes(blob)
    _, subject = store.read_manifest(model.digest)
    referrer = Manifest(
        config=Descriptor(MEDIA_TYPE_EMPTY, sha256_bytes(EMPTY_JSON), 2),
        layers=(Descriptor(ARTIFACT_TYPE_SIGSTORE_BUNDLE, sha256_bytes(blob), len(blob)),),
        artifact_type=ARTIFACT_TYPE_SIGSTORE_BUNDLE,
        subject=Descriptor(subject.media_type, model.digest, len(subject.to_bytes())),
        annotations={"dev.hubsnap.signature.kind": "oms"},
    )
    store.put_manifest(referrer.to_bytes())
    code, out, err = run(["verify", model.ref, "--key", str(key_pair[1]), "--json"], capsys)
    assert code == 6
    (check,) = json.loads(out)["signatures"]
    assert check["reason"].startswith(reason)
    assert err.splitlines()[0].startswith("error: verification failed: ")
    assert reason in err.splitlines()[0]


def test_mislabelled_referrer_is_rejected(
    make_model: MakeModel, fixed_key: PrivateKey, tmp_path: Path
) -> None:
    bundles = _bundles(make_model(store=tmp_path / "scratch"), fixed_key)
    model = make_model()
    _attach(model, bundles[KIND_PROVENANCE], KIND_OMS)
    from hubsnap.api.signing import verify
    from hubsnap.config import Settings
    from support.keys import FIXED_PUB

    report = verify(session_for(Settings.from_env({})), model.ref, keys=[FIXED_PUB])
    (check,) = report.signatures
    assert check.reason == "referrer is labelled oms but holds provenance"


def test_export_signature_without_signature_leaves_nothing(
    make_model: MakeModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = make_model()
    output = tmp_path / "out" / "model.sig"
    code, _, err = run(["export-signature", model.ref, "-o", str(output)], capsys)
    assert code == 6
    assert err.splitlines()[0] == f"error: no signature found for oci:{model.store}@{model.digest}"
    assert not output.parent.exists() or list(output.parent.iterdir()) == []


def test_envelope_digest_is_canonical() -> None:
    key = generate_key()
    envelope = Envelope(b"{}", "application/vnd.in-toto+json", ())
    assert envelope.digest == sha256_bytes(
        canonical_json({"payload": base64.b64encode(b"{}").decode(), "payloadType":
                        "application/vnd.in-toto+json", "signatures": []})
    )  # fmt: skip
    assert key.curve == "p256"


def test_signing_a_non_model_is_refused(
    make_model: MakeModel, fixed_key: PrivateKey, capsys: pytest.CaptureFixture[str]
) -> None:
    model = make_model()
    result = sign_artifact(model.repository, model.digest, fixed_key, signed_at=SIGNED_AT)
    before = LayoutStore(model.store).entries()
    code, out, err = run(
        ["sign", f"oci:{model.store}@{result.signature}", "--key", str(FIXED_KEY)], capsys
    )
    assert code == 2
    assert out == ""
    assert err.splitlines() == [
        f"error: {result.signature} is not a model artifact",
        "hint: sign the model manifest",
    ]
    assert LayoutStore(model.store).entries() == before
    assert list((model.store / "ingest").iterdir()) == []


def test_signature_is_checked_before_the_payload_is_read(fixed_key: PrivateKey) -> None:
    garbage = Envelope(b"\xff not json", PAYLOAD_TYPE_IN_TOTO, (EnvelopeSignature(b"x" * 64),))
    with pytest.raises(IntegrityError, match=r"^signature does not verify with any trusted key$"):
        open_envelope(garbage, [fixed_key.public()])
    signed = Envelope(
        garbage.payload,
        PAYLOAD_TYPE_IN_TOTO,
        (EnvelopeSignature(fixed_key.sign(pae(PAYLOAD_TYPE_IN_TOTO, garbage.payload))),),
    )
    # Only a payload that verified gets parsed, and then its defects are reported.
    with pytest.raises(IntegrityError, match="signed statement is not valid JSON"):
        open_envelope(signed, [fixed_key.public()])
