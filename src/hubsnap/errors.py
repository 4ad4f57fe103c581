"""The one exception hierarchy hubsnap raises, and the exit codes it maps to.

Every failure a user can meet is a :class:`HubsnapError` carrying a one-line message, an
optional hint and the documented exit code. Third-party errors are wrapped at the module that
owns the third-party SDK (``raise ... from e``); anything else reaching the CLI is a bug.
"""

from __future__ import annotations

import errno
from enum import IntEnum

__all__ = [
    "AuthError",
    "CheckFailed",
    "ExitCode",
    "HubsnapError",
    "IntegrityError",
    "NotFoundError",
    "RemoteError",
    "Terminated",
    "UsageError",
    "from_os_error",
]


class ExitCode(IntEnum):
    """Process exit codes, as documented in the design."""

    OK = 0
    CHECK_FAILED = 1
    USAGE = 2
    NOT_FOUND = 3
    AUTH = 4
    REMOTE = 5
    INTEGRITY = 6
    #: A bug in hubsnap: distinct from every documented code, so scripts never mistake it
    #: for a network failure or a failed check (70 is ``EX_SOFTWARE`` in sysexits.h).
    INTERNAL = 70
    #: Stopped by a signal, as shells report it (128 + the signal's number): Ctrl-C (SIGINT)
    #: and SIGTERM. What was verified before is kept; an interrupted download resumes.
    INTERRUPTED = 130
    TERMINATED = 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread as Ctrl-C raises :class:`KeyboardInterrupt`, so the
    same clean-up runs (temp files removed, finished work kept) before exit 143."""


class HubsnapError(Exception):
    """Root of every error hubsnap reports to a user."""

    exit_code: ExitCode = ExitCode.REMOTE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class CheckFailed(HubsnapError):
    """A check the user asked for did not pass (diff thresholds, ``--exit-code``)."""

    exit_code = ExitCode.CHECK_FAILED


class UsageError(HubsnapError):
    """The command line or an input file is malformed."""

    exit_code = ExitCode.USAGE


class NotFoundError(HubsnapError):
    """A repository, revision, file, tag or digest does not exist."""

    exit_code = ExitCode.NOT_FOUND


class AuthError(HubsnapError):
    """Credentials are missing, wrong, or do not grant access."""

    exit_code = ExitCode.AUTH


class RemoteError(HubsnapError):
    """A remote service or the network failed (after retries)."""

    exit_code = ExitCode.REMOTE


class IntegrityError(HubsnapError):
    """Bytes, a digest or a signature did not match what was expected."""

    exit_code = ExitCode.INTEGRITY


def from_os_error(error: OSError, action: str, path: object | None = None) -> HubsnapError:
    """A one-line :class:`UsageError` for a local file operation that failed.

    ``action`` says what was being done ("write the key", "create the store"); the path is the
    one the user named (``error.filename`` when not given). A full disk, a read-only or missing
    directory and a path under a regular file are all the user's to fix, hence exit 2.
    """
    target = path if path is not None else error.filename
    reason = error.strerror or type(error).__name__
    if error.errno == errno.EEXIST and error.filename is not None and error.filename != target:
        # mkdir of a parent met a file: say which component is in the way.
        reason = f"{error.filename} is a file, not a directory"
    where = f" {target}" if target is not None else ""
    return UsageError(f"cannot {action}{where}: {reason}")
