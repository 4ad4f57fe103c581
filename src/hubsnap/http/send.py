"""The one retry loop every request takes.

:func:`retrying` runs one attempt (a callable that sends a request and returns the
response) until it gives an answer that is not worth retrying: transport failures and
``408/429/5xx`` are retried with :class:`~hubsnap.retry.RetryPolicy` backoff, honouring
``Retry-After``, and never past a :class:`~hubsnap.http.deadline.Deadline`. TLS failures are
not retried. The last answer is returned whatever its status: the caller maps it to an error.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from hubsnap.http.body import buffered
from hubsnap.http.deadline import Deadline
from hubsnap.http.failures import BodyInterrupted, TLSFailure, transport_failure
from hubsnap.retry import RETRY_STATUSES, RetryPolicy

__all__ = ["bound_timeout", "next_wait", "pause", "retrying", "send_with_retry"]


def next_wait(
    policy: RetryPolicy, attempt: int, deadline: Deadline | None, retry_after: str | None = None
) -> float | None:
    """Seconds to wait before retry number ``attempt``, or ``None`` if none should follow.

    No retry follows the last attempt, nor one whose wait would outlast ``deadline``.
    """
    if attempt >= policy.attempts or (deadline is not None and deadline.expired):
        return None
    delay = policy.delay(attempt, retry_after)
    left = deadline.remaining() if deadline is not None else None
    return None if left is not None and delay >= left else delay


def pause(
    policy: RetryPolicy, attempt: int, deadline: Deadline | None, retry_after: str | None = None
) -> bool:
    """Wait as :func:`next_wait` says; ``False`` (no wait) if no retry should follow."""
    delay = next_wait(policy, attempt, deadline, retry_after)
    if delay is None:
        return False
    policy.sleep(delay)
    return True


def retrying(
    attempt: Callable[[], httpx.Response],
    *,
    policy: RetryPolicy,
    where: str,
    deadline: Deadline | None = None,
    statuses: frozenset[int] = RETRY_STATUSES,
) -> httpx.Response:
    """Run ``attempt`` until its answer is final; transport failures become RemoteError.

    ``where`` names the host in error messages. A response with a retried status is closed
    before the next attempt; the last one is returned open. ``attempt`` may also raise
    :class:`BodyInterrupted` (it read a body that broke off) to be retried.
    """
    number = 0
    while True:
        number += 1
        try:
            response = attempt()
        except httpx.TransportError as e:
            failure = transport_failure(e, where)
            if isinstance(failure, TLSFailure) or not pause(policy, number, deadline):
                raise failure from e
            continue
        except BodyInterrupted:
            if not pause(policy, number, deadline):
                raise
            continue
        if response.status_code not in statuses:
            return response
        delay = next_wait(policy, number, deadline, response.headers.get("Retry-After"))
        if delay is None:
            return response
        response.close()
        policy.sleep(delay)


def bound_timeout(request: httpx.Request, deadline: Deadline | None) -> httpx.Request:
    """Shorten the request's socket timeouts so that none outlives ``deadline``."""
    if deadline is None:
        return request
    timeouts = request.extensions.get("timeout") or {}
    request.extensions["timeout"] = {
        key: deadline.bound(value) if value is not None else deadline.bound(3600.0)
        for key, value in {"connect": None, "read": None, "write": None, "pool": None,
                           **timeouts}.items()
    }  # fmt: skip
    return request


def send_with_retry(
    client: httpx.Client,
    build_request: Callable[[], httpx.Request],
    *,
    policy: RetryPolicy,
    where: str,
    deadline: Deadline | None = None,
    follow_redirects: bool = False,
    preload: int | None = None,
    what: str = "answer",
) -> httpx.Response:
    """``client.send(build_request())`` under :func:`retrying`, streamed.

    ``build_request`` is called for every attempt, so that a streamed body is produced
    afresh. The caller reads the body (see :func:`~hubsnap.http.body.read_capped`) and
    closes the response, unless ``preload`` is a byte cap: then the body (``what``) is read
    within each attempt, so that a connection lost while reading it is retried too, and the
    response returned is :func:`~hubsnap.http.body.buffered`.
    """

    def attempt() -> httpx.Response:
        request = bound_timeout(build_request(), deadline)
        response = client.send(request, stream=True, follow_redirects=follow_redirects)
        if preload is None:
            return response
        return buffered(response, preload, what, deadline=deadline)

    return retrying(attempt, policy=policy, where=where, deadline=deadline)
