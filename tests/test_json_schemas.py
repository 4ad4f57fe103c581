"""Every command's ``--json`` document: one envelope (``schema``), snake_case keys, and a JSON
Schema in ``schemas/`` that it validates against."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from support.keys import FIXED_KEY, FIXED_PUB, Model
from support.registry import run_cli
from support.schemas import SCHEMAS, schemas_by_id, validated

MakeModel = Callable[..., Model]
Capsys = pytest.CaptureFixture[str]
CLI = Path(__file__).parents[1] / "src" / "hubsnap" / "cli"
_SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")


def _keys(value: object, path: str = "") -> list[str]:
    """Every object key in a document, except inside OCI manifests and descriptors, whose
    field names are the image-spec's."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("manifest", "annotations") or "mediaType" in value:
                continue
            found.append(f"{path}.{key}")
            found += _keys(item, f"{path}.{key}")
    elif isinstance(value, list):
        for item in value:
            found += _keys(item, path)
    return found


def _check(out: str, command: str) -> dict[str, Any]:
    document = validated(out, command)
    bad = [k for k in _keys(document) if not _SNAKE.match(k.rsplit(".", 1)[-1])]
    assert not bad, f"{command}: keys not in snake_case: {bad}"
    return document


def test_every_command_names_its_schema_and_each_schema_exists() -> None:
    names: set[str] = set()
    for path in sorted(CLI.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "emit":
                schema = {k.arg: k.value for k in node.keywords}.get("schema")
                assert isinstance(schema, ast.Constant), f"{path.name}: emit() without schema="
                assert isinstance(schema.value, str), f"{path.name}: schema= is not a name"
                names.add(schema.value)
    known = schemas_by_id()
    for name in names:
        assert f"hubsnap.dev/{name}/v1" in known, f"no schemas/*.schema.json for {name}"
    assert all(p.name.endswith(".schema.json") for p in SCHEMAS.iterdir())


def test_local_commands_print_valid_documents(
    make_model: MakeModel, tmp_path: Path, capsys: Capsys
) -> None:
    model = make_model("org/model", tag="org/model:main")
    store = str(tmp_path / "store")

    def ok(argv: list[str], command: str) -> dict[str, Any]:
        run = run_cli([*argv, "--json"], capsys)
        assert run.code == 0, (argv, run.err)
        return _check(run.out, command)

    assert ok(["version"], "version")["version"]
    assert ok(["-q", "version"], "version") == ok(["version"], "version")  # both paths agree
    key = ok(["keygen", "-o", str(tmp_path / "k" / "key.pem")], "keygen")
    assert key["curve"] == "p256"
    signed = ok(["sign", model.ref, "--key", str(FIXED_KEY)], "sign")
    assert signed["reference"] == model.ref.replace(store, str(Path(store).resolve()))
    ok(["verify", model.ref, "--key", str(FIXED_PUB)], "verify")
    inspected = ok(["inspect", model.ref], "inspect")
    assert len(inspected["referrers"]) == 2
    pushed = ok(["push", model.ref, f"oci:{tmp_path / 'copy'}:v1"], "push")
    assert pushed["referrers"] and pushed["blobs_sent"] == pushed["blobs"]
    copied = ok(["cp", str(pushed["reference"]), f"oci:{tmp_path / 'copy2'}"], "cp")
    assert copied["digest"] == str(model.digest)
    pulled = ok(["pull", model.ref, "-o", str(tmp_path / "out")], "pull")
    assert pulled["directory"] == str(tmp_path / "out")
    ok(["export-signature", model.ref, "-o", str(tmp_path / "model.sig")], "export-signature")
    for argv, command in (
        (["store", "ls", "--store", store], "store-ls"),
        (["store", "verify", "--store", store], "store-verify"),
        (["store", "tag", "org/model@main", "v2", "--store", store], "store-tag"),
        (["store", "gc", "--dry-run", "--store", store], "store-gc"),
        (["store", "rm", "v2", "--yes", "--dry-run", "--store", store], "store-rm"),
    ):
        ok(argv, command)
