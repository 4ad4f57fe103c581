"""Wire formats as typed values: each has one ``to_json``/``from_json`` pair, and every golden
file reads back into a value that writes the same JSON (and, where signed, the same bytes)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from hubsnap.digest import Digest
from hubsnap.errors import IntegrityError
from hubsnap.models import Index
from hubsnap.signing.dsse import Bundle, open_envelope, parse_bundle
from hubsnap.signing.keys import Curve, generate_key, load_public_key
from hubsnap.signing.kinds import SignatureKind, SourceOrigin
from hubsnap.signing.oms import OmsResource, OmsStatement
from hubsnap.signing.policy import LEVELS, PolicyLevel
from hubsnap.signing.provenance import (
    OCI_BUILD_TYPE,
    ModelCard,
    ParentLink,
    Provenance,
    parse_provenance,
)
from support.keys import FIXED_PUB, GOLDEN


def _golden(name: str) -> dict[str, Any]:
    """A golden statement: JSON, untyped by nature."""
    value = json.loads((GOLDEN / name).read_bytes())
    assert isinstance(value, dict)
    return value


def test_oms_statement_round_trip() -> None:
    golden = _golden("oms-statement.json")
    statement = OmsStatement.from_json(golden)
    assert statement.to_json() == golden
    assert OmsStatement.from_json(statement.to_json()) == statement
    assert statement.resources[0] == OmsResource(
        "README.md",
        Digest.sha256("3d598e99002839bb574a3c750ef578839fd6ca026609560aa1a05d94890ba7f9"),
    )
    assert isinstance(statement.root, Digest)


def test_signed_bundle_round_trips_byte_for_byte() -> None:
    data = (GOLDEN / "oms-bundle-signed.json").read_bytes()
    bundle = parse_bundle(data)
    assert bundle.to_bytes() == data
    assert Bundle.from_json(json.loads(data)) == bundle
    opened = open_envelope(bundle.envelope, [load_public_key(FIXED_PUB)])
    assert OmsStatement.from_json(opened.statement).to_json() == _golden("oms-statement.json")
    assert bundle.key_hint == load_public_key(FIXED_PUB).bundle_hint


def test_hub_provenance_round_trip() -> None:
    golden = _golden("provenance-statement.json")
    provenance = parse_provenance(golden)
    assert provenance.to_json() == golden
    assert Provenance.from_json(provenance.to_json()) == provenance
    assert provenance.origin is SourceOrigin.ANNOTATIONS and provenance.artifact is None
    assert provenance.signed_at == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_oci_artifact_provenance_matches_golden() -> None:
    value = Provenance(
        subject=Digest.sha256("1" * 64),
        source_url="https://git.example/acme/packed",
        repo_id=None,
        requested_revision=None,
        commit="v1.2",
        card=ModelCard(Digest.sha256("2" * 64), {"license": "mit", "base_model": "acme/base"}),
        parent=ParentLink(
            Digest.sha256("3" * 64),
            Digest.sha256("4" * 64),
            f"registry.example/acme/base@sha256:{'3' * 64}",
            "https://git.example/acme/base",
        ),
        signed_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        builder_version="<version>",
        origin=SourceOrigin.MODEL_CONFIG,
        artifact=f"registry.example/acme/packed@sha256:{'1' * 64}",
    )
    golden = _golden("provenance-oci-artifact.json")
    assert value.to_json() == golden
    assert Provenance.from_json(golden) == value
    assert value.build_type == OCI_BUILD_TYPE


def test_unknown_source_round_trip() -> None:
    value = Provenance(
        subject=Digest.sha256("1" * 64),
        source_url=None,
        repo_id=None,
        requested_revision=None,
        commit=None,
        card=None,
        parent=None,
        signed_at=None,
        origin=SourceOrigin.UNKNOWN,
        artifact="oci:/store@sha256:" + "1" * 64,
    )
    statement = value.to_json()
    assert statement["subject"][0]["name"] == value.artifact
    assert statement["predicate"]["buildDefinition"]["externalParameters"]["source"] == {
        "origin": "unknown"
    }
    assert Provenance.from_json(statement) == value


def test_bad_source_origin_is_an_integrity_error() -> None:
    statement = _golden("provenance-oci-artifact.json")
    statement["predicate"]["buildDefinition"]["externalParameters"]["source"]["origin"] = "x"
    with pytest.raises(IntegrityError, match=r"^provenance source origin is not one"):
        parse_provenance(statement)


def test_oms_statement_rejects_malformed_resources() -> None:
    golden = _golden("oms-statement.json")
    golden["predicate"]["resources"][0]["algorithm"] = "md5"
    with pytest.raises(IntegrityError, match=r"^OMS statement is malformed: resource README"):
        OmsStatement.from_json(golden)
    golden = _golden("oms-statement.json")
    golden["predicate"]["resources"][0]["digest"] = "zz"
    with pytest.raises(IntegrityError, match=r"^OMS statement is malformed: invalid digest"):
        OmsStatement.from_json(golden)


def test_index_round_trips_byte_for_byte() -> None:
    data = (GOLDEN / "referrers-index.json").read_bytes()
    index = Index.from_bytes(data)
    assert index.to_bytes() == data
    assert [d.annotations.get("dev.hubsnap.signature.kind") for d in index.manifests] == [
        "oms",
        "provenance",
    ]
    with pytest.raises(IntegrityError, match=r"^malformed image index: manifests must be a list"):
        Index.from_bytes(b'{"schemaVersion": 2, "manifests": {}}')
    with pytest.raises(IntegrityError, match=r"^malformed image index: "):
        Index.from_bytes(b"[" * 200_000)


def test_closed_sets_are_enums() -> None:
    assert [str(c) for c in Curve] == ["p256", "p384"]
    assert generate_key(Curve.P384).curve is Curve.P384
    assert LEVELS == (PolicyLevel.STRICT, PolicyLevel.AUDIT)
    assert [str(k) for k in SignatureKind] == ["oms", "provenance", "diff"]
