"""The README a newcomer reads: its set-up commands, its command reference and its trust
policy example stay true to the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hubsnap.cli import app
from hubsnap.signing.keys import generate_key, save_key_pair
from hubsnap.signing.policy import PolicyLevel, load_policy
from support.registry import run_cli

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end >= 0 else None]


def _listed_commands() -> list[str]:
    rows = re.findall(r"^\| `([a-z-]+)`(?: / `([a-z-]+)`)? \|", _section("Commands"), re.M)
    return [name for row in rows for name in row if name]


def test_the_first_two_set_up_commands_stay_as_they_are() -> None:
    assert README.startswith(
        "# hubsnap\n\n```sh\n"
        "bash scripts/demo.sh     # install everything, run the end-to-end demo on the local "
        "Hub emulator\n"
        "bash scripts/test.sh     # install the test dependencies, run linters, type checks "
        "and tests\n```\n"
    )


def test_the_command_reference_lists_every_command_in_the_helps_order() -> None:
    commands = [c.name for c in app.registered_commands if not c.hidden]
    groups = [g.typer_instance.info.name for g in app.registered_groups if g.typer_instance]
    assert _listed_commands() == [*commands, *groups]


@pytest.mark.parametrize("command", _listed_commands())
def test_each_listed_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_cli([command, "-h"], capsys)
    assert run.code == 0, run.err
    assert run.out.startswith(f"Usage: hubsnap {command} ")


def test_the_trust_policy_example_loads(tmp_path: Path) -> None:
    (block,) = re.findall(r"```yaml\n(.*?)```", _section("Trust policy"), re.S)
    key = generate_key("p256")
    pair = save_key_pair(key, tmp_path / "release.pem")
    policy = tmp_path / "policy.yaml"
    policy.write_text(block.replace("sha256:…", pair.fingerprint), encoding="utf-8")
    loaded = load_policy(policy)
    releases = loaded.for_repository("registry.example.com/models/minilm")
    assert releases is not None and releases.name == "releases"
    assert releases.level is PolicyLevel.STRICT and releases.require.chain
    assert [k.fingerprint for k in releases.keys] == [pair.fingerprint]
    local = loaded.for_repository("oci:/home/ci/.cache/hubsnap/store")
    assert local is not None and local.level is PolicyLevel.AUDIT
