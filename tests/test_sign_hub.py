"""``snapshot --sign`` and ``push --sign``: Hub emulator models signed end to end, chained by
their model cards' ``base_model``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.hub import BASE, COMMITS, FINETUNED, HfEnv
from support.registry import RegistryServer, run_cli, session_for

pytestmark = pytest.mark.hub
SMALL = ["--include", "*.json", "--include", "*.md", "--include", "*.txt"]


@pytest.fixture
def home(hf_env: HfEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "hubsnap-home"
    monkeypatch.setenv("HUBSNAP_HOME", str(home))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    for name in ("HUBSNAP_STORE", "HUBSNAP_TIMEOUT", "HUBSNAP_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return home


def test_snapshot_sign_links_finetune_to_base(
    home: Path, key_pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    private, public = key_pair
    base = run_cli(["snapshot", BASE, *SMALL, "-o", "base.yaml", "--sign", str(private)], capsys)
    assert base.code == 0, base.err
    assert "signed oci:" in base.err
    tuned = run_cli(
        ["snapshot", FINETUNED, *SMALL, "-o", "ft.yaml", "--sign", str(private), "--json"], capsys
    )
    assert tuned.code == 0, tuned.err
    data = json.loads(tuned.out)
    base_ref = base.out.strip()
    assert data["signed"]["parent"]["uri"] == base_ref
    report = run_cli(
        ["verify", data["reference"], "--key", str(public), "--chain", "--json"], capsys
    )
    assert report.code == 0, report.err
    chain = json.loads(report.out)
    assert chain["commit"] == COMMITS[FINETUNED]["main"]
    assert chain["parent"]["reference"] == base_ref
    assert chain["parent"]["commit"] == COMMITS[BASE]["main"]
    assert chain["parent"].get("parent") is None


def test_snapshot_sign_records_requested_revision(
    home: Path, key_pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from hubsnap.api.signing import verify
    from hubsnap.config import Settings

    result = run_cli(["snapshot", f"{BASE}@main", *SMALL, "--sign", str(key_pair[0])], capsys)
    assert result.code == 0, result.err
    report = verify(session_for(Settings.from_env()), result.out.strip(), keys=[key_pair[1]])
    (provenance,) = [s for s in report.signatures if s.kind == "provenance"]
    assert provenance.provenance is not None
    assert provenance.provenance.requested_revision == "main"
    assert provenance.provenance.commit == COMMITS[BASE]["main"]
    assert provenance.provenance.card is not None
    assert provenance.provenance.card.metadata.get("license") == "apache-2.0"


@pytest.mark.registry
def test_push_sign_on_registry(
    home: Path, registry: RegistryServer, repo_name: str, key_pair: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    private, public = key_pair
    local = run_cli(["snapshot", BASE, *SMALL], capsys)
    assert local.code == 0, local.err
    destination = f"{registry.host}/{repo_name}:v1"
    argv = ["push", local.out.strip(), destination, "--sign", str(private), "--json"]
    pushed = run_cli(argv, capsys)
    assert pushed.code == 0, pushed.err
    data = json.loads(pushed.out)
    assert data["signed"]["reference"] == data["reference"]
    verified = run_cli(["verify", data["reference"], "--key", str(public)], capsys)
    assert verified.code == 0, verified.err


@pytest.mark.registry
def test_push_sign_from_snapshot_records_requested_revision(
    home: Path, registry: RegistryServer, repo_name: str, key_pair: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from hubsnap.api.signing import verify
    from hubsnap.config import Settings

    private, public = key_pair
    local = run_cli(["snapshot", f"{BASE}@v2", *SMALL, "-o", "v2.yaml"], capsys)
    assert local.code == 0, local.err
    destination = f"{registry.host}/{repo_name}"
    pushed = run_cli(["push", "v2.yaml", destination, "--sign", str(private)], capsys)
    assert pushed.code == 0, pushed.err
    report = verify(session_for(Settings.from_env()), pushed.out.strip(), keys=[public])
    (provenance,) = [s for s in report.signatures if s.kind == "provenance"]
    assert provenance.provenance is not None
    assert provenance.provenance.requested_revision == "v2"
    assert provenance.provenance.commit == COMMITS[BASE]["v2"]
