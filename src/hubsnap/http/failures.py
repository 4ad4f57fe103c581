"""What a failed exchange means to a user: httpx's exceptions as :mod:`hubsnap.errors` values.

Timeouts and dropped connections are :class:`RemoteError` (exit 5) and may be retried. A TLS
failure is one too, but retrying cannot mend it, so it is marked final and says what went
wrong: a certificate from an unknown authority or for another host name (``--ca-file``), or
a TLS handshake with a server that speaks plain HTTP (``--plain-http``).
"""

from __future__ import annotations

import ssl

import httpx

from hubsnap.errors import RemoteError

__all__ = ["BodyInterrupted", "TLSFailure", "transport_failure"]

# OpenSSL's X509_V_ERR_* codes for "no trusted issuer" and "not this host".
_UNKNOWN_AUTHORITY = frozenset({2, 18, 19, 20, 21})
_WRONG_HOST = frozenset({62, 64})


class BodyInterrupted(RemoteError):
    """The connection broke off while a body was being read; a retry may resume it."""


class TLSFailure(RemoteError):
    """The TLS handshake failed; retrying cannot help."""


def _ssl_cause(error: BaseException) -> ssl.SSLError | None:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _tls_failure(cause: ssl.SSLError, where: str) -> TLSFailure:
    if isinstance(cause, ssl.SSLCertVerificationError):
        code = cause.verify_code
        if code in _WRONG_HOST:
            return TLSFailure(
                f"TLS to {where} failed: its certificate is for another host name",
                hint="connect by the name the certificate was issued for",
            )
        if code in _UNKNOWN_AUTHORITY:
            return TLSFailure(
                f"TLS to {where} failed: its certificate is signed by an unknown authority",
                hint="pass --ca-file with the CA bundle that signed it",
            )
        return TLSFailure(
            f"TLS to {where} failed: its certificate was not accepted ({cause.verify_message})",
            hint="pass --ca-file with the CA bundle that signed it",
        )
    reason = (cause.reason or "").upper()
    if "WRONG_VERSION_NUMBER" in reason or "RECORD_LAYER" in reason or "HTTP_REQUEST" in reason:
        return TLSFailure(
            f"TLS to {where} failed: the server answers plain HTTP",
            hint="pass --plain-http if the server has no TLS",
        )
    return TLSFailure(f"TLS to {where} failed ({cause.reason or type(cause).__name__})")


def transport_failure(error: httpx.TransportError, where: str) -> RemoteError:
    """The user-facing error for a transport failure talking to ``where`` (a host).

    A :class:`TLSFailure` is final; any other result may be retried.
    """
    cause = _ssl_cause(error)
    if cause is not None:
        return _tls_failure(cause, where)
    return RemoteError(
        f"cannot reach {where}: {type(error).__name__}",
        hint="check that the server is up and reachable, or raise --timeout",
    )
