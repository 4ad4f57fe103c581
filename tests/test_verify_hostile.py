"""Hostile or broken referrers: junk next to valid signatures is skipped with a note, listings
are deduplicated and capped, and the work stays bounded whatever a registry lists."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import jsonschema
import pytest

from hubsnap.api.signing import sign, verify
from hubsnap.config import Settings
from hubsnap.digest import Digest, sha256_bytes
from hubsnap.errors import NotFoundError
from hubsnap.models import (
    ARTIFACT_TYPE_SIGSTORE_BUNDLE,
    EMPTY_JSON,
    MEDIA_TYPE_EMPTY,
    MEDIA_TYPE_IMAGE_MANIFEST,
    Descriptor,
    Index,
    Manifest,
)
from hubsnap.oci.client import TransportOptions
from hubsnap.oci.layout import LayoutStore
from hubsnap.oci.registry import referrers_tag
from hubsnap.oci.repository import VerifiedManifest
from hubsnap.signing.attach import MAX_REFERRERS, scan_signature_referrers
from support.keys import FIXED_KEY, FIXED_PUB, SIGNED_AT, Model
from support.registry import CountingTransport, RegistryServer, run_cli, session_for

MakeModel = Callable[..., Model]
SETTINGS = Settings.from_env({})
DEEP = b"[" * 200_000


def _junk_referrer(model: Model, blob: bytes) -> Digest:
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
    return store.put_manifest(referrer.to_bytes()).digest


def test_deeply_nested_bundle_beside_valid_signatures_is_skipped(
    make_model: MakeModel, capsys: pytest.CaptureFixture[str]
) -> None:
    model = make_model()
    sign(session_for(SETTINGS), model.ref, FIXED_KEY, signed_at=SIGNED_AT)
    junk = _junk_referrer(model, DEEP)
    result = run_cli(["verify", model.ref, "--key", str(FIXED_PUB), "--json"], capsys)
    assert result.code == 0, result.err
    (note,) = result.err.splitlines()
    assert note.startswith(
        f"note: {model.ref}: skipped referrer {junk}: malformed signature bundle"
    )
    report = json.loads(result.out)
    assert report["ok"] is True
    schema = json.loads(
        (Path(__file__).parents[1] / "schemas" / "verify-result.schema.json").read_text()
    )
    jsonschema.validate(report, schema)
    (skipped,) = [s for s in report["signatures"] if s.get("skipped")]
    assert skipped["referrer"] == str(junk)
    tree = run_cli(["verify", model.ref, "--key", str(FIXED_PUB)], capsys)
    assert tree.code == 0
    assert sum(line[4:].startswith("skip oms") for line in tree.out.splitlines()) == 1


def test_deeply_nested_bundle_alone_fails_as_a_signature(
    make_model: MakeModel, capsys: pytest.CaptureFixture[str]
) -> None:
    model = make_model()
    _junk_referrer(model, DEEP)
    result = run_cli(["verify", model.ref, "--key", str(FIXED_PUB)], capsys)
    assert result.code == 6
    assert result.err.splitlines()[0].startswith(
        f"error: verification failed: {model.ref}: no valid OMS signature (malformed signature"
    )
    # sign is not stopped by it either, and then verification passes.
    assert run_cli(["sign", model.ref, "--key", str(FIXED_KEY)], capsys).code == 0
    assert run_cli(["verify", model.ref, "--key", str(FIXED_PUB)], capsys).code == 0


class ListingOnly:
    """A repository that lists whatever it is told and has none of the manifests it lists."""

    def __init__(self, listed: list[Descriptor]) -> None:
        self.listed = listed
        self.reads: list[Digest] = []

    def referrers(self, subject: Digest, artifact_type: str | None = None) -> list[Descriptor]:
        return self.listed

    def manifest(self, digest: Digest) -> VerifiedManifest:
        self.reads.append(digest)
        raise NotFoundError(f"manifest {digest} not found")


def _descriptor(n: int, *, labelled: bool = False) -> Descriptor:
    annotations = {"dev.hubsnap.signature.kind": "oms"} if labelled else {}
    return Descriptor(
        MEDIA_TYPE_IMAGE_MANIFEST,
        Digest.sha256(f"{n:064x}"),
        500,
        annotations,
        ARTIFACT_TYPE_SIGSTORE_BUNDLE,
    )


def test_listing_is_deduplicated_and_never_includes_the_subject() -> None:
    subject = _descriptor(0)
    repository = ListingOnly([subject, *[_descriptor(1), _descriptor(2)] * 2500])
    scan = scan_signature_referrers(repository, subject.digest)  # type: ignore[arg-type]
    assert repository.reads == [_descriptor(1).digest, _descriptor(2).digest]
    assert [r.digest for r in scan.referrers] == repository.reads
    assert scan.notes == ()


def test_listing_is_capped_labelled_first() -> None:
    listed = [_descriptor(n) for n in range(1, 1501)] + [_descriptor(5000, labelled=True)]
    repository = ListingOnly(listed)
    scan = scan_signature_referrers(repository, _descriptor(0).digest)  # type: ignore[arg-type]
    assert len(repository.reads) == MAX_REFERRERS == 1000
    assert repository.reads[0] == _descriptor(5000).digest
    assert scan.notes == (
        f"{_descriptor(0).digest} lists 1501 signature referrers; only the first 1000"
        " were examined",
    )


def test_self_parent_is_a_cycle(make_model: MakeModel, capsys: pytest.CaptureFixture[str]) -> None:
    model = make_model()
    sign(session_for(SETTINGS), model.ref, FIXED_KEY, signed_at=SIGNED_AT)
    sign(session_for(SETTINGS), model.ref, FIXED_KEY, parent=model.ref)
    result = run_cli(["verify", model.ref, "--key", str(FIXED_PUB), "--chain"], capsys)
    assert result.code == 6
    assert result.err.splitlines()[0] == (
        f"error: verification failed: {model.ref}: parent {model.digest} makes a cycle"
    )


@pytest.mark.registry
def test_hostile_tag_schema_index_stays_bounded(
    make_model: MakeModel, *, registry: RegistryServer, repo_name: str, tmp_path: Path,
    transfer_env: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """The index lists the subject itself, each signature 2,500 times and another artifact's
    signature: verify reads each referrer once, skips the foreign one, and passes."""
    model = make_model()
    other = make_model("org/other", store=tmp_path / "other")
    refs = {}
    for name, item in (("model", model), ("other", other)):
        pushed = run_cli(["push", item.ref, f"{registry.host}/{repo_name}:{name}"], capsys)
        assert pushed.code == 0, pushed.err
        refs[name] = f"{registry.host}/{repo_name}@{item.digest}"
        assert run_cli(["sign", refs[name], "--key", str(FIXED_KEY)], capsys).code == 0
    settings = Settings.from_env()
    with httpx.Client(timeout=30) as client:
        base = f"{registry.url}/v2/{repo_name}/manifests/"

        def listing(subject: Digest) -> list[Descriptor]:
            got = client.get(
                base + referrers_tag(subject),
                headers={"Accept": "application/vnd.oci.image.index.v1+json"},
            )
            return list(Index.from_bytes(got.content).manifests)

        mine, foreign = listing(model.digest), listing(other.digest)
        subject = model.repository.resolve(model.digest)
        hostile = Index((subject, *(mine * 2500), foreign[0]))
        put = client.put(
            base + referrers_tag(model.digest),
            content=hostile.to_bytes(),
            headers={"Content-Type": "application/vnd.oci.image.index.v1+json"},
        )
        assert put.status_code == 201, put.text

    counter = CountingTransport()
    report = verify(
        session_for(settings, TransportOptions(transport=counter)), refs["model"], keys=[FIXED_PUB]
    )
    assert report.ok, report.all_failures
    assert report.notes == (
        f"{refs['model']}: skipped referrer {foreign[0].digest}: referrer's subject is"
        f" {other.digest}, not {model.digest}",
    )
    # resolve, referrers API (404), the index, and a manifest + a bundle per distinct referrer
    assert len(counter.requests) <= 12, counter.requests
