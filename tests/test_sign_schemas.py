"""The JSON that sign, verify and export-signature print matches its schema in schemas/."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest

from support.keys import FIXED_KEY, FIXED_PUB, Model
from support.registry import run_cli

MakeModel = Callable[..., Model]
SCHEMAS = Path(__file__).parents[1] / "schemas"


def _schema(name: str) -> dict[str, object]:
    schema: dict[str, object] = json.loads((SCHEMAS / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def test_outputs_match_their_schemas(
    make_model: MakeModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = make_model("org/base")
    tuned = make_model("org/tuned", base_model="org/base")
    for model in (base, tuned, tuned):
        signed = run_cli(["sign", model.ref, "--key", str(FIXED_KEY), "--json"], capsys)
        assert signed.code == 0, signed.err
        jsonschema.validate(json.loads(signed.out), _schema("sign-result.schema.json"))
    assert json.loads(signed.out)["attached"] == []
    assert json.loads(signed.out)["parent"] is not None

    argv = ["verify", tuned.ref, "--key", str(FIXED_PUB), "--chain", "--json"]
    verified = run_cli(argv, capsys)
    assert verified.code == 0, verified.err
    report = json.loads(verified.out)
    jsonschema.validate(report, _schema("verify-result.schema.json"))
    assert "parent" in report
    unsigned = make_model("org/unsigned", store=tmp_path / "other")
    failed = run_cli(["verify", unsigned.ref, "--key", str(FIXED_PUB), "--json"], capsys)
    assert failed.code == 6
    jsonschema.validate(json.loads(failed.out), _schema("verify-result.schema.json"))

    out = tmp_path / "model.sig"
    argv = ["export-signature", tuned.ref, "-o", str(out), "--key", str(FIXED_PUB), "--json"]
    exported = run_cli(argv, capsys)
    assert exported.code == 0, exported.err
    jsonschema.validate(json.loads(exported.out), _schema("export-signature-result.schema.json"))
