"""The repository contract holds above ``oci/``: no verb asks which kind of repository it has.

Verbs and stages talk to :class:`hubsnap.oci.repository.Repository`; a capability only one
kind has is a method with an answer on both sides. These checks read the source: an
``isinstance`` against a repository class, or a command module deciding anything with
``isinstance``, is the shape of code the contract exists to prevent.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "hubsnap"
_REPOSITORY_CLASSES = {"RegistryRepository", "LayoutRepository"}


def _isinstance_targets(path: Path) -> list[tuple[int, set[str]]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance":
            classes = node.args[1]
            names = {n.id for n in ast.walk(classes) if isinstance(n, ast.Name)}
            found.append((node.lineno, names))
    return found


def test_no_repository_downcast_outside_oci() -> None:
    offenders = [
        f"{path.relative_to(SRC)}:{line}"
        for path in SRC.rglob("*.py")
        if path.parent.name != "oci"
        for line, names in _isinstance_targets(path)
        if names & _REPOSITORY_CLASSES
    ]
    assert offenders == []


def test_command_modules_decide_nothing() -> None:
    """``cli/`` parses, calls one verb and renders: the one ``isinstance`` allowed is the
    top-level error handler's."""
    offenders = [
        f"{path.name}:{line}"
        for path in (SRC / "cli").glob("*.py")
        if path.name != "__init__.py"
        for line, _ in _isinstance_targets(path)
    ]
    assert offenders == []


def test_command_modules_compose_no_verbs() -> None:
    """A command calls one verb: signing after a push or a snapshot happens in ``api``."""
    for name in ("push.py", "snapshot.py"):
        tree = ast.parse((SRC / "cli" / name).read_text())
        imported = {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module is not None
        }
        assert "hubsnap.api.signing" not in imported, name
        names = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            for alias in node.names
        }
        assert "signing" not in names, name
