"""The ``hubsnap`` command line: one small module per command, all thin over ``hubsnap.api``.

:func:`main` is the single place where errors become exit codes and one-line messages;
tracebacks appear only with ``HUBSNAP_DEBUG=1``, and Typer's local-variable dumps are off so
that keys and tokens can never be printed.
"""

from __future__ import annotations

import errno
import os
import sys
import traceback

import typer

from hubsnap.errors import ExitCode, HubsnapError, from_os_error

__all__ = ["app", "main"]

app = typer.Typer(
    name="hubsnap",
    help="Hugging Face Hub revisions as signed, content-addressed OCI artifacts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Hugging Face Hub revisions as signed, content-addressed OCI artifacts."""


# Command modules register themselves on ``app`` when imported.
from hubsnap.cli import _registry  # noqa: E402,F401


def _debug() -> bool:
    return os.environ.get("HUBSNAP_DEBUG", "") not in ("", "0")


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
        traceback.print_exc()
    print(f"error: {error.message}", file=sys.stderr)
    if error.hint:
        print(f"hint: {error.hint}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and exit with the documented exit code."""
    try:
        # Typer handles usage errors itself (exit 2); everything else comes here.
        app(args=argv, prog_name="hubsnap")
    except HubsnapError as e:
        _report(e)
        sys.exit(int(e.exit_code))
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as e:
        local = _local_os_error(e)
        if local is not None:
            _report(local)
            sys.exit(int(local.exit_code))
        # A bug: still one line unless debugging, and an exit code no script can mistake for
        # a network failure or a failed check.
        if _debug():
            traceback.print_exc()
        else:
            print(f"error: internal error: {type(e).__name__}", file=sys.stderr)
            print(
                "hint: this is a bug in hubsnap; rerun with HUBSNAP_DEBUG=1 and report the "
                "traceback",
                file=sys.stderr,
            )
        sys.exit(int(ExitCode.INTERNAL))
    sys.exit(0)
