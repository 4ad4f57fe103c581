"""The import graph follows the layers: cli -> api -> stages -> core, one owner per SDK.

Read from the source with :mod:`ast`, so the test sees imports inside functions too (the
lazy ones that keep start-up fast count as much as the top-level ones).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "hubsnap"

# Each third-party SDK is imported by the module (or package) that owns it, nowhere else.
OWNERS: dict[str, tuple[str, ...]] = {
    "httpx": ("http/",),
    "httpx2": (),
    "huggingface_hub": ("hub.py", "hublist.py", "hubfiles.py", "hubauth.py", "hubenv.py"),
    "oras": ("oci/layout.py",),  # the image-layout validator, for layouts not the store
    "cryptography": ("signing/",),
    "git": ("lfs/",),
    "yaml": ("documents.py",),
    "blake3": ("digest.py",),
    "typer": ("cli/",),
    "click": (),
    # Terminal rendering: progress bars, the CLI and the report renderers.
    "rich": ("progress.py", "cli/", "diff/render.py", "diff/behaviour/render.py"),
    "starlette": ("serve/",),
    "uvicorn": ("serve/",),
    "rq": ("serve/",),
    "redis": ("serve/",),
    "prometheus_client": ("serve/",),
    "scipy": ("diff/",),
    "numpy": ("diff/",),
    "transformers": ("diff/", "like/encoder.py"),
    "torch": ("diff/",),
    "sentence_transformers": ("like/encoder.py",),
}

# Core modules hold values and pure functions: they import no other layer.
CORE = {
    "errors",
    "config",
    "digest",
    "models",
    "canonical",
    "documents",
    "values",
    "retry",
    "progress",
    "fsutil",
    "localfile",
}
# Layer of each top-level name under hubsnap; higher may import lower, never the reverse.
RANK = {"core": 0, "stage": 1, "api": 2, "cli": 3}


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "__pycache__" not in p.parts)


def _relative(path: Path) -> str:
    return path.relative_to(SRC).as_posix()


def _layer(relative: str) -> str:
    top = relative.split("/", 1)[0].removesuffix(".py")
    # Entry points: the CLI, ``python -m hubsnap``, the git hooks' fast entry point and the
    # server (``hubsnap serve``/``worker``, which runs the api's mirror job).
    if top in ("cli", "__main__", "hookrun", "serve"):
        return "cli"
    if top == "api":
        return "api"
    if top in CORE or top == "__init__":
        return "core"
    return "stage"


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    package = _relative(path).removesuffix(".py").split("/")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ["hubsnap", *package[: len(package) - node.level]]
                names.append(".".join([*base, node.module] if node.module else base))
            elif node.module:
                names.append(node.module)
    return names


def _hubsnap_target(name: str) -> str | None:
    if name != "hubsnap" and not name.startswith("hubsnap."):
        return None
    parts = name.split(".")[1:]
    return "/".join(parts) + ".py" if parts else "__init__.py"


@pytest.mark.parametrize("path", _modules(), ids=_relative)
def test_sdk_imported_only_by_its_owner(path: Path) -> None:
    relative = _relative(path)
    for name in _imports(path):
        top = name.split(".", 1)[0]
        owners = OWNERS.get(top)
        if owners is None:
            continue
        assert any(relative == o or relative.startswith(o) for o in owners if o), (
            f"{relative} imports {name}; only {owners or 'nothing'} may"
        )


@pytest.mark.parametrize("path", _modules(), ids=_relative)
def test_layers_import_downwards(path: Path) -> None:
    relative = _relative(path)
    layer = _layer(relative)
    for name in _imports(path):
        target = _hubsnap_target(name)
        if target is None or target == "__init__.py":
            continue
        target_layer = _layer(target)
        assert RANK[target_layer] <= RANK[layer], (
            f"{relative} ({layer}) imports {name} ({target_layer})"
        )
