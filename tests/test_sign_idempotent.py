"""Signing is idempotent: a subject that already carries this key's valid signature and
provenance gets nothing new; ``--force`` signs again; what is missing is completed; and a
network failure while reading referrers is a network failure (exit 5)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from hubsnap.api.signing import sign, sign_artifact, verify
from hubsnap.config import Settings
from hubsnap.digest import Digest
from hubsnap.errors import RemoteError
from hubsnap.models import Descriptor
from hubsnap.oci.layout import LayoutStore
from hubsnap.oci.repository import LayoutRepository, VerifiedManifest
from hubsnap.signing.attach import load_signature_referrers
from hubsnap.signing.keys import PrivateKey
from hubsnap.signing.kinds import SignatureKind
from support.keys import FIXED_KEY, FIXED_PUB, SIGNED_AT, Model, remove_from_index
from support.registry import run_cli, session_for

MakeModel = Callable[..., Model]
SETTINGS = Settings.from_env({})


def _count(model: Model) -> int:
    return len(model.repository.referrers(model.digest))


def test_second_sign_attaches_nothing_and_force_signs_again(
    make_model: MakeModel, capsys: pytest.CaptureFixture[str]
) -> None:
    model = make_model()
    first = run_cli(["sign", model.ref, "--key", str(FIXED_KEY), "--json"], capsys)
    assert first.code == 0, first.err
    assert json.loads(first.out)["attached"] == ["oms", "provenance"]

    again = run_cli(["sign", model.ref, "--key", str(FIXED_KEY), "--json"], capsys)
    assert again.code == 0, again.err
    data, before = json.loads(again.out), json.loads(first.out)
    assert data["attached"] == []
    for field in ("signature", "provenance", "provenance_envelope"):
        assert data[field] == before[field]
    assert _count(model) == 2
    text = run_cli(["sign", model.ref, "--key", str(FIXED_KEY)], capsys)
    assert text.out.splitlines()[0] == f"already signed {model.ref}"

    forced = run_cli(["sign", model.ref, "--key", str(FIXED_KEY), "--force", "--json"], capsys)
    assert forced.code == 0, forced.err
    assert json.loads(forced.out)["attached"] == ["oms", "provenance"]
    assert _count(model) == 4


def test_other_key_signs_alongside(
    make_model: MakeModel, key_pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    model = make_model()
    assert run_cli(["sign", model.ref, "--key", str(FIXED_KEY)], capsys).code == 0
    other = run_cli(["sign", model.ref, "--key", str(key_pair[0]), "--json"], capsys)
    assert json.loads(other.out)["attached"] == ["oms", "provenance"]
    assert _count(model) == 4


def test_missing_provenance_is_completed_alone(make_model: MakeModel) -> None:
    model = make_model()
    first = sign(session_for(SETTINGS), model.ref, FIXED_KEY, signed_at=SIGNED_AT)
    remove_from_index(model.store, first.provenance)
    second = sign(
        session_for(SETTINGS), model.ref, FIXED_KEY, signed_at=SIGNED_AT + timedelta(hours=1)
    )
    assert second.attached == (SignatureKind.PROVENANCE,)
    assert second.signature == first.signature
    assert _count(model) == 2
    assert verify(session_for(SETTINGS), model.ref, keys=[FIXED_PUB]).ok


def test_a_different_record_is_signed_again(make_model: MakeModel) -> None:
    model = make_model()
    sign(session_for(SETTINGS), model.ref, FIXED_KEY, signed_at=SIGNED_AT)
    # Same requested revision stated again: nothing new. Another one: a new provenance.
    same = sign(session_for(SETTINGS), model.ref, FIXED_KEY, signed_at=SIGNED_AT)
    assert same.attached == ()
    stated = sign(session_for(SETTINGS), model.ref, FIXED_KEY, requested_revision="v2")
    assert stated.attached == (SignatureKind.PROVENANCE,)
    assert sign(session_for(SETTINGS), model.ref, FIXED_KEY, requested_revision="v2").attached == ()
    # Not stating one accepts whichever the existing provenance records.
    assert sign(session_for(SETTINGS), model.ref, FIXED_KEY).attached == ()


def test_a_re_signed_parent_is_linked_anew(make_model: MakeModel) -> None:
    base = make_model("org/base")
    tuned = make_model("org/tuned", base_model="org/base")
    sign(session_for(SETTINGS), base.ref, FIXED_KEY, signed_at=SIGNED_AT)
    first = sign(session_for(SETTINGS), tuned.ref, FIXED_KEY, signed_at=SIGNED_AT)
    assert sign(session_for(SETTINGS), tuned.ref, FIXED_KEY).attached == ()
    later = SIGNED_AT + timedelta(days=1)
    resigned = sign(session_for(SETTINGS), base.ref, FIXED_KEY, signed_at=later, force=True)
    linked = sign(session_for(SETTINGS), tuned.ref, FIXED_KEY, signed_at=later)
    assert linked.attached == (SignatureKind.PROVENANCE,)
    assert linked.signature == first.signature
    assert linked.parent is not None
    assert linked.parent.provenance_envelope == resigned.provenance_envelope


class OfflineReferrers(LayoutRepository):
    """A store whose referrers listing, or one referrer's manifest, fails like a dropped link."""

    def __init__(self, store: LayoutStore, *, listing: bool) -> None:
        super().__init__(store)
        self.listing = listing
        self.subject: Digest | None = None

    def referrers(self, subject: Digest, artifact_type: str | None = None) -> list[Descriptor]:
        if self.listing:
            raise RemoteError("cannot reach registry: ConnectError")
        return super().referrers(subject, artifact_type)

    def manifest(self, digest: Digest) -> VerifiedManifest:
        if not self.listing and digest != self.subject:
            raise RemoteError("cannot reach registry: ReadTimeout")
        return super().manifest(digest)


