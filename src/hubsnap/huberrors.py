"""What a failed Hub request means, in one line: the Hub's error codes and statuses mapped to
hubsnap's errors and exit codes (gated → 4, missing or disabled → 3, anything else → 5).

Anonymously the Hub answers alike for a missing repository and a private one, so that it does
not reveal which exists; the hints say how to tell them apart. No message carries the token.
"""

from __future__ import annotations

from hubsnap.errors import AuthError, NotFoundError, RemoteError
from hubsnap.http import TLSFailure
from hubsnap.http.types import Response, TimeoutException, TransportError

__all__ = ["status_error", "transport_error"]


def transport_error(error: RemoteError, what: str, *, endpoint: str, timeout: float) -> RemoteError:
    """The one-line error for a request that never got an answer."""
    cause = error.__cause__
    if isinstance(error, TLSFailure):
        return RemoteError(f"{what}: {error.message}", hint=error.hint)
    if isinstance(cause, TimeoutException):
        return RemoteError(
            f"{what}: no answer from {endpoint} within {timeout:g}s",
            hint="raise --timeout or check the connection",
        )
    if isinstance(cause, TransportError):
        return RemoteError(f"{what}: cannot reach {endpoint} ({type(cause).__name__})")
    return error


def status_error(response: Response, what: str, *, endpoint: str, has_token: bool) -> Exception:
    """The error for an answer that is not 2xx/304 and will not be retried."""
    code = response.headers.get("X-Error-Code", "")
    status = response.status_code
    if code == "GatedRepo":
        if not has_token:
            return AuthError(
                f"{what}: the repository is gated and no token is set",
                hint="accept the conditions on the Hub, then set HF_TOKEN",
            )
        return AuthError(
            f"{what}: the repository is gated and this token has not been granted access",
            hint="accept the conditions on the Hub with this token's account",
        )
    # The Hub marks a disabled repository by its message, not by an error code.
    disabled = "disabled" in response.headers.get("X-Error-Message", "").lower()
    if code == "DisabledRepo" or (status == 403 and disabled):
        return NotFoundError(f"{what}: the repository has been disabled on the Hub")
    if code == "RepoNotFound":
        # Anonymously the Hub answers 401 RepoNotFound alike for a missing repository and
        # for a private one; huggingface_hub reads both as RepositoryNotFoundError. Not
        # found it is, with the one way to tell them apart.
        hint = None if has_token else "if the repository is private, set HF_TOKEN"
        return NotFoundError(f"{what}: not found on {endpoint}", hint=hint)
    if status in (401, 403):
        if not has_token:
            return AuthError(
                f"{what}: the Hub requires authentication ({status})",
                hint="the repository may be private or gated: set HF_TOKEN",
            )
        return AuthError(f"{what}: the token was refused or lacks access ({status})")
    if status < 400:
        return RemoteError(f"{what}: unexpected answer {status} from the Hub")
    if status == 404:
        if code == "RevisionNotFound":
            return NotFoundError(f"{what}: revision not found")
        if code == "EntryNotFound":
            return NotFoundError(f"{what}: file not found")
        return NotFoundError(f"{what}: not found on {endpoint}")
    return RemoteError(f"{what}: the Hub answered {status}")
