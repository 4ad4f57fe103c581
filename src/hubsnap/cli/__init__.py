"""The ``hubsnap`` command line: one small module per command, all thin over ``hubsnap.api``.

:func:`main` is the single place where errors become exit codes and one-line messages;
tracebacks appear only with ``HUBSNAP_DEBUG=1``, and Typer's local-variable dumps are off so
that keys and tokens can never be printed.
"""

from __future__ import annotations

import os
import sys
import traceback

import typer

from hubsnap.errors import ExitCode, HubsnapError

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


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and exit with the documented exit code."""
    try:
        # Typer handles usage errors itself (exit 2); everything else comes here.
        app(args=argv, prog_name="hubsnap")
    except HubsnapError as e:
        if _debug():
            traceback.print_exc()
        print(f"error: {e.message}", file=sys.stderr)
        if e.hint:
            print(f"hint: {e.hint}", file=sys.stderr)
        sys.exit(int(e.exit_code))
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as e:  # a bug: still one line, unless debugging
        if _debug():
            traceback.print_exc()
        else:
            print(f"error: internal error: {type(e).__name__}", file=sys.stderr)
            print("hint: rerun with HUBSNAP_DEBUG=1 for a traceback", file=sys.stderr)
        sys.exit(int(ExitCode.REMOTE))
    sys.exit(0)
