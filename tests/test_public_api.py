"""Every hubsnap module declares a sorted ``__all__`` naming only what it defines or re-exports,
and the library never imports the CLI."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import hubsnap

SRC = Path(hubsnap.__file__).parent


def _isort_key(name: str) -> tuple[int, str]:
    # The order ruff's RUF022 keeps: CONSTANTS, then Classes, then functions.
    if name.isupper() or (name.upper() == name and "_" in name):
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


def _modules() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.walk_packages([str(SRC)], prefix="hubsnap.")
        if not info.name.endswith("__main__")
    )


@pytest.mark.parametrize("name", _modules())
def test_all_is_sorted_and_resolvable(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    if exported is None:
        return
    assert list(exported) == sorted(exported, key=_isort_key), f"{name}.__all__ is not sorted"
    for symbol in exported:
        assert hasattr(module, symbol), f"{name}.__all__ names missing {symbol!r}"


@pytest.mark.parametrize("name", [n for n in _modules() if not n.startswith("hubsnap.cli")])
def test_library_never_imports_cli(name: str) -> None:
    path = SRC.joinpath(*name.split(".")[1:])
    source = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    tree = ast.parse(source.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            assert not node.module.startswith("hubsnap.cli"), f"{name} imports {node.module}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                assert not alias.name.startswith("hubsnap.cli"), f"{name} imports {alias.name}"