@pytest.mark.parametrize("listing", [True, False], ids=["listing", "referrer-manifest"])
def test_network_failure_reading_referrers_is_remote(
    make_model: MakeModel, fixed_key: PrivateKey, listing: bool
) -> None:
    model = make_model()
    sign_artifact(model.repository, model.digest, fixed_key, signed_at=SIGNED_AT)
    offline = OfflineReferrers(LayoutStore(model.store), listing=listing)
    offline.subject = model.digest
    with pytest.raises(RemoteError, match=r"^cannot reach registry"):
        sign_artifact(offline, model.digest, fixed_key, signed_at=SIGNED_AT)
    assert len(load_signature_referrers(model.repository, model.digest)) == 2


def test_network_failure_is_exit_5_on_the_command_line(
    make_model: MakeModel, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = make_model()
    assert run_cli(["sign", model.ref, "--key", str(FIXED_KEY)], capsys).code == 0

    def offline(
        self: LayoutRepository, subject: Digest, artifact_type: str | None = None
    ) -> list[Descriptor]:
        raise RemoteError("cannot reach registry: ConnectError")

    monkeypatch.setattr(LayoutRepository, "referrers", offline)
    for argv in (
        ["sign", model.ref, "--key", str(FIXED_KEY)],
        ["verify", model.ref, "--key", str(FIXED_PUB)],
    ):
        result = run_cli(argv, capsys)
        assert result.code == 5
        assert result.err.splitlines() == ["error: cannot reach registry: ConnectError"]


def _copy_with_referrers(model: Model, target: Path) -> str:
    """Copy ``model``'s manifest, blobs and signature referrers into the store ``target``."""
    source, destination = LayoutStore(model.store), LayoutStore(target).ensure()
    digests = [model.digest, *(d.digest for d in source.referrers(model.digest))]
    for digest in digests:
        data, manifest = source.read_manifest(digest)
        for blob in (manifest.config, *manifest.layers):
            destination.put_bytes(source.read_blob(blob.digest, limit=1 << 20))
        destination.put_manifest(data)
    return f"oci:{target}@{model.digest}"


def test_parent_seen_elsewhere_is_recorded_anew(make_model: MakeModel, tmp_path: Path) -> None:
    """The same signed parent found at another place is signed again, so the chain can be
    walked from there; found at the recorded place again, nothing is attached."""
    base = make_model("org/base", store=tmp_path / "a")
    tuned = make_model("org/tuned", store=tmp_path / "b")
    sign(session_for(SETTINGS), base.ref, FIXED_KEY, signed_at=SIGNED_AT)
    first = sign(session_for(SETTINGS), tuned.ref, FIXED_KEY, parent=base.ref, signed_at=SIGNED_AT)
    assert sign(session_for(SETTINGS), tuned.ref, FIXED_KEY, parent=base.ref).attached == ()
    copy = _copy_with_referrers(base, tmp_path / "b")
    moved = sign(session_for(SETTINGS), tuned.ref, FIXED_KEY, parent=copy)
    assert moved.attached == (SignatureKind.PROVENANCE,)
    assert first.parent is not None and moved.parent is not None
    assert moved.parent.provenance_envelope == first.parent.provenance_envelope
    assert moved.parent.uri == copy
