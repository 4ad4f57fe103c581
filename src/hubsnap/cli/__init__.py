"""The ``hubsnap`` command line: one small module per command, all thin over ``hubsnap.api``.

:func:`main` is the single place where errors become exit codes and one-line messages;
tracebacks appear only with ``HUBSNAP_DEBUG=1``, and Typer's local-variable dumps are off so
that keys and tokens can never be printed.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import threading
from typing import Annotated, Any, NoReturn

import typer

from hubsnap.errors import ExitCode, HubsnapError, Terminated, UsageError, from_os_error

__all__ = ["app", "example", "group", "main"]

#: Plain help and one-line errors: rich's boxes cost start-up time and read badly in logs.
_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def group(name: str, help: str) -> typer.Typer:
    """A command group (``hubsnap store``, ``hubsnap lfs``) formatted like the root."""
    return typer.Typer(
        name=name,
        help=help,
        no_args_is_help=True,
        rich_markup_mode=None,
        context_settings=_SETTINGS,
        pretty_exceptions_enable=False,
        pretty_exceptions_show_locals=False,
    )


def example(*lines: str) -> str:
    """A command's help epilog: its examples, shown verbatim."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


app = typer.Typer(
    name="hubsnap",
    help="Hugging Face Hub revisions as signed, content-addressed OCI artifacts.",
    epilog=example(
        "hubsnap snapshot sentence-transformers/all-MiniLM-L6-v2@main",
        "hubsnap push snapshot.yaml registry.example.com/models/minilm --sign key.pem",
        "hubsnap verify registry.example.com/models/minilm@sha256:… --key key.pub",
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings=_SETTINGS,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    add_completion=True,
)

_verbose = False


def _show_version(value: bool) -> None:
    if value:
        from hubsnap import __version__  # noqa: PLC0415

        sys.stdout.write(f"hubsnap {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    *,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_show_version, is_eager=True
        ),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("-q", "--quiet", help="Print only results, warnings and errors.")
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "-v", "--verbose", help="Print more: progress lines every second, error tracebacks."
        ),
    ] = False,
) -> None:
    """Hugging Face Hub revisions as signed, content-addressed OCI artifacts."""
    global _verbose  # noqa: PLW0603 - the process's one verbosity, set once here
    from hubsnap import progress  # noqa: PLC0415
    from hubsnap.cli import _output  # noqa: PLC0415

    if quiet and verbose:
        raise UsageError("-q and -v contradict each other")
    _verbose = verbose
    _output.QUIET = quiet
    bars = os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS", "").strip().lower()
    progress.configure(
        enabled=not quiet and bars not in ("1", "true", "yes", "on"),
        interval=1.0 if verbose else progress.DEFAULT_INTERVAL,
    )


# Command modules register themselves on ``app`` when imported, in workflow order.
from hubsnap.cli import _registry  # noqa: E402,F401


def _debug() -> bool:
    return _verbose or os.environ.get("HUBSNAP_DEBUG", "") not in ("", "0")


def _print_traceback() -> None:
    import traceback  # noqa: PLC0415 - only an error path with debugging on needs it

    traceback.print_exc()


# A local file operation that failed on one of these is the user's to fix (a full disk, a
# read-only or missing directory, a path under a regular file), whichever command met it.
_LOCAL_ERRNOS = frozenset(
    {
        errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT,
        errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENAMETOOLONG, errno.ELOOP,
    }
)  # fmt: skip


def _local_os_error(error: BaseException) -> HubsnapError | None:
    """The one-line usage error for an ``OSError`` on a local path that no stage mapped."""
    if not isinstance(error, OSError) or error.errno not in _LOCAL_ERRNOS:
        return None
    if error.filename is None and error.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
        return None
    return from_os_error(error, "write" if error.errno in (errno.ENOSPC, errno.EDQUOT) else "use")


def _report(error: HubsnapError) -> None:
    if _debug():
        _print_traceback()
    print(f"error: {error.message}", file=sys.stderr)
    if error.hint:
        print(f"hint: {error.hint}", file=sys.stderr)


