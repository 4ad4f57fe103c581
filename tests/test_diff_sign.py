"""``diff --sign KEY``: the JSON report, signed, attached to the target as a referrer that
``inspect`` names a diff report and ``verify`` does not take for a signature; a missing or
wrong key fails before anything is read, attaching nothing."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import save

from hubsnap.digest import Digest
from hubsnap.oci.repository import Repository
from hubsnap.signing.attach import scan_signature_referrers
from hubsnap.signing.diffreport import DIFF_PREDICATE_TYPE
from hubsnap.signing.dsse import open_envelope
from hubsnap.signing.keys import load_public_key
from hubsnap.signing.kinds import SignatureKind
from support.keys import FIXED_KEY, FIXED_PUB, Model, model_files_for
from support.registry import RegistryServer, push_model, run_cli
from support.schemas import validated

MakeModel = Callable[..., Model]
Capsys = pytest.CaptureFixture[str]
HINT = hashlib.sha256(FIXED_PUB.read_bytes()).hexdigest()


def _files(name: str) -> dict[str, bytes]:
    files = model_files_for("org/model")
    files["config.json"] = json.dumps({"model_type": "bert", "name": name}).encode()
    files["model.safetensors"] = save({"w": np.arange(4, dtype=np.float32)})
    return files


def _pair(make_model: MakeModel) -> tuple[Model, Model]:
    base = make_model("org/model", files=_files("org/model"))
    return base, make_model("org/model", files=_files("org/model-v2"), commit="1" * 40)


def _signed_statement(repository: Repository, subject: Digest) -> dict[str, Any]:
    """The one diff report attached to ``subject``, opened with the public key."""
    referrers = scan_signature_referrers(repository, subject).referrers
    reports = [r for r in referrers if r.kind is SignatureKind.DIFF]
    assert len(reports) == 1 and reports[0].bundle is not None
    opened = open_envelope(reports[0].bundle.envelope, [load_public_key(FIXED_PUB)])
    return opened.statement


def test_a_signed_report_is_attached_labelled_and_verifies(
    make_model: MakeModel, capsys: Capsys
) -> None:
    base, target = _pair(make_model)
    assert run_cli(["sign", target.ref, "--key", str(FIXED_KEY)], capsys).code == 0
    run = run_cli(["diff", base.ref, target.ref, "--json", "--sign", str(FIXED_KEY)], capsys)
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert report["config"]["changed"][0]["path"] == "name"
    (line,) = run.err.splitlines()
    assert line.startswith("signed the report: referrer sha256:") and target.ref in line

    statement = _signed_statement(target.repository, target.digest)
    assert statement["predicateType"] == DIFF_PREDICATE_TYPE
    assert statement["subject"] == [{"name": target.ref, "digest": {"sha256": target.digest.hex}}]
    assert statement["predicate"] == report

    shown = run_cli(["inspect", target.ref, "--json"], capsys)
    assert shown.code == 0, shown.err
    labels = sorted(
        (r["signature"]["kind"], r["signature"]["key_hint"])
        for r in validated(shown.out, "inspect")["referrers"]
    )
    assert labels == [("diff", HINT), ("oms", HINT), ("provenance", HINT)]
    text = run_cli(["inspect", target.ref], capsys)
    assert f"(diff report, key {HINT})" in text.out

    verified = run_cli(["verify", target.ref, "--key", str(FIXED_PUB), "--json"], capsys)
    assert verified.code == 0, verified.err
    kinds = sorted(s["kind"] for s in validated(verified.out, "verify")["signatures"])
    assert kinds == ["oms", "provenance"]  # the report is set aside, not a failed signature


def test_a_report_is_no_signature_of_the_artifact(
    make_model: MakeModel, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    base, target = _pair(make_model)
    monkeypatch.setenv("HUBSNAP_STORE", str(target.store))  # the local store, by digest
    run = run_cli(["diff", str(base.digest), str(target.digest), "--sign", str(FIXED_KEY)], capsys)
    assert run.code == 0, run.err
    assert "referrer sha256:" in run.err
    verified = run_cli(["verify", target.ref, "--key", str(FIXED_PUB)], capsys)
    assert verified.code == 6
    assert verified.err.splitlines()[0] == (
        f"error: verification failed: {target.repository.describe()}@{target.digest}: "
        "no signature found"
    )


#: The --sign argument (relative: under the test's directory), the exit code, the error.
BAD_KEYS = {
    "missing": ("missing.pem", 3, "key file"),
    "public-key": (str(FIXED_PUB), 2, "not a PEM private key"),
    "garbage": ("garbage.pem", 2, "not a PEM private key"),
}


@pytest.mark.parametrize("bad", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_a_missing_or_wrong_key_fails_first_and_attaches_nothing(
    bad: tuple[str, int, str], make_model: MakeModel, tmp_path: Path, capsys: Capsys
) -> None:
    key, code, message = bad
    base, target = _pair(make_model)
    (tmp_path / "garbage.pem").write_text("not a key\n")
    path = key if Path(key).is_absolute() else str(tmp_path / key)
    gone = f"oci:{base.store}@sha256:{'0' * 64}"  # would be exit 3 had anything been read
    for first in (base.ref, gone):
        run = run_cli(["diff", first, target.ref, "--sign", path], capsys)
        assert run.code == code, run.err
        lines = run.err.splitlines()
        assert lines[0].startswith("error: ") and message in lines[0] and len(lines) <= 2
    shown = run_cli(["inspect", target.ref, "--json"], capsys)
    assert json.loads(shown.out)["referrers"] == []


@pytest.mark.registry
def test_a_report_signed_onto_a_registry_target(
    registry: RegistryServer, repo_name: str, transfer_env: Path, tmp_path: Path, capsys: Capsys
) -> None:
    files, changed = _files("org/model"), _files("org/model-v2")
    one = push_model(f"{registry.host}/{repo_name}:one", files, tmp_path / "a", capsys)
    two = push_model(f"{registry.host}/{repo_name}:two", changed, tmp_path / "b", capsys)
    base, target = f"{registry.host}/{repo_name}@{one}", f"{registry.host}/{repo_name}:two"
    run = run_cli(
        ["diff", base, target, "--levels", "files,config,headers", "--json",
         "--sign", str(FIXED_KEY)], capsys,
    )  # fmt: skip
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert report["files"]["changed"] == ["config.json"]
    assert "signed the report: referrer sha256:" in run.err

    shown = run_cli(["inspect", f"{registry.host}/{repo_name}@{two}", "--json"], capsys)
    assert shown.code == 0, shown.err
    (referrer,) = validated(shown.out, "inspect")["referrers"]
    assert referrer["signature"] == {"kind": "diff", "key_hint": HINT, "problem": None}

    from hubsnap.api.session import Session
    from hubsnap.config import Settings

    with Session(Settings.from_env()) as session:
        repository, digest, _ = session.resolve(target)
        statement = _signed_statement(repository, digest)
    assert statement["predicate"] == report
    assert statement["subject"][0]["digest"] == {"sha256": Digest.parse(two).hex}


def test_a_report_labelled_as_a_signature_is_rejected_as_mislabelled(
    make_model: MakeModel, capsys: Capsys
) -> None:
    from hubsnap.signing.attach import attach_bundle
    from hubsnap.signing.diffreport import DiffStatement
    from hubsnap.signing.dsse import sign_statement
    from hubsnap.signing.keys import load_private_key
    from support.keys import SIGNED_AT

    model = make_model(files=_files("org/model"))
    assert run_cli(["sign", model.ref, "--key", str(FIXED_KEY)], capsys).code == 0
    repository = model.repository
    found = repository.manifest(model.digest)
    bundle = sign_statement(
        DiffStatement(model.digest, model.ref, {"schema": "x"}), load_private_key(FIXED_KEY)
    )
    attach_bundle(repository, found.descriptor, bundle, SignatureKind.OMS, SIGNED_AT)
    verified = run_cli(["verify", model.ref, "--key", str(FIXED_PUB), "--json"], capsys)
    assert verified.code == 0, verified.err  # the real pair still verifies
    checks = validated(verified.out, "verify")["signatures"]
    rejected = [c for c in checks if not c["ok"]]
    assert [(c["kind"], c["reason"]) for c in rejected] == [
        ("diff", "referrer is labelled oms but holds diff")
    ]


def test_reports_cannot_push_the_signatures_out_of_a_bounded_scan(
    make_model: MakeModel, capsys: Capsys
) -> None:
    from hubsnap.signing.attach import attach_bundle
    from hubsnap.signing.diffreport import DiffStatement
    from hubsnap.signing.dsse import sign_statement
    from hubsnap.signing.keys import load_private_key
    from support.keys import SIGNED_AT

    model = make_model(files=_files("org/model"))
    repository = model.repository
    subject = repository.manifest(model.digest).descriptor
    key = load_private_key(FIXED_KEY)
    for n in range(3):  # attached before the signatures: listed first
        bundle = sign_statement(DiffStatement(model.digest, model.ref, {"n": n}), key)
        attach_bundle(repository, subject, bundle, SignatureKind.DIFF, SIGNED_AT)
    assert run_cli(["sign", model.ref, "--key", str(FIXED_KEY)], capsys).code == 0
    scan = scan_signature_referrers(repository, model.digest, limit=2)
    assert {r.kind for r in scan.referrers} == {SignatureKind.OMS, SignatureKind.PROVENANCE}


def test_a_report_too_large_for_a_bundle_is_refused_unattached(
    make_model: MakeModel, capsys: Capsys
) -> None:
    base = make_model(files=_files("org/model"))
    files = _files("org/model-v2")
    files["config.json"] = json.dumps({f"key_{i}": i for i in range(30_000)}).encode()
    target = make_model(files=files, commit="2" * 40)
    run = run_cli(["diff", base.ref, target.ref, "--levels", "config", "--sign", str(FIXED_KEY)],
                  capsys)  # fmt: skip
    assert run.code == 2, run.err
    assert "over the 1 MiB a signature bundle holds" in run.err.splitlines()[0]
    assert json.loads(run_cli(["inspect", target.ref, "--json"], capsys).out)["referrers"] == []
