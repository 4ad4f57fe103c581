"""LFS routing by ``.gitattributes``, compared with ``git check-attr`` on the same files."""

from __future__ import annotations

import subprocess
from pathlib import Path

from hubsnap.lfs.attributes import LfsAttributes

ROOT_ATTRIBUTES = b"""# comment
*.safetensors filter=lfs diff=lfs merge=lfs -text
*.bin filter=lfs diff=lfs merge=lfs -text
*tfevents* filter=lfs diff=lfs merge=lfs -text
/onnx/*.onnx filter=lfs diff=lfs merge=lfs -text
data/**/*.npy filter=lfs diff=lfs merge=lfs -text
small.bin -filter
docs/ filter=lfs
!neg.bin filter=lfs
[attr]big filter=lfs
model-0000[1-3].gguf filter=lfs
weird?.pt filter=lfs
keep.safetensors filter=other
**/deep/** filter=lfs
"""
SUB_ATTRIBUTES = b"""*.txt filter=lfs
*.bin !filter
"""
PATHS = [
    "model.safetensors", "sub/model.safetensors", "pytorch_model.bin", "small.bin",
    "sub/small.bin", "sub/other.bin", "sub/notes.txt", "notes.txt", "runs/events.out.tfevents.1",
    "onnx/model.onnx", "onnx/x/model.onnx", "model.onnx", "data/a.npy", "data/x/y/a.npy",
    "docs/index.md", "neg.bin", "model-00002.gguf", "model-00004.gguf", "weirdo.pt",
    "weird.pt", "keep.safetensors", "a/deep/b/c.txt", "deep/x", "README.md", ".gitattributes",
]  # fmt: skip


def git_routes(tmp_path: Path) -> dict[str, bool]:
    repo = tmp_path / "repo"
    (repo / "sub").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / ".gitattributes").write_bytes(ROOT_ATTRIBUTES)
    (repo / "sub" / ".gitattributes").write_bytes(SUB_ATTRIBUTES)
    out = subprocess.run(
        ["git", "-C", str(repo), "check-attr", "filter", "--", *PATHS],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    routes = {}
    for line in out.splitlines():
        path, _, value = line.rpartition(": filter: ")
        routes[path] = value == "lfs"
    return routes


def test_routing_agrees_with_git_check_attr(tmp_path: Path) -> None:
    attributes = LfsAttributes(
        {".gitattributes": ROOT_ATTRIBUTES, "sub/.gitattributes": SUB_ATTRIBUTES}
    )
    ours = {path: attributes.routes_to_lfs(path) for path in PATHS}
    assert ours == git_routes(tmp_path)
    assert sum(ours.values()) >= 8  # the list exercises both answers


def test_no_attributes_files() -> None:
    attributes = LfsAttributes({})
    assert not attributes
    assert not attributes.routes_to_lfs("model.safetensors")
    assert LfsAttributes.is_attributes_file("a/.gitattributes")
    assert not LfsAttributes.is_attributes_file("a/x.gitattributes")
