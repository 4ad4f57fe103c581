"""Sides of a diff built from in-memory files, for the diff level tests."""

from __future__ import annotations

import json
from pathlib import Path

from hubsnap.diff.files import ArtifactFile, Side
from hubsnap.digest import sha256_bytes


def side(tmp_path: Path, name: str, files: dict[str, bytes | str | object]) -> Side:
    """A side named ``name`` whose files are written under ``tmp_path/name``: bytes as they
    are, text UTF-8 encoded, anything else as JSON."""
    root = tmp_path / name
    out = {}
    for path, content in files.items():
        if isinstance(content, bytes):
            data = content
        elif isinstance(content, str):
            data = content.encode()
        else:
            data = json.dumps(content).encode()
        local = root / path
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(data)
        out[path] = ArtifactFile(path, str(sha256_bytes(data)), len(data), local)
    return Side(name, None, out)
