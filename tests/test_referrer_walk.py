"""Referrer graphs that loop or explode: pull/push and inspect visit each referrer once,
skip one whose subject is another artifact, and stop at a bounded number with a message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubsnap.api.inspect import _referrer_tree
from hubsnap.canonical import canonical_json
from hubsnap.digest import Digest, sha256_bytes
from hubsnap.models import MEDIA_TYPE_IMAGE_INDEX, MEDIA_TYPE_IMAGE_MANIFEST, Descriptor, Manifest
from hubsnap.oci import transfer
from hubsnap.oci.layout import LayoutStore
from hubsnap.oci.registry import referrers_tag
from hubsnap.oci.repository import LayoutRepository, VerifiedManifest
from hubsnap.oci.transfer import ReferrerWalk, copy_artifact
from support.registry import RegistryServer, run_cli


def _manifest(store: LayoutStore, payload: bytes, subject: Descriptor | None = None) -> Descriptor:
    config = store.put_bytes(b"{}")
    layer = store.put_bytes(payload)
    manifest = Manifest(
        config=Descriptor("application/x-test", config, 2),
        layers=(Descriptor("application/octet-stream", layer, len(payload)),),
        subject=subject,
        artifact_type="application/x-test",
    )
    return store.put_manifest(manifest.to_bytes())


class Hostile(LayoutRepository):
    """A layout whose referrers listing is whatever the test says, counting manifest reads."""

    def __init__(self, store: LayoutStore, listing: dict[Digest, list[Descriptor]]) -> None:
        super().__init__(store)
        self.listing = listing
        self.reads = 0
        self.listed: list[Digest] = []

    def referrers(self, subject: Digest, artifact_type: str | None = None) -> list[Descriptor]:
        self.listed.append(subject)
        return self.listing.get(subject, [])

    def manifest(self, digest: Digest) -> VerifiedManifest:
        self.reads += 1
        return super().manifest(digest)


@pytest.fixture
def graph(tmp_path: Path) -> tuple[LayoutStore, Descriptor, Descriptor, Descriptor]:
    store = LayoutStore(tmp_path / "src").ensure()
    model = _manifest(store, b"model")
    sig = _manifest(store, b"sig", Descriptor(model.media_type, model.digest, model.size))
    other = _manifest(store, b"other")
    stray = _manifest(store, b"stray", Descriptor(other.media_type, other.digest, other.size))
    return store, model, sig, stray


def _as_listed(d: Descriptor) -> Descriptor:
    return Descriptor(MEDIA_TYPE_IMAGE_MANIFEST, d.digest, d.size)


def test_a_loop_a_duplicate_and_a_stray_referrer_are_each_handled_once(
    tmp_path: Path, graph: tuple[LayoutStore, Descriptor, Descriptor, Descriptor]
) -> None:
    store, model, sig, stray = graph
    listing = {
        # the subject lists itself, the signature twice and a referrer of another artifact
        model.digest: [_as_listed(model), _as_listed(sig), _as_listed(sig), _as_listed(stray)],
        # the signature lists the model and itself back: a loop
        sig.digest: [_as_listed(model), _as_listed(sig)],
    }
    source = Hostile(store, listing)
    target = LayoutRepository(LayoutStore(tmp_path / "dst"))
    result = copy_artifact(source, target, model.digest)
    assert result.referrers == (sig.digest,)
    assert result.warnings == (
        f"ignoring referrer {stray.digest}: its subject is not {model.digest}",
    )
    assert not target.store.has_blob(stray.digest)
    assert source.listed == [model.digest, sig.digest]

    walk = ReferrerWalk(model.digest)
    tree = _referrer_tree(Hostile(store, listing), model.digest, 0, walk)
    assert [node.descriptor.digest for node in tree] == [sig.digest]
    assert tree[0].referrers == ()
    assert len(walk.warnings) == 1


def test_thousands_of_listed_referrers_stop_at_the_cap_with_a_message(
    tmp_path: Path,
    graph: tuple[LayoutStore, Descriptor, Descriptor, Descriptor],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, model, sig, _ = graph
    junk = [
        Descriptor(MEDIA_TYPE_IMAGE_MANIFEST, sha256_bytes(str(n).encode()), 100)
        for n in range(5000)
    ]
    source = Hostile(store, {model.digest: [_as_listed(sig), *junk, *junk]})
    target = LayoutRepository(LayoutStore(tmp_path / "dst"))
    result = copy_artifact(source, target, model.digest)
    assert result.referrers == (sig.digest,)
    # One read for the signature, one per listed referrer up to the cap: never 10,000.
    assert source.reads <= transfer.MAX_REFERRERS + 1
    assert result.warnings == (
        f"ignoring referrer {junk[0].digest} (and 998 more): its manifest is not found",
        f"{model.digest} has more than 1000 referrers: only the first 1000 are followed",
    )

    monkeypatch.setattr(transfer, "MAX_REFERRERS", 3)
    walk = ReferrerWalk(model.digest)
    tree = _referrer_tree(Hostile(store, {model.digest: junk}), model.digest, 0, walk)
    assert tree == ()
    assert walk.warnings[-1].endswith("more than 3 referrers: only the first 3 are followed")
    assert len(walk.visited) == 4


@pytest.mark.registry
def test_a_hostile_referrers_index_on_a_registry_is_walked_once_and_bounded(
    registry: RegistryServer, repo_name: str, transfer_env: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    import httpx

    store = LayoutStore(tmp_path / "src").ensure()
    model = _manifest(store, b"model")
    sig = _manifest(store, b"sig", Descriptor(model.media_type, model.digest, model.size))
    other = _manifest(store, b"other")
    stray = _manifest(store, b"stray", Descriptor(other.media_type, other.digest, other.size))
    for pushed in (model, other):
        run = run_cli(
            ["push", f"oci:{tmp_path / 'src'}@{pushed.digest}", f"{registry.host}/{repo_name}"],
            capsys,
        )
        assert run.code == 0, run.err
    # A registry only indexes manifests it holds: the hostile index lists the subject itself,
    # the real signature thousands of times and a referrer of another artifact.
    listed = [model, sig, stray, *[sig] * 5000, model]
    index = {
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_IMAGE_INDEX,
        "manifests": [_as_listed(d).to_json() for d in listed],
    }
    response = httpx.put(
        f"{registry.url}/v2/{repo_name}/manifests/{referrers_tag(model.digest)}",
        content=canonical_json(index),
        headers={"Content-Type": MEDIA_TYPE_IMAGE_INDEX},
    )
    assert response.status_code == 201, response.text[:300]

    ref = f"{registry.host}/{repo_name}@{model.digest}"
    shown = run_cli(["inspect", ref, "--json"], capsys)
    assert shown.code == 0, shown.err
    assert [r["digest"] for r in json.loads(shown.out)["referrers"]] == [str(sig.digest)]
    assert shown.err.splitlines() == [
        f"warning: ignoring referrer {stray.digest}: its subject is not {model.digest}"
    ]

    pulled = run_cli(["pull", ref, "--json"], capsys)
    assert pulled.code == 0, pulled.err
    assert LayoutStore(transfer_env / "store").has_blob(sig.digest)
    assert not LayoutStore(transfer_env / "store").has_blob(stray.digest)
    assert f"warning: ignoring referrer {stray.digest}: its subject is not {model.digest}" in (
        pulled.err.splitlines()
    )
