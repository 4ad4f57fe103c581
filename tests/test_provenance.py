"""Provenance statements, parent links and the chain walk on the local store."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from hubsnap.api.signing import sign, sign_artifact, verify
from hubsnap.config import Settings
from hubsnap.digest import sha256_bytes
from hubsnap.errors import IntegrityError
from hubsnap.oci.layout import LayoutStore
from hubsnap.signing.dsse import parse_bundle
from hubsnap.signing.keys import PrivateKey
from hubsnap.signing.provenance import parse_model_card, parse_provenance
from support.keys import FIXED_KEY, FIXED_PUB, GOLDEN, SIGNED_AT, Model, card, remove_from_index
from support.registry import run_cli, session_for

MakeModel = Callable[..., Model]
SETTINGS = Settings.from_env({})


def _statement(model: Model, referrer: object) -> dict[str, object]:
    store = LayoutStore(model.store)
    _, manifest = store.read_manifest(referrer)  # type: ignore[arg-type]
    bundle = parse_bundle(store.read_blob(manifest.layers[0].digest))
    return json.loads(bundle.envelope.payload)  # type: ignore[no-any-return]


def test_statement_matches_golden(make_model: MakeModel, fixed_key: PrivateKey) -> None:
    model = make_model("org/model")
    result = sign_artifact(
        model.repository, model.digest, fixed_key, signed_at=SIGNED_AT, requested_revision="main"
    )
    statement = _statement(model, result.provenance)
    builder = statement["predicate"]["runDetails"]["builder"]  # type: ignore[index]
    builder["version"] = {"hubsnap": "<version>"}
    assert statement == json.loads((GOLDEN / "provenance-statement.json").read_bytes())
    assert statement["subject"] == [  # type: ignore[comparison-overlap]
        {"name": "https://huggingface.co/org/model", "digest": {"sha256": model.digest.hex}}
    ]


def test_model_card_metadata() -> None:
    data = card("org/base")
    parsed = parse_model_card(data, sha256_bytes(data))
    assert parsed.metadata == {
        "license": "apache-2.0",
        "pipeline_tag": "text-classification",
        "base_model": "org/base",
        "base_model_relation": "finetune",
        "datasets": ["glue", "imdb"],
    }
    for broken in (b"no front matter", b"---\n: : [\n---\n", b"---\n- a list\n---\n"):
        assert parse_model_card(broken, sha256_bytes(broken)).metadata == {}


def test_parent_found_from_card_base_model(make_model: MakeModel, fixed_key: PrivateKey) -> None:
    base = make_model("org/base")
    tuned = make_model("org/tuned", base_model="org/base")
    first = sign_artifact(base.repository, base.digest, fixed_key, signed_at=SIGNED_AT)
    result = sign_artifact(tuned.repository, tuned.digest, fixed_key, signed_at=SIGNED_AT)
    assert result.parent is not None
    assert result.parent.manifest == base.digest
    assert result.parent.provenance_envelope == first.provenance_envelope
    assert result.parent.uri == f"oci:{base.store}@{base.digest}"
    provenance = parse_provenance(_statement(tuned, result.provenance))
    assert provenance.parent == result.parent
    assert provenance.card is not None
    assert provenance.card.base_models == ["org/base"]


def test_unsigned_parent_is_refused(
    make_model: MakeModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = make_model("org/base")
    tuned = make_model("org/tuned", store=tmp_path / "other")
    result = run_cli(["sign", tuned.ref, "--key", str(FIXED_KEY), "--parent", base.ref], capsys)
    assert result.code == 6
    assert result.err.splitlines() == [
        f"error: parent oci:{base.store}@{base.digest} has no provenance signed by a trusted key",
        "hint: sign the parent first, or pass its key with --parent-key",
    ]
    assert tuned.repository.referrers(tuned.digest) == []


def test_parent_signed_by_another_key_needs_parent_key(
    make_model: MakeModel, key_pair: tuple[Path, Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    base = make_model("org/base")
    tuned = make_model("org/tuned", store=tmp_path / "other")
    assert run_cli(["sign", base.ref, "--key", str(key_pair[0])], capsys).code == 0
    argv = ["sign", tuned.ref, "--key", str(FIXED_KEY), "--parent", base.ref]
    assert run_cli(argv, capsys).code == 6
    signed = run_cli([*argv, "--parent-key", str(key_pair[1]), "--json"], capsys)
    assert signed.code == 0, signed.err
    assert json.loads(signed.out)["parent"]["digest"] == str(base.digest)
    # The chain needs both keys trusted.
    only_child = run_cli(["verify", tuned.ref, "--key", str(FIXED_PUB), "--chain"], capsys)
    assert only_child.code == 6
    assert f"chain link 1 (oci:{base.store}@{base.digest})" in only_child.err
    both = ["verify", tuned.ref, "--key", str(FIXED_PUB), "--key", str(key_pair[1]), "--chain"]
    assert run_cli(both, capsys).code == 0


def _three_generations(make_model: MakeModel) -> tuple[Model, Model, Model, list[object]]:
    base = make_model("org/base")
    tuned = make_model("org/tuned", base_model="org/base")
    quant = make_model("org/quant", base_model="org/tuned")
    results = []
    for offset, model in enumerate((base, tuned, quant)):
        results.append(
            sign(
                session_for(SETTINGS),
                model.ref,
                FIXED_KEY,
                signed_at=SIGNED_AT + timedelta(minutes=offset),
            )
        )
    return base, tuned, quant, results


def test_chain_tree(make_model: MakeModel, capsys: pytest.CaptureFixture[str]) -> None:
    base, tuned, quant, _ = _three_generations(make_model)
    result = run_cli(["verify", quant.ref, "--key", str(FIXED_PUB), "--chain"], capsys)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    hub = "https://huggingface.co"
    assert lines[0].startswith(f"{quant.ref}  {hub}/org/quant @ ")
    assert lines[3].startswith(f"└── parent {tuned.ref}  {hub}/org/tuned @ ")
    assert lines[4].startswith("    ├── ok   oms ")
    assert lines[6].startswith(f"    └── parent {base.ref}  {hub}/org/base @ ")
    assert lines[8].startswith("        └── ok   provenance  key sha256:")
    assert len(lines) == 9
    report = verify(session_for(SETTINGS), quant.ref, keys=[FIXED_PUB], chain=True)
    assert report.parent is not None and report.parent.parent is not None
    assert report.parent.parent.parent is None


def test_broken_chain_names_the_link(
    make_model: MakeModel, capsys: pytest.CaptureFixture[str]
) -> None:
    base, _, quant, results = _three_generations(make_model)
    remove_from_index(base.store, results[0].provenance)  # type: ignore[attr-defined]
    result = run_cli(["verify", quant.ref, "--key", str(FIXED_PUB), "--chain"], capsys)
    assert result.code == 6
    envelope = results[0].provenance_envelope  # type: ignore[attr-defined]
    assert result.err.splitlines()[0] == (
        f"error: verification failed: chain link 2 ({base.ref}): the provenance its child"
        f" records ({envelope}) is not attached or does not verify (no provenance signature"
        " found)"
    )
    # Without --chain the artifact itself still verifies.
    assert run_cli(["verify", quant.ref, "--key", str(FIXED_PUB)], capsys).code == 0


def test_missing_parent_artifact(
    make_model: MakeModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = make_model("org/base", store=tmp_path / "gone")
    tuned = make_model("org/tuned")
    sign(session_for(SETTINGS), base.ref, FIXED_KEY, signed_at=SIGNED_AT)
    sign(session_for(SETTINGS), tuned.ref, FIXED_KEY, parent=base.ref, signed_at=SIGNED_AT)
    remove_from_index(base.store, base.digest)
    (base.store / "blobs" / "sha256" / base.digest.hex).unlink()
    result = run_cli(["verify", tuned.ref, "--key", str(FIXED_PUB), "--chain"], capsys)
    assert result.code == 6
    assert result.err.startswith(
        f"error: verification failed: {tuned.ref}: parent {base.ref} not found"
    )


def test_cycle_is_refused(make_model: MakeModel, capsys: pytest.CaptureFixture[str]) -> None:
    a = make_model("org/a")
    b = make_model("org/b")
    sign(session_for(SETTINGS), a.ref, FIXED_KEY, signed_at=SIGNED_AT)
    sign(
        session_for(SETTINGS),
        b.ref,
        FIXED_KEY,
        parent=a.ref,
        signed_at=SIGNED_AT + timedelta(minutes=1),
    )
    sign(
        session_for(SETTINGS),
        a.ref,
        FIXED_KEY,
        parent=b.ref,
        signed_at=SIGNED_AT + timedelta(minutes=2),
    )
    result = run_cli(["verify", a.ref, "--key", str(FIXED_PUB), "--chain"], capsys)
    assert result.code == 6
    assert result.err.splitlines()[0] == (
        f"error: verification failed: chain link 1 ({b.ref}): parent {a.digest} makes a cycle"
    )


def test_depth_limit_from_policy(make_model: MakeModel, tmp_path: Path) -> None:
    _, _, quant, _ = _three_generations(make_model)
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "version: 1\npolicies:\n  - name: all\n    scopes: ['*']\n"
        f"    keys: [{FIXED_PUB}]\n    require: {{chain: true, maxDepth: 1}}\n"
    )
    report = verify(session_for(SETTINGS), quant.ref, policy=policy)
    assert report.all_failures == [
        f"chain link 1 ({report.parent.reference}): chain is deeper than maxDepth 1"  # type: ignore[union-attr]
    ]


def test_base_model_without_artifact_is_a_note(make_model: MakeModel) -> None:
    tuned = make_model("org/tuned", base_model="org/missing")
    result = sign(session_for(SETTINGS), tuned.ref, FIXED_KEY, signed_at=SIGNED_AT)
    assert result.parent is None
    assert result.notes == (f"base model org/missing has no artifact in oci:{tuned.store}",)


def test_provenance_subject_must_match(make_model: MakeModel, fixed_key: PrivateKey) -> None:
    model = make_model()
    result = sign_artifact(model.repository, model.digest, fixed_key, signed_at=SIGNED_AT)
    statement = _statement(model, result.provenance)
    statement["subject"] = [{"name": "x", "digest": {"sha256": "zz"}}]
    with pytest.raises(IntegrityError, match="provenance subject digest is malformed"):
        parse_provenance(statement)
