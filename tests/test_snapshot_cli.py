"""``hubsnap snapshot`` against the Hub emulator: pinning, verification, the store, the document."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from hubsnap.cli import main
from hubsnap.digest import Digest
from hubsnap.oci.layout import LayoutStore
from hubsnap.progress import Progress, transfer_progress
from support.hub import BASE, COMMITS, DISABLED, FINETUNED, GATED, PRIVATE, HfEnv
from support.schemas import validated

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "schemas" / "snapshot.schema.json").read_text())
BASE_MAIN = COMMITS[BASE]["main"]

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def home(hf_env: HfEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh HUBSNAP_HOME, the working directory set to a scratch dir."""
    home = tmp_path / "hubsnap-home"
    monkeypatch.setenv("HUBSNAP_HOME", str(home))
    for name in ("HUBSNAP_STORE", "HUBSNAP_TIMEOUT", "HUBSNAP_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return home


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    def _run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            main(list(argv))
        out, err = capsys.readouterr()
        return int(exit_info.value.code or 0), out, err

    return _run


def load_document(path: Path) -> dict[str, Any]:
    """The snapshot document, checked against its schema; YAML gives untyped values."""
    document = yaml.safe_load(path.read_text())
    jsonschema.validate(document, SCHEMA)
    return dict(document)


def store_digest(out: str) -> Digest:
    line = out.strip()
    assert line.startswith("oci:") and "@sha256:" in line, line
    return Digest.parse(line.rsplit("@", 1)[1])


def assert_nothing_left(home: Path, work: Path) -> None:
    """No blob, no ingest temp, no index entry, no snapshot document."""
    store = home / "store"
    if store.exists():
        assert list((store / "blobs" / "sha256").glob("*")) == []
        assert list(store.glob("ingest/*")) == []
        assert LayoutStore(store).entries() == []
    assert list(work.iterdir()) == []


def test_snapshot_pins_commit_and_packs_verified_artifact(home: Path, run: Run) -> None:
    code, out, err = run("snapshot", BASE, "-o", "snapshot.yaml")
    assert code == 0, err
    digest = store_digest(out)
    assert out.strip() == f"oci:{(home / 'store').resolve()}@{digest}"
    document = load_document(Path("snapshot.yaml"))
    assert document["commit"] == BASE_MAIN
    assert document["revision"] == "main"
    assert document["model_id"] == BASE
    store = LayoutStore(home / "store")
    _, manifest = store.read_manifest(digest)
    tags = store.tags()
    # Readable store tags: the requested revision, and the commit that stays when it moves.
    assert tags["sentence-transformers/all-minilm-l6-v2:main"] == digest
    assert tags[f"sentence-transformers/all-minilm-l6-v2:{BASE_MAIN}"] == digest
    annotations = manifest.annotations
    assert annotations["org.opencontainers.image.revision"] == BASE_MAIN
    assert annotations["org.opencontainers.image.created"] == document["commit_date"]
    assert annotations["org.opencontainers.image.licenses"] == "apache-2.0"
    assert "dev.hubsnap.selection" not in annotations
    files = {f["path"]: f for f in document["files"]}
    paths = [layer.filepath for layer in manifest.layers]
    assert paths == sorted(files, key=str.encode)
    for layer in manifest.layers:
        entry = files[layer.filepath]
        data = store.blob_path(layer.digest).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] == layer.digest.hex
        assert len(data) == entry["size"] == layer.size
        assert entry["downloaded"] is True
    assert files["model.safetensors"]["lfs"] is True
    assert files["config.json"]["lfs"] is False
    fingerprint = document["fingerprint"]
    assert isinstance(fingerprint, dict)
    assert fingerprint["config.json"] == files["config.json"]["sha256"]
    assert "tokenizer.json" in fingerprint and "model.safetensors" not in fingerprint
    config = json.loads(store.read_blob(manifest.config.digest))
    assert config["descriptor"]["revision"] == BASE_MAIN
    assert config["config"]["architecture"] == "BertModel"
    assert config["config"]["format"] == "safetensors"
    assert document["artifact"] == {
        "digest": str(digest),
        "reference": out.strip(),
        "tag": "sentence-transformers/all-minilm-l6-v2:main",
        "complete": True,
        "files": len(files),
    }
    assert list((home / "store" / "ingest").iterdir()) == []


