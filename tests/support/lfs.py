"""Helpers for the ``hubsnap lfs`` tests: the CLI run in-process, git, small model artifacts."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from hubsnap.cli import main
from support.keys import Model, build_model

ATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.onnx filter=lfs\n"
FILES = {
    ".gitattributes": ATTRIBUTES,
    "README.md": b"# a model\n",
    "config.json": b'{"hidden_size": 8}\n',
    "model.safetensors": bytes(range(256)) * 64,
    "onnx/model.onnx": b"onnx bytes" * 100,
    "tokenizer/vocab.txt": b"[PAD]\n[UNK]\n",
}
LFS_PATHS = {"model.safetensors", "onnx/model.onnx"}

Run = Callable[..., tuple[int, str, str]]
ATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.onnx filter=lfs\n"
FILES = {
    ".gitattributes": ATTRIBUTES,
    "README.md": b"# a model\n",
    "config.json": b'{"hidden_size": 8}\n',
    "model.safetensors": bytes(range(256)) * 64,
    "onnx/model.onnx": b"onnx bytes" * 100,
    "tokenizer/vocab.txt": b"[PAD]\n[UNK]\n",
}
LFS_PATHS = {"model.safetensors", "onnx/model.onnx"}


def cli_runner(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Run:
    """Run ``hubsnap`` in-process with a fresh ``HUBSNAP_HOME``: ``(exit code, out, err)``."""
    monkeypatch.setenv("HUBSNAP_HOME", str(tmp_path / "home"))
    for name in ("HUBSNAP_STORE", "HUBSNAP_DEBUG", "GIT_DIR", "GIT_WORK_TREE"):
        monkeypatch.delenv(name, raising=False)

    def _run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            main(list(argv))
        out, err = capsys.readouterr()
        return int(exit_info.value.code or 0), out, err

    return _run


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def git_bytes(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=True).stdout


def model(tmp_path: Path, files: dict[str, bytes] | None = None, commit: str = "a" * 40) -> Model:
    """A model artifact in ``tmp_path/store`` (``FILES`` unless given)."""
    return build_model(tmp_path / "store", "org/model", files=files or FILES, commit=commit)


def commit(run: Run, source: Model, repo: Path, *extra: str) -> str:
    code, out, err = run("lfs", "commit", source.ref, "--repo", str(repo), *extra)
    assert code == 0, err
    return out.strip()
