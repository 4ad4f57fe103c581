"""The CLI's single error handler: one line, a hint, the documented exit code."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

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
    if kind == "disk-full":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    if kind == "connection":
        raise ConnectionResetError(errno.ECONNRESET, os.strerror(errno.ECONNRESET))
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
    # A bug is neither a network failure (5) nor any other documented outcome.
    assert code == 70
    assert "secret-value-must-not-leak" not in err
    assert "Traceback" not in err
    assert err.splitlines() == [
        "error: internal error: RuntimeError",
        "hint: this is a bug in hubsnap; rerun with HUBSNAP_DEBUG=1 and report the traceback",
    ]


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


def test_full_disk_unmapped_by_a_stage_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = _run(["raise-for-test", "disk-full"], capsys)
    assert (code, out) == (2, "")
    assert err == "error: cannot write: No space left on device\n"


def test_a_socket_error_that_escapes_is_a_bug_not_a_local_path(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = _run(["raise-for-test", "connection"], capsys)
    assert code == 70
    assert err.startswith("error: internal error: ConnectionResetError\n")


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("/proc/hubsnap-test.pem", "No such file or directory"),
        ("/etc/hostname/k.pem", "/etc/hostname is a file, not a directory"),
    ],
)
def test_keygen_to_an_unwritable_path_names_the_path(
    target: str, reason: str, tmp_path: Path
) -> None:
    if not Path("/etc/hostname").is_file():
        pytest.skip("needs /etc/hostname")
    result = subprocess.run(
        [sys.executable, "-m", "hubsnap", "keygen", "-o", target],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == f"error: cannot write the key {target}: {reason}\n"