def _usage_error(error: Exception) -> tuple[str, int] | None:
    """The one line and exit code of a command-line parsing error, else ``None``.

    Typer raises its parser's exceptions, which carry ``format_message()`` and ``exit_code``
    (2 for usage) but have no public base class to catch; ``TyperException`` has the same
    shape.
    """
    message = getattr(error, "format_message", None)
    code = getattr(error, "exit_code", None)
    if not callable(message) or not isinstance(code, int) or isinstance(error, HubsnapError):
        return None
    if type(error).__name__ == "NoArgsIsHelpError":
        return str(message()), -1
    return " ".join(str(message()).split()), code


def _help_for(error: Exception) -> str:
    """The help to read after a usage error: the failing command's (``hubsnap store rm -h``)
    when the parser got as far as a command, else the root's."""
    path = getattr(getattr(error, "ctx", None), "command_path", None)
    if isinstance(path, str) and path.startswith("hubsnap ") and path != "hubsnap":
        return f"{path} -h"
    return "hubsnap -h"


#: Answered before the command line is built: Typer's parameter coercion loads pydantic
#: (~80 ms) for any command that runs, which a version query should not pay.
_FAST = {("version",): False, ("version", "--json"): True}


_terminated = False


def _terminate(signum: int, frame: object) -> None:
    global _terminated  # noqa: PLW0603 - the process's one SIGTERM, noted where it lands
    if _terminated:
        return  # already unwinding: a second SIGTERM must not cut the clean-up short
    _terminated = True
    raise Terminated


def _stopped() -> NoReturn:
    """Exit as a signal-stopped command does: one line, 130 (Ctrl-C) or 143 (SIGTERM)."""
    if _terminated:
        print("error: terminated", file=sys.stderr)
        sys.exit(int(ExitCode.TERMINATED))
    print("error: interrupted", file=sys.stderr)
    sys.exit(int(ExitCode.INTERRUPTED))


def _on_sigterm(handler: Any) -> Any:
    """Install ``handler`` for SIGTERM and return the one it replaces (only the main thread
    may; elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.signal(signal.SIGTERM, handler)
    return signal.SIG_DFL if previous is None else previous


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and exit with the documented exit code.

    Ctrl-C and SIGTERM unwind the command like an error does (so temp files go and finished
    work stays), then exit 130 and 143, as shells report a process a signal stopped.
    """
    args = tuple(sys.argv[1:] if argv is None else argv)
    if args in _FAST:
        from hubsnap.cli.version import print_version  # noqa: PLC0415

        print_version(_FAST[args])
        sys.exit(0)
    global _terminated  # noqa: PLW0603 - reset for each run (tests run main in process)
    _terminated = False
    previous = _on_sigterm(_terminate)
    try:
        code = app(args=argv, prog_name="hubsnap", standalone_mode=False)
    except HubsnapError as e:
        _report(e)
        sys.exit(int(e.exit_code))
    except KeyboardInterrupt:  # Terminated too
        _stopped()
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        sys.exit(int(ExitCode.CHECK_FAILED))
    except Exception as e:
        usage = _usage_error(e)
        if usage is not None:
            text, status = usage
            if status == -1:  # bare ``hubsnap`` or ``hubsnap store``: the help, as asked
                sys.stdout.write(text.rstrip("\n") + "\n")
                sys.exit(0)
            print(f"error: {text}", file=sys.stderr)
            if status == ExitCode.USAGE:
                print(f"hint: see {_help_for(e)}", file=sys.stderr)
            sys.exit(status)
        local = _local_os_error(e)
        if local is not None:
            _report(local)
            sys.exit(int(local.exit_code))
        # A bug: still one line unless debugging, and an exit code no script can mistake for
        # a network failure or a failed check.
        if _debug():
            _print_traceback()
        else:
            print(f"error: internal error: {type(e).__name__}", file=sys.stderr)
            print(
                "hint: this is a bug in hubsnap; rerun with HUBSNAP_DEBUG=1 and report the "
                "traceback",
                file=sys.stderr,
            )
        sys.exit(int(ExitCode.INTERNAL))
    finally:
        if previous is not None:
            _on_sigterm(previous)
    if code == ExitCode.INTERRUPTED:  # Typer turns the KeyboardInterrupt into exit 130
        _stopped()
    sys.exit(code if isinstance(code, int) else 0)
