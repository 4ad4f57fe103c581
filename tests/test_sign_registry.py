"""Signing round trips against a real registry without the referrers API (tag-schema fallback)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from hubsnap.signing.lineage import base_repositories
from support.keys import Model
from support.registry import RegistryServer, run_cli

MakeModel = Callable[..., Model]
pytestmark = pytest.mark.registry


def _push(
    model: Model, registry: RegistryServer, repo: str, capsys: pytest.CaptureFixture[str]
) -> str:
    result = run_cli(["push", model.ref, f"{registry.host}/{repo}:v1"], capsys)
    assert result.code == 0, result.err
    return f"{registry.host}/{repo}@{model.digest}"


def _assert_chain(
    child: str, parent: str, parent_id: str, public: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``verify --chain`` on ``child`` succeeds and walks to ``parent`` (a root)."""
    chained = run_cli(["verify", child, "--key", str(public), "--chain", "--json"], capsys)
    assert chained.code == 0, chained.err
    report = json.loads(chained.out)
    assert report["parent"]["reference"] == parent
    assert report["parent"]["ok"] is True
    assert report["parent"]["source"] == f"https://huggingface.co/{parent_id}"
    assert "parent" not in report["parent"]


def test_sign_verify_export_on_registry(
    make_model: MakeModel,
    *,
    registry: RegistryServer, repo_name: str, tmp_path: Path,
    key_pair: tuple[Path, Path], transfer_env: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    model = make_model()
    ref = _push(model, registry, repo_name, capsys)
    private, public = key_pair

    signed = run_cli(
        ["sign", f"{registry.host}/{repo_name}:v1", "--key", str(private), "--json"], capsys
    )
    assert signed.code == 0, signed.err
    assert json.loads(signed.out)["reference"] == ref

    # distribution 2.8 has no referrers API: the repository keeps the sha256-<hex> index.
    tags = run_cli(["verify", ref, "--key", str(public), "--json"], capsys)
    assert tags.code == 0, tags.err
    report = json.loads(tags.out)
    assert sorted(s["kind"] for s in report["signatures"]) == ["oms", "provenance"]
    index = registry.root / "docker/registry/v2/repositories" / repo_name / "_manifests/tags"
    assert (index / f"sha256-{model.digest.hex}").is_dir()

    other = tmp_path / "other.pem"
    assert run_cli(["keygen", "-o", str(other)], capsys).code == 0
    wrong = run_cli(["verify", ref, "--key", str(tmp_path / "other.pub")], capsys)
    assert wrong.code == 6
    assert "signature does not verify with any trusted key" in wrong.err

    signature = tmp_path / "model.sig"
    assert run_cli(["export-signature", ref, "-o", str(signature)], capsys).code == 0
    pulled = tmp_path / "pulled"
    pull = run_cli(["pull", ref, "-o", str(pulled)], capsys)
    assert pull.code == 0, pull.err
    check = subprocess.run(
        [str(Path(sys.executable).parent / "model_signing"), "verify", "key",
         "--signature", str(signature), "--public_key", str(public), str(pulled)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr


def test_unsigned_on_registry_and_unknown_digest(
    make_model: MakeModel,
    *,
    registry: RegistryServer, repo_name: str,
    key_pair: tuple[Path, Path], transfer_env: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    model = make_model()
    ref = _push(model, registry, repo_name, capsys)
    unsigned = run_cli(["verify", ref, "--key", str(key_pair[1])], capsys)
    assert unsigned.code == 6
    assert unsigned.err.splitlines()[0] == f"error: verification failed: {ref}: no signature found"
    missing = f"{registry.host}/{repo_name}@sha256:{'1' * 64}"
    unknown = run_cli(["verify", missing, "--key", str(key_pair[1])], capsys)
    assert unknown.code == 3, unknown.err


def test_chain_across_registry_repositories(
    make_model: MakeModel,
    *,
    registry: RegistryServer, repo_name: str, tmp_path: Path,
    key_pair: tuple[Path, Path], transfer_env: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    private, public = key_pair
    base = make_model("org/base", store=tmp_path / "a")
    tuned = make_model("org/tuned", store=tmp_path / "b", base_model="org/base")
    base_ref = _push(base, registry, repo_name + "-base", capsys)
    tuned_ref = _push(tuned, registry, repo_name + "-tuned", capsys)
    assert run_cli(["sign", base_ref, "--key", str(private)], capsys).code == 0
    signed = run_cli(
        ["sign", tuned_ref, "--key", str(private), "--parent", base_ref, "--json"], capsys
    )
    assert signed.code == 0, signed.err
    assert json.loads(signed.out)["parent"]["uri"] == base_ref
    _assert_chain(tuned_ref, base_ref, "org/base", public, capsys)


def test_card_base_model_found_in_sibling_repository(
    make_model: MakeModel,
    *,
    registry: RegistryServer, repo_name: str, tmp_path: Path,
    key_pair: tuple[Path, Path], transfer_env: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """``sign`` without ``--parent`` finds the card's base model on the registry, in the
    repository named like the child's with the base's Hub id, and ``--chain`` walks to it."""
    private, public = key_pair
    old_base = make_model("org/Base", store=tmp_path / "a", created="2024-01-01T00:00:00Z")
    base = make_model("org/Base", store=tmp_path / "b", commit="b" * 40)
    decoy = make_model("org/other", store=tmp_path / "c", created="2025-01-01T00:00:00Z")
    tuned = make_model("org/tuned", store=tmp_path / "d", base_model="org/Base")
    base_repo, tuned_repo = f"{repo_name}/org/base", f"{repo_name}/org/tuned"
    assert run_cli(["push", old_base.ref, f"{registry.host}/{base_repo}:v0"], capsys).code == 0
    assert run_cli(["push", decoy.ref, f"{registry.host}/{base_repo}:other"], capsys).code == 0
    base_ref = _push(base, registry, base_repo, capsys)
    tuned_ref = _push(tuned, registry, tuned_repo, capsys)
    # Only the newest org/Base artifact is signed: picking any other would fail to link.
    assert run_cli(["sign", base_ref, "--key", str(private)], capsys).code == 0

    signed = run_cli(["sign", tuned_ref, "--key", str(private), "--json"], capsys)
    assert signed.code == 0, signed.err
    assert json.loads(signed.out)["parent"]["uri"] == base_ref
    _assert_chain(tuned_ref, base_ref, "org/Base", public, capsys)

    orphan = make_model("org/orphan", store=tmp_path / "e", base_model="org/missing")
    orphan_ref = _push(orphan, registry, f"{repo_name}/org/orphan", capsys)
    alone = run_cli(["sign", orphan_ref, "--key", str(private), "--json"], capsys)
    assert alone.code == 0, alone.err
    assert json.loads(alone.out)["parent"] is None
    assert alone.err.splitlines() == [
        f"note: base model org/missing has no artifact in {registry.host}/{repo_name}/org/orphan"
    ]


def test_base_repositories_naming() -> None:
    assert base_repositories("mirror/org/tuned", "Org/Tuned", "Org/Base-1.5") == [
        "mirror/org/base-1.5",
        "mirror/org/tuned",
    ]
    assert base_repositories("models/tuned", "org/tuned", "acme/base") == [
        "models/base",
        "models/tuned",
    ]
    assert base_repositories("elsewhere", "org/tuned", "org/base") == ["elsewhere"]
