"""The command line's basics: -h, --version, one-line usage errors, -q, examples in every
command's help, progress lines without a terminal, logout, and a start-up that loads no
command's dependencies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from hubsnap import __version__, progress
from hubsnap.cli import app
from support.keys import FIXED_KEY, FIXED_PUB, Model
from support.registry import fake_credential_helper, run_cli
from support.schemas import validated

Capsys = pytest.CaptureFixture[str]
MakeModel = Callable[..., Model]


def _commands() -> list[list[str]]:
    """Every command as argv, groups' commands included (hidden test commands left out)."""
    found: list[list[str]] = []
    for info in app.registered_commands:
        if not info.hidden and info.name:
            found.append([info.name])
    for group in app.registered_groups:
        sub = group.typer_instance
        assert sub is not None and sub.info.name
        found += [[sub.info.name, c.name] for c in sub.registered_commands if c.name]
    return found


def test_h_and_help_and_version(capsys: Capsys) -> None:
    for flag in ("-h", "--help"):
        run = run_cli([flag], capsys)
        assert run.code == 0
        assert run.out.startswith("Usage: hubsnap [OPTIONS] COMMAND")
        assert "╭" not in run.out  # plain text, no boxes
    run = run_cli(["--version"], capsys)
    assert (run.code, run.out, run.err) == (0, f"hubsnap {__version__}\n", "")
    run = run_cli([], capsys)
    assert run.code == 0 and "Commands:" in run.out


def test_commands_are_listed_in_workflow_order(capsys: Capsys) -> None:
    out = run_cli(["-h"], capsys).out
    listed = [
        line.split()[0]
        for line in out.split("Commands:")[1].splitlines()
        if line[:3] == "  " + line[2:3] and line.strip() and not line.startswith("    ")
    ]
    order = ["discover", "snapshot", "push", "pull", "cp", "inspect", "sign", "verify"]
    assert [name for name in listed if name in order] == order


def test_every_command_has_help_with_an_example(capsys: Capsys) -> None:
    commands = _commands()
    assert ["store", "gc"] in commands and ["logout"] in commands and ["cp"] in commands
    for argv in commands:
        run = run_cli([*argv, "-h"], capsys)
        assert run.code == 0, (argv, run.err)
        examples = run.out.split("Examples:\n")[-1]
        assert "hubsnap " + " ".join(argv) in examples, argv


def test_help_names_what_repeatable_options_take(capsys: Capsys) -> None:
    """A repeatable option reads ``--include GLOB``, not Typer's ``--include <list[str]>``."""
    commands = _commands()
    assert ["snapshot"] in commands and ["lfs", "verify"] in commands
    for argv in commands:
        run = run_cli([*argv, "-h"], capsys)
        assert run.code == 0, (argv, run.err)
        options = [line for line in run.out.splitlines() if line.lstrip().startswith("-")]
        assert not [line for line in options if "<list[" in line], argv


def test_every_option_says_what_it_does() -> None:
    import typer.main

    def undocumented(command: object, path: list[str]) -> list[str]:
        children = getattr(command, "commands", None)
        if children is not None:
            return [m for name, c in children.items() for m in undocumented(c, [*path, name])]
        return [
            " ".join([*path, param.opts[0]])
            for param in getattr(command, "params", [])
            if param.param_type_name == "option" and not param.hidden and not param.help
        ]

    assert undocumented(typer.main.get_command(app), ["hubsnap"]) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["pull"], "error: Missing argument 'REF'."),
        (["pull", "sha256:" + "0" * 64, "--bogus"], "error: No such option: --bogus"),
        (
            ["discover", "--limit", "many"],
            "error: Invalid value for '--limit': ",
        ),
        (["no-such-command"], "error: No such command 'no-such-command'."),
        (["-q", "-v", "version"], "error: -q and -v contradict each other"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    argv: list[str], message: str, capsys: Capsys
) -> None:
    run = run_cli(argv, capsys)
    assert run.code == 2
    assert run.out == ""
    lines = run.err.splitlines()
    assert lines[0].startswith(message)
    assert len(lines) <= 2 and all(line.startswith(("error: ", "hint: ")) for line in lines)


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["discover", "--limit", "many"], "hint: see hubsnap discover -h"),
        (["store", "rm", "--bogus"], "hint: see hubsnap store rm -h"),
        (["no-such-command"], "hint: see hubsnap -h"),
    ],
)
def test_a_usage_error_points_at_the_commands_own_help(
    argv: list[str], hint: str, capsys: Capsys
) -> None:
    run = run_cli(argv, capsys)
    assert run.code == 2
    assert run.err.splitlines()[1:] == [hint]