def test_downloads_name_the_commit_never_the_branch(home: Path, run: Run, hf_env: HfEnv) -> None:
    hub = hf_env.hub
    code, _, err = run("snapshot", f"{BASE}@v2")
    assert code == 0, err
    commit = COMMITS[BASE]["v2"]
    assert load_document(Path("snapshot.yaml"))["commit"] == commit
    assert hub.request_count("/resolve/v2/") == 0
    assert hub.request_count(f"/resolve/{commit}/") > 0
    assert hub.request_count("/revision/v2") == 1  # resolved once


def test_same_commit_same_digest_in_another_home(
    home: Path, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, first, err = run("snapshot", BASE, "-o", "a.yaml")
    assert code == 0, err
    monkeypatch.setenv("HUBSNAP_HOME", str(tmp_path / "elsewhere"))
    code, second, err = run("snapshot", f"{BASE}@{BASE_MAIN}", "-o", "b.yaml")
    assert code == 0, err
    assert store_digest(first) == store_digest(second)
    one = (home / "store" / "blobs" / "sha256" / store_digest(first).hex).read_bytes()
    two = tmp_path / "elsewhere" / "store" / "blobs" / "sha256" / store_digest(second).hex
    assert one == two.read_bytes()


def test_files_in_the_store_are_not_downloaded_again(home: Path, run: Run, hf_env: HfEnv) -> None:
    hub = hf_env.hub
    code, first, err = run("snapshot", BASE, "--json")
    assert code == 0, err
    assert validated(first, "snapshot-result")["reused"] == []
    hub.reset_request_counts()
    code, second, err = run("snapshot", BASE, "--json")
    assert code == 0, err
    result = validated(second, "snapshot-result")
    assert result["downloaded"] == []
    assert len(result["reused"]) == len(result["files"])
    assert result["artifact"]["digest"] == json.loads(first)["artifact"]["digest"]
    assert hub.request_count("/resolve/") == 0
    assert hub.request_count("/_cdn/") == 0


def test_metadata_only_downloads_no_weights_and_says_so(
    home: Path, run: Run, hf_env: HfEnv
) -> None:
    code, out, err = run("snapshot", BASE, "--metadata-only", "-o", "meta.yaml")
    assert code == 0, err
    document = load_document(Path("meta.yaml"))
    files = {f["path"]: f for f in document["files"]}
    weights = files["model.safetensors"]
    assert weights["downloaded"] is False and weights["blake3"] is None
    assert weights["sha256"] and weights["lfs"] is True
    assert files["config.json"]["downloaded"] is True
    assert files["README.md"]["downloaded"] is True
    assert hf_env.hub.request_count("/_cdn/") == 0
    store = LayoutStore(home / "store")
    digest = store_digest(out)
    _, manifest = store.read_manifest(digest)
    assert manifest.annotations["dev.hubsnap.selection"] == "metadata-only"
    layer_paths = {layer.filepath for layer in manifest.layers}
    assert layer_paths == {p for p, f in files.items() if f["downloaded"]}
    assert "model.safetensors" not in layer_paths
    assert not store.has_blob(Digest.sha256(str(weights["sha256"])))
    assert document["artifact"]["complete"] is False
    assert document["artifact"]["tag"] is None
    assert store.tags() == {}


def test_include_and_exclude_globs(home: Path, run: Run) -> None:
    code, _, err = run(
        "snapshot", BASE, "--include", "*.json", "--include", "*.txt", "--exclude", "1_Pooling/*"
    )
    assert code == 0, err
    document = load_document(Path("snapshot.yaml"))
    paths = [f["path"] for f in document["files"]]
    assert paths and all(p.endswith((".json", ".txt")) for p in paths)
    assert "1_Pooling/config.json" not in paths and "vocab.txt" in paths
    assert document["selection"] == {
        "mode": "filtered",
        "include": ["*.json", "*.txt"],
        "exclude": ["1_Pooling/*"],
    }


def test_dry_run_writes_nothing(home: Path, run: Run, hf_env: HfEnv) -> None:
    code, out, err = run("snapshot", BASE, "--dry-run")
    assert code == 0, err
    assert BASE_MAIN in out and "model.safetensors" in out and "download" in out
    assert not home.exists()
    assert list(Path.cwd().iterdir()) == []
    assert hf_env.hub.request_count("/resolve/") == 0
    code, out, err = run("snapshot", BASE, "--dry-run", "--json")
    assert code == 0, err
    assert validated(out, "snapshot-result")["reference"] is None


def test_each_download_reports_its_progress(
    home: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    reported: dict[str, list[int]] = {}

    @contextlib.contextmanager
    def recorder(description: str, total: int | None) -> Iterator[Progress]:
        with transfer_progress(description, total) as real:
            steps = reported.setdefault(f"{description} {total}", [])

            class Counting:
                def advance(self, nbytes: int) -> None:
                    steps.append(nbytes)
                    real.advance(nbytes)

            yield Counting()

    monkeypatch.setattr("hubsnap.hubfiles.transfer_progress", recorder)
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS")  # set by hf_env
    code, out, err = run("snapshot", BASE, "--json")
    assert code == 0, err
    files = json.loads(out)["files"]
    assert set(reported) == {f"{f['path']} {f['size']}" for f in files}
    assert all(sum(reported[f"{f['path']} {f['size']}"]) == f["size"] for f in files)
    # HF_HUB_DISABLE_PROGRESS_BARS, as huggingface_hub reads it, turns every bar off.
    reported.clear()
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "yes")
    code, out, err = run("snapshot", BASE, "--json", "--store", str(home / "other-store"))
    assert code == 0, err
    assert json.loads(out)["downloaded"] and reported == {}


def test_card_base_model_becomes_base_name(home: Path, run: Run, hf_env: HfEnv) -> None:
    code, out, err = run("snapshot", FINETUNED)
    assert code == 0, err
    _, manifest = LayoutStore(home / "store").read_manifest(store_digest(out))
    # The canonical Hub URL, as the base artifact's source is, not the endpoint used.
    base_name = manifest.annotations["org.opencontainers.image.base.name"]
    assert base_name == f"https://huggingface.co/{BASE}" != f"{hf_env.endpoint}/{BASE}"


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("with_token", [True, False], ids=["token", "anonymous"])
def test_unknown_repo_is_not_found(
    home: Path, run: Run, hf_env: HfEnv, monkeypatch: pytest.MonkeyPatch, with_token: bool
) -> None:
    # Anonymously the Hub answers 401 RepoNotFound, for a missing repository as for a private
    # one; with a token 404. Either way it is not found; only the anonymous caller gets a hint.
    if with_token:
        monkeypatch.setenv("HF_TOKEN", hf_env.hub.token)
    code, out, err = run("snapshot", "nobody/no-such-model")
    assert (code, out) == (3, "")
    hint = [] if with_token else ["hint: if the repository is private, set HF_TOKEN"]
    assert err.splitlines() == [
        f"error: nobody/no-such-model@main: not found on {hf_env.endpoint}",
        *hint,
    ]
    assert not home.exists()
    assert list(Path.cwd().iterdir()) == []


def test_unknown_revision_is_not_found(home: Path, run: Run) -> None:
    code, out, err = run("snapshot", f"{BASE}@no-such-branch")
    assert (code, out) == (3, "")
    assert err.splitlines() == [f"error: {BASE}@no-such-branch: revision not found"]
    assert_nothing_left(home, Path.cwd())


@pytest.mark.parametrize(
    "case",
    [
        (PRIVATE, 3, "not found on {endpoint}", "if the repository is private, set HF_TOKEN"),
        (GATED, 4, "the repository is gated and no token is set",
         "accept the conditions on the Hub, then set HF_TOKEN"),
    ],
    ids=["private", "gated"],
)  # fmt: skip
def test_private_and_gated_need_a_token(
    home: Path, run: Run, hf_env: HfEnv, monkeypatch: pytest.MonkeyPatch,
    case: tuple[str, int, str, str],
) -> None:  # fmt: skip
    # A private repository is, to an anonymous caller, RepoNotFound like a missing one (3); a
    # gated one is listed openly and refuses its files (4). Neither leaves a store behind.
    repo, code, line, hint = case
    status, out, err = run("snapshot", repo)
    assert (status, out) == (code, "")
    lines = err.splitlines()
    assert lines[0].startswith(f"error: {repo}")
    assert lines[0].endswith(line.format(endpoint=hf_env.endpoint))
    assert lines[1:] == [f"hint: {hint}"]
    assert not (home / "store").exists()
    assert list(Path.cwd().iterdir()) == []
    monkeypatch.setenv("HF_TOKEN", hf_env.hub.token)
    status, out, err = run("snapshot", repo)
    assert status == 0, err
    assert load_document(Path("snapshot.yaml"))["commit"] == COMMITS[repo]["main"]


def test_gated_with_a_token_not_granted_access(
    home: Path, run: Run, hf_env: HfEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", hf_env.hub.outsider_token)
    code, out, err = run("snapshot", GATED)
    assert (code, out) == (4, "")
    assert err.splitlines() == [
        f"error: {GATED}/.gitattributes: "
        "the repository is gated and this token has not been granted access",
        "hint: accept the conditions on the Hub with this token's account",
    ]
    assert not (home / "store").exists()
    assert list(Path.cwd().iterdir()) == []


def test_subprocess_success_and_failure(hf_env: HfEnv, tmp_path: Path) -> None:
    """Through ``python -m hubsnap``: the console wiring, exit codes and streams."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUBSNAP_"))}
    env |= {"HF_ENDPOINT": hf_env.endpoint, "HUBSNAP_HOME": str(tmp_path / "h")}
    done = subprocess.run(
        [sys.executable, "-m", "hubsnap", "snapshot", f"{BASE}@v1.0", "-o", "s.yaml"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("oci:") and done.stdout.count("\n") == 1
    # stderr is a pipe, not a terminal: no progress bars, only the summary line.
    commit = COMMITS[BASE]["v1.0"]
    assert done.stderr.splitlines() == [
        f"{BASE}@{commit[:12]}: 13 downloaded, 0 already in the store; wrote s.yaml"
    ]
    assert load_document(tmp_path / "s.yaml")["commit"] == COMMITS[BASE]["v1.0"]
    done = subprocess.run(
        [sys.executable, "-m", "hubsnap", "snapshot", f"{BASE}@nope", "-o", "t.yaml"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (3, "")
    assert done.stderr == f"error: {BASE}@nope: revision not found\n"
    assert not (tmp_path / "t.yaml").exists()


def test_disabled_repository_is_not_found(
    home: Path, run: Run, hf_env: HfEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", hf_env.hub.token)  # a token does not help
    code, out, err = run("snapshot", DISABLED)
    assert (code, out) == (3, "")
    assert err.splitlines() == [
        f"error: {DISABLED}@main: the repository has been disabled on the Hub"
    ]
    assert_nothing_left(home, Path.cwd())


@pytest.mark.parametrize("spec", ["bad repo", "a/../b@main", "org/model name@v1"])
def test_a_malformed_repository_id_is_a_usage_error(home: Path, run: Run, spec: str) -> None:
    code, out, err = run("snapshot", spec)
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"error: invalid repository id {spec.partition('@')[0]!r}",
        "hint: use OWNER/NAME, e.g. org/model",
    ]
    assert not (home / "store").exists() and not Path("snapshot.yaml").exists()
