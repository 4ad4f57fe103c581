"""Signing under failure and with less than a full store: all-or-nothing attachment, signed
time only for ``maxAge``, the requested revision from ``snapshot.yaml``, and no re-reading of
layer blobs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from hubsnap.api.signing import sign_artifact, verify
from hubsnap.config import Settings
from hubsnap.digest import Digest
from hubsnap.errors import RemoteError
from hubsnap.models import ARTIFACT_TYPE_SIGSTORE_BUNDLE
from hubsnap.oci.artifact import model_files
from hubsnap.oci.layout import LayoutStore
from hubsnap.oci.repository import LayoutRepository
from hubsnap.signing.attach import KIND_OMS, attach_bundle, load_signature_referrers
from hubsnap.signing.dsse import parse_bundle
from hubsnap.signing.keys import PrivateKey
from support.keys import FIXED_KEY, FIXED_PUB, SIGNED_AT, Model
from support.registry import run_cli, session_for

MakeModel = Callable[..., Model]
SETTINGS = Settings.from_env({})


class FailingRepository(LayoutRepository):
    """A local store whose Nth manifest put (or every blob put) fails like a dropped link."""

    def __init__(self, store: LayoutStore, *, fail_manifest: int = 0, fail_blobs: bool = False):
        super().__init__(store)
        self.fail_manifest = fail_manifest
        self.fail_blobs = fail_blobs
        self.manifest_puts = 0
        self.calls: list[str] = []

    def put_blob_bytes(self, data: bytes) -> Digest:
        self.calls.append("blob")
        if self.fail_blobs:
            raise RemoteError("cannot reach registry: ConnectError")
        return super().put_blob_bytes(data)

    def put_manifest(self, data: bytes, tag: str | None = None) -> Digest:
        self.manifest_puts += 1
        self.calls.append("manifest")
        if self.manifest_puts == self.fail_manifest:
            raise RemoteError("cannot reach registry: ConnectError")
        return super().put_manifest(data, tag)


def _referrer_kinds(model: Model) -> list[str | None]:
    return [r.kind for r in load_signature_referrers(model.repository, model.digest)]


def test_failed_second_put_names_the_referrer_that_landed(
    make_model: MakeModel, fixed_key: PrivateKey
) -> None:
    model = make_model()
    repository = FailingRepository(LayoutStore(model.store), fail_manifest=2)
    with pytest.raises(RemoteError) as info:
        sign_artifact(repository, model.digest, fixed_key, signed_at=SIGNED_AT)
    (landed,) = load_signature_referrers(model.repository, model.digest)
    assert landed.kind == KIND_OMS
    assert info.value.message == (
        "provenance referrer not attached (cannot reach registry: ConnectError);"
        f" already attached: oms {landed.digest}"
    )
    assert info.value.hint is not None and "sign again" in info.value.hint
    # Every blob went up before the first manifest: the missing referrer is one put away.
    assert repository.calls[:4] == ["blob", "blob", "blob", "manifest"]
    # Signing again completes the pair, and the artifact then verifies.
    sign_artifact(model.repository, model.digest, fixed_key, signed_at=SIGNED_AT)
    assert verify(session_for(SETTINGS), model.ref, keys=[FIXED_PUB]).ok


def test_failure_before_any_manifest_attaches_nothing(
    make_model: MakeModel, fixed_key: PrivateKey
) -> None:
    model = make_model()
    for repository in (
        FailingRepository(LayoutStore(model.store), fail_blobs=True),
        FailingRepository(LayoutStore(model.store), fail_manifest=1),
    ):
        with pytest.raises(RemoteError) as info:
            sign_artifact(repository, model.digest, fixed_key, signed_at=SIGNED_AT)
        assert info.value.message == "cannot reach registry: ConnectError"
        assert _referrer_kinds(model) == []


def _oms_only(make_model: MakeModel, fixed_key: PrivateKey, tmp_path: Path) -> Model:
    """A model carrying just an OMS signature (its provenance was never attached)."""
    model = make_model()
    scratch = make_model(store=tmp_path / "scratch")
    result = sign_artifact(scratch.repository, scratch.digest, fixed_key, signed_at=SIGNED_AT)
    store = LayoutStore(scratch.store)
    _, referrer = store.read_manifest(result.signature)
    bundle = parse_bundle(store.read_blob(referrer.layers[0].digest))
    assert referrer.subject is not None
    attach_bundle(model.repository, referrer.subject, bundle, KIND_OMS, SIGNED_AT)
    return model


def test_max_age_uses_only_the_signed_time(
    make_model: MakeModel, fixed_key: PrivateKey, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    model = _oms_only(make_model, fixed_key, tmp_path)
    policy = tmp_path / "policy.yaml"
    scope: dict[str, object] = {"name": "oms", "scopes": ["*"], "keys": [str(FIXED_PUB)]}
    body = {"version": 1, "policies": [scope]}
    scope["require"] = {"provenance": False}
    policy.write_text(yaml.safe_dump(body))
    assert verify(session_for(SETTINGS), model.ref, policy=policy, now=SIGNED_AT).ok

    # The referrer's created annotation says "just now", but it is not signed: no OMS-only
    # artifact can satisfy maxAge, whatever its annotation claims.
    scope["require"] = {"provenance": False, "maxAge": "30d"}
    policy.write_text(yaml.safe_dump(body))
    result = run_cli(["verify", model.ref, "--policy", str(policy), "--json"], capsys)
    assert result.code == 6
    assert result.err.splitlines()[0] == (
        f"error: verification failed: {model.ref}: maxAge needs a provenance"
        " (an OMS signature records no time)"
    )
    (oms,) = json.loads(result.out)["signatures"]
    assert "signed_at" not in oms
    assert oms["attached_at"] == "2025-01-02T03:04:05Z"
    tree = run_cli(["verify", model.ref, "--key", str(FIXED_PUB)], capsys)
    assert "attached 2025-01-02T03:04:05Z (unsigned time)" in tree.out


def _snapshot_yaml(path: Path, digest: Digest | str, revision: str = "v1.0") -> Path:
    document = {
        "schema": 1,
        "model_id": "org/model",
        "revision": revision,
        "artifact": {"digest": str(digest), "reference": f"oci:/store@{digest}"},
    }
    path.write_text(yaml.safe_dump(document))
    return path


def test_sign_with_snapshot_records_the_requested_revision(
    make_model: MakeModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = make_model()
    other = make_model("org/other")
    wrong = _snapshot_yaml(tmp_path / "other.yaml", other.digest)
    refused = run_cli(
        ["sign", model.ref, "--key", str(FIXED_KEY), "--snapshot", str(wrong)], capsys
    )
    assert refused.code == 2
    assert refused.err.splitlines()[0] == (
        f"error: {wrong} records artifact {other.digest}, not {model.digest}"
    )
    assert _referrer_kinds(model) == []
    both = run_cli(
        ["sign", model.ref, "--key", str(FIXED_KEY), "--snapshot", str(wrong), "--revision", "x"],
        capsys,
    )
    assert both.code == 2
    assert "--snapshot and --revision both name the requested revision" in both.err

    document = _snapshot_yaml(tmp_path / "snapshot.yaml", model.digest, "v1.0")
    signed = run_cli(
        ["sign", model.ref, "--key", str(FIXED_KEY), "--snapshot", str(document)], capsys
    )
    assert signed.code == 0, signed.err
    report = verify(session_for(SETTINGS), model.ref, keys=[FIXED_PUB])
    (provenance,) = [s.provenance for s in report.signatures if s.provenance is not None]
    assert provenance.requested_revision == "v1.0"
    assert provenance.commit != "v1.0"


def test_signing_reads_no_layer_blob_but_the_card(
    make_model: MakeModel, fixed_key: PrivateKey, capsys: pytest.CaptureFixture[str]
) -> None:
    model = make_model()
    store = LayoutStore(model.store)
    _, manifest = store.read_manifest(model.digest)
    for path, layer in model_files(manifest):
        if path != "README.md":
            store.blob_path(layer.digest).unlink()
    result = sign_artifact(model.repository, model.digest, fixed_key, signed_at=SIGNED_AT)
    assert result.files == 4  # .gitattributes is left to the manifest, as model_signing does
    report = run_cli(["verify", model.ref, "--key", str(FIXED_PUB), "--json"], capsys)
    assert report.code == 0, report.err
    kinds = {s["kind"]: s for s in json.loads(report.out)["signatures"]}
    assert kinds["oms"]["files"] == 4
    assert all(
        d.artifact_type == ARTIFACT_TYPE_SIGSTORE_BUNDLE
        for d in model.repository.referrers(model.digest)
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["sign", "--key", str(FIXED_KEY)],
        ["verify", "--key", str(FIXED_PUB)],
        ["export-signature", "-o", "model.sig"],
    ],
    ids=["sign", "verify", "export-signature"],
)
def test_registry_transport_options(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """sign, verify and export-signature take push's --ca-file (checked before any request)."""
    missing = tmp_path / "ca.pem"
    command, *rest = argv
    result = run_cli(
        [command, "registry.example:5000/org/model:v1", *rest, "--ca-file", str(missing)], capsys
    )
    assert result.code == 2
    assert result.err.splitlines()[0] == f"error: CA file {missing} not found"
    assert list(tmp_path.iterdir()) == []
