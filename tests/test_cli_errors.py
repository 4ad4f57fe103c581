"""The CLI's single error handler: one line, a hint, the documented exit code."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer

from hubsnap.cli import app, main
from hubsnap.errors import AuthError, IntegrityError


@app.command("raise-for-test", hidden=True)
def _raise_for_test(kind: str) -> None:
    if kind == "auth":
        raise AuthError("registry refused the credentials", hint="run hubsnap login")
    if kind == "integrity":
        raise IntegrityError("blob digest mismatch")
    raise RuntimeError("secret-value-must-not-leak")


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    code = info.value.code
    assert isinstance(code, int)
    return code, out, err


def test_known_error_is_one_line_with_hint(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["raise-for-test", "auth"], capsys)
    assert code == 4
    assert out == ""
    assert err.splitlines() == [
        "error: registry refused the credentials",
        "hint: run hubsnap login",
    ]


def test_integrity_error_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["raise-for-test", "integrity"], capsys)
    assert code == 6
    assert err == "error: blob digest mismatch\n"


def test_unexpected_error_hides_details_without_debug(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HUBSNAP_DEBUG", raising=False)
    code, _, err = _run(["raise-for-test", "boom"], capsys)
    assert code == 5
    assert "secret-value-must-not-leak" not in err
    assert "Traceback" not in err
    assert err.startswith("error: internal error: RuntimeError")


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = _run(["no-such-command"], capsys)
    assert code == 2


def test_console_entry_point_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hubsnap", "version", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert '"version"' in result.stdout


def test_typer_does_not_show_locals() -> None:
    assert isinstance(app, typer.Typer)
    assert app.pretty_exceptions_show_locals is False
