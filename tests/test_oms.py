"""The OMS signature: golden formats, and interop with the OpenSSF reference verifier."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from hubsnap.api.signing import sign_artifact
from hubsnap.cli import main
from hubsnap.digest import Digest
from hubsnap.errors import IntegrityError
from hubsnap.oci.layout import LayoutStore
from hubsnap.signing.dsse import PAYLOAD_TYPE_IN_TOTO, open_envelope, parse_bundle
from hubsnap.signing.keys import PrivateKey, load_public_key
from hubsnap.signing.oms import build_oms_statement, check_oms_statement, oms_resources
from support.keys import FIXED_PUB, GOLDEN, SIGNED_AT, Model, materialise

MakeModel = Callable[..., Model]
MODEL_SIGNING = Path(sys.executable).parent / "model_signing"


def _golden(name: str) -> object:
    return json.loads((GOLDEN / name).read_bytes())


def test_statement_matches_golden(make_model: MakeModel) -> None:
    model = make_model("org/model")
    manifest = model.repository.manifest(model.digest).manifest
    statement = build_oms_statement(manifest, "org/model")
    assert statement.to_json() == _golden("oms-statement.json")
    assert check_oms_statement(statement, manifest) == 4


def test_bundle_structure_matches_golden_and_verifies(
    make_model: MakeModel, fixed_key: PrivateKey
) -> None:
    model = make_model("org/model")
    result = sign_artifact(model.repository, model.digest, fixed_key, signed_at=SIGNED_AT)
    store = LayoutStore(model.store)
    data, referrer = store.read_manifest(result.signature)
    bundle_bytes = store.read_blob(referrer.layers[0].digest)
    bundle = json.loads(bundle_bytes)
    envelope = bundle["dsseEnvelope"]
    payload = base64.b64decode(envelope["payload"])
    assert json.loads(payload) == _golden("oms-statement.json")
    envelope["payload"] = "<payload>"
    envelope["signatures"][0]["sig"] = "<sig>"
    assert bundle == _golden("oms-bundle.json")
    # The referrer manifest, with the bundle digest (which covers the random sig) elided.
    manifest = json.loads(data)
    manifest["layers"][0]["digest"] = "<bundle digest>"
    manifest["layers"][0]["size"] = "<bundle size>"
    assert manifest == _golden("oms-referrer.json")
    opened = open_envelope(parse_bundle(bundle_bytes).envelope, [load_public_key(FIXED_PUB)])
    assert opened.statement["subject"][0]["name"] == "org/model"


def test_resources_use_model_signing_path_order(make_model: MakeModel) -> None:
    files = {"a-b/x.bin": b"1", "a/b.bin": b"2", "a.bin": b"3", ".git/config": b"4"}
    model = make_model(files=files)
    manifest = model.repository.manifest(model.digest).manifest
    # Components compare first ("a" < "a-b" < "a.bin"); the string order would differ.
    assert [r.name for r in oms_resources(manifest)] == ["a/b.bin", "a-b/x.bin", "a.bin"]


def test_check_names_the_missing_file(make_model: MakeModel, tmp_path: Path) -> None:
    model = make_model()
    other = make_model(store=tmp_path / "other", files={**model.files, "extra.txt": b"not signed"})
    manifest = model.repository.manifest(model.digest).manifest
    other_manifest = other.repository.manifest(other.digest).manifest
    statement = build_oms_statement(manifest, "org/model")
    with pytest.raises(IntegrityError, match=r"^OMS signature does not cover extra\.txt$"):
        check_oms_statement(statement, other_manifest)
    statement = replace(statement, root=Digest.sha256("0" * 64))
    with pytest.raises(IntegrityError, match="subject digest does not match its resources"):
        check_oms_statement(statement, manifest)


def _export(model: Model, target: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["export-signature", model.ref, "-o", str(target)])
    assert info.value.code == 0, capsys.readouterr().err


def _reference_verify(
    signature: Path, public: Path, folder: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MODEL_SIGNING), "verify", "key", "--signature", str(signature),
         "--public_key", str(public), str(folder)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


@pytest.mark.interop
@pytest.mark.parametrize("curve", ["p256", "p384"])
def test_model_signing_verifies_pulled_folder(
    make_model: MakeModel, tmp_path: Path, capsys: pytest.CaptureFixture[str], curve: str
) -> None:
    model = make_model()
    key = tmp_path / "key.pem"
    for argv in (
        ["keygen", "-o", str(key), "--curve", curve],
        ["sign", model.ref, "--key", str(key)],
    ):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 0
    folder = materialise(model, tmp_path / "pulled")
    signature = tmp_path / "model.sig"
    _export(model, signature, capsys)
    bundle = json.loads(signature.read_bytes())
    assert bundle["dsseEnvelope"]["payloadType"] == PAYLOAD_TYPE_IN_TOTO

    ok = _reference_verify(signature, tmp_path / "key.pub", folder)
    assert ok.returncode == 0, ok.stderr
    assert "Verification succeeded" in ok.stdout

    # The signature file inside the folder is ignored by the verifier, as documented.
    inside = folder / "model.sig"
    inside.write_bytes(signature.read_bytes())
    assert _reference_verify(inside, tmp_path / "key.pub", folder).returncode == 0
    inside.unlink()

    (folder / "tokenizer" / "vocab.txt").write_bytes(b"[PAD]\n[UNK]\nhullo\n")
    changed = _reference_verify(signature, tmp_path / "key.pub", folder)
    assert changed.returncode == 1
    assert "Hash mismatch for 'tokenizer/vocab.txt'" in changed.stderr


@pytest.mark.interop
def test_model_signing_rejects_extra_file_and_other_key(
    make_model: MakeModel, fixed_key: PrivateKey, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], key_pair: tuple[Path, Path],
) -> None:  # fmt: skip
    model = make_model()
    sign_artifact(model.repository, model.digest, fixed_key, signed_at=SIGNED_AT)
    folder = materialise(model, tmp_path / "pulled")
    signature = tmp_path / "model.sig"
    _export(model, signature, capsys)
    assert _reference_verify(signature, FIXED_PUB, folder).returncode == 0
    wrong = _reference_verify(signature, key_pair[1], folder)
    assert wrong.returncode == 1
    assert "Key mismatch" in wrong.stderr
    (folder / "extra.bin").write_bytes(b"planted")
    extra = _reference_verify(signature, FIXED_PUB, folder)
    assert extra.returncode == 1
    assert "extra.bin" in extra.stderr
