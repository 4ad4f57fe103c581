"""The image-layout spec's rules for a directory, checked before a layout is read.

A layout hubsnap did not create (``oci:PATH`` written by skopeo or oras, say) must have an
``oci-layout`` file holding a JSON object whose ``imageLayoutVersion`` is ``1.0.0``, an
``index.json`` and a ``blobs`` directory; ``index.json`` itself (``schemaVersion`` 2, the
index media type) is checked by the bounded reader that parses it. Checked here rather than
by oras-py's validator, whose package loads requests and jsonschema (60 ms) on every command
that reads a layout, ``verify`` of a local artifact included.
"""

from __future__ import annotations

import stat
from pathlib import Path

from hubsnap.documents import InvalidDocument, load_json
from hubsnap.errors import IntegrityError
from hubsnap.localfile import read_regular_file

__all__ = ["check_layout_spec"]

_LAYOUT_FILE_LIMIT = 64 * 1024
_VERSION = "1.0.0"


def _is_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(path.stat().st_mode)
    except OSError:
        return False


def check_layout_spec(root: Path) -> None:
    """Raise ``ValueError`` naming the first rule of the image-layout spec ``root`` breaks."""
    if not _is_dir(root / "blobs"):
        what = "is not a directory" if (root / "blobs").exists() else "is missing"
        raise ValueError(f"the 'blobs' directory {what}")
    try:
        data = read_regular_file(
            root / "oci-layout", limit=_LAYOUT_FILE_LIMIT, what="oci-layout file",
            error=IntegrityError,
        )  # fmt: skip
        layout = load_json(data, "File 'oci-layout'", max_bytes=_LAYOUT_FILE_LIMIT)
    except InvalidDocument as e:
        raise ValueError(str(e)) from e
    except IntegrityError as e:
        raise ValueError(e.message) from e
    if not isinstance(layout, dict):
        raise ValueError("File 'oci-layout' must contain a JSON object")
    version = layout.get("imageLayoutVersion")
    if version != _VERSION:
        shown = repr(version)[:40] if version is not None else "missing"
        raise ValueError(f"imageLayoutVersion must be {_VERSION!r}, not {shown}")
    if not (root / "index.json").is_file():
        raise ValueError("the 'index.json' file is missing")