def test_quiet_keeps_the_result_and_drops_the_chatter(
    make_model: MakeModel, tmp_path: Path, capsys: Capsys
) -> None:
    model = make_model("org/model")
    argv = ["pull", model.ref, "-o", str(tmp_path / "out")]
    loud = run_cli(argv, capsys)
    assert loud.code == 0 and "fetched" in loud.err
    quiet = run_cli(["-q", *argv], capsys)
    assert (quiet.code, quiet.out, quiet.err) == (0, loud.out, "")


def test_without_a_terminal_progress_is_a_line_every_few_seconds(
    make_model: MakeModel, tmp_path: Path, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = make_model("org/model")
    monkeypatch.setattr(progress, "DEFAULT_INTERVAL", 0.0)  # every chunk, for the test
    run = run_cli(["pull", model.ref, "-o", str(tmp_path / "out")], capsys)
    assert run.code == 0, run.err
    lines = [line for line in run.err.splitlines() if " B/s" in line or "B/s" in line]
    assert lines, run.err
    assert "%" in lines[0] and " of " in lines[0]
    assert lines[-1].endswith("s") and "done in" in lines[-1]
    run = run_cli(["-q", "pull", model.ref, "-o", str(tmp_path / "again"), "--force"], capsys)
    assert (run.code, run.err) == (0, "")


def test_logout_removes_what_login_stored(
    tmp_path: Path, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "docker"
    config.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    (config / "config.json").write_text(
        json.dumps(
            {"auths": {"r.example:5000": {"auth": "dTpw"}, "other.example": {"auth": "eDp5"}}}
        )
    )
    run = run_cli(["logout", "r.example:5000", "--json"], capsys)
    assert run.code == 0, run.err
    assert validated(run.out, "logout")["removed_from"] == str(config / "config.json")
    assert json.loads((config / "config.json").read_text()) == {
        "auths": {"other.example": {"auth": "eDp5"}}
    }
    run = run_cli(["logout", "r.example:5000"], capsys)
    assert (run.code, run.out, run.err) == (0, "", "not logged in to r.example:5000\n")

    fake_credential_helper(tmp_path / "bin", tmp_path / "helper.json", monkeypatch)
    (config / "config.json").write_text(json.dumps({"credsStore": "test"}))
    (tmp_path / "helper.json").write_text(
        json.dumps(
            {"r.example:5000": {"ServerURL": "r.example:5000", "Username": "u", "Secret": "p"}}
        )
    )
    run = run_cli(["logout", "r.example:5000", "--json"], capsys)
    assert run.code == 0, run.err
    assert validated(run.out, "logout")["removed_from"] == "docker-credential-test"
    assert json.loads((tmp_path / "helper.json").read_text()) == {}
    run = run_cli(["logout", "not a registry"], capsys)
    assert run.code == 2 and run.err.startswith("error: invalid registry")


_HEAVY = ("httpx", "huggingface_hub", "cryptography", "yaml", "numpy", "rich", "oras", "git")


@pytest.mark.parametrize("argv", [["--help"], ["version"], ["store", "-h"], ["--version"]])
def test_start_up_loads_no_command_dependencies(argv: list[str]) -> None:
    probe = (
        "import sys\n"
        "from hubsnap.cli import main\n"
        "try:\n    main(sys.argv[1:])\n"
        "except SystemExit as e:\n    code = e.code\n"
        f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({_HEAVY!r}))\n"
        "print(code, ','.join(heavy), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *argv],
        check=False, capture_output=True, text=True, timeout=60,
        env={**os.environ, "HUBSNAP_DEBUG": ""},
    )  # fmt: skip
    assert done.stderr.splitlines()[-1] == "0 ", done.stderr


def test_completion_script_is_typers(capsys: Capsys) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hubsnap", "--show-completion", "bash"],
        check=False, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "_hubsnap_completion" in done.stdout


def test_verify_of_a_local_artifact_loads_no_http_stack(
    make_model: MakeModel, capsys: Capsys
) -> None:
    model = make_model("org/model")
    assert run_cli(["sign", model.ref, "--key", str(FIXED_KEY)], capsys).code == 0
    probe = (
        "import sys\n"
        "from hubsnap.cli import main\n"
        "try:\n    main(sys.argv[2:])\n"
        "except SystemExit as e:\n    code = e.code\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & set(sys.argv[1].split(',')))\n"
        "print(code, ','.join(heavy), file=sys.stderr)\n"
    )
    done = subprocess.run(
        # Nor the libraries a local verify does not need: YAML (policies only), oras-py's
        # requests and jsonschema (the local store is checked natively).
        [sys.executable, "-c", probe, "httpx,huggingface_hub,yaml,oras,requests,jsonschema",
         "verify", model.ref, "--key", str(FIXED_PUB)],
        env={**os.environ, "HUBSNAP_STORE": str(model.store)},
        check=False, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.stderr.splitlines()[-1] == "0 ", done.stderr
