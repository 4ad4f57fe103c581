"""``hubsnap cp``: an artifact and its referrers, so verify works at the copy; a copy without
them gets a hint at ``cp``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hubsnap.oci.layout import LayoutStore
from support.keys import FIXED_KEY, FIXED_PUB, Model, remove_from_index
from support.registry import run_cli
from support.schemas import validated

MakeModel = Callable[..., Model]


def test_cp_carries_signatures_and_a_bare_copy_hints_at_cp(
    make_model: MakeModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = make_model("org/model")
    assert run_cli(["sign", model.ref, "--key", str(FIXED_KEY)], capsys).code == 0
    copy = tmp_path / "copy"
    run = run_cli(["cp", model.ref, f"oci:{copy}:v1", "--json"], capsys)
    assert run.code == 0, run.err
    result = validated(run.out, "cp")
    assert result["reference"] == f"oci:{copy.resolve()}@{model.digest}"
    assert len(result["referrers"]) == 2
    assert "2 referrers" in run.err
    verified = run_cli(["verify", result["reference"], "--key", str(FIXED_PUB)], capsys)
    assert verified.code == 0, verified.err

    # What a digest-keeping copy without referrers (skopeo, docker) leaves.
    for referrer in LayoutStore(copy).referrers(model.digest):
        remove_from_index(copy, referrer.digest)
    bare = run_cli(["verify", result["reference"], "--key", str(FIXED_PUB)], capsys)
    assert bare.code == 6
    lines = bare.err.splitlines()
    assert lines[0].startswith("error: verification failed:") and "no signature found" in lines[0]
    assert lines[1].startswith("hint: signatures travel as referrers")
    assert "hubsnap cp SRC DEST" in lines[1]
    assert len(lines) == 2


def test_cp_to_a_digest_is_a_usage_error(
    make_model: MakeModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = make_model("org/model")
    run = run_cli(["cp", model.ref, f"oci:{tmp_path / 'x'}@{model.digest}"], capsys)
    assert run.code == 2
    assert run.err.startswith("error: push destination")
    assert not (tmp_path / "x").exists()
