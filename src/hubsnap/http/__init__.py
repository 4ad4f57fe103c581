"""hubsnap's one HTTP stack: the owner of ``httpx``.

Every client hubsnap talks HTTP with (the OCI registry client, the Hub client) is built on
these few pieces, so that they fail, retry, time out and guard credentials the same way:

- :class:`Deadline` bounds a whole step (a request, its retries, its body) and
  :class:`RateFloor` bounds a long body by the least progress it must make per window:
  ``--timeout`` holds even against a server that trickles two bytes a second.
- :func:`read_capped`, :func:`iter_body` and :func:`buffered` read a body with a cap
  enforced *while* reading: an endless answer costs the cap plus one chunk. Over the cap is
  :class:`~hubsnap.errors.RemoteError` (5) for protocol answers, or the caller's
  ``error`` (:class:`~hubsnap.errors.IntegrityError`, 6, for content).
- :func:`send_with_retry` / :func:`retrying` are the one retry loop (408, 429, 5xx and
  transport failures, backoff honouring ``Retry-After``); :func:`iter_resumable` the one
  ``Range``-resuming download.
- :func:`transport_failure` turns httpx's exceptions into exit-5 errors; TLS failures
  (:class:`TLSFailure`) are not retried and say what failed, with ``--ca-file`` or
  ``--plain-http`` as the hint.
- :func:`fetch_range` / :func:`read_range` read one byte range with a ``Range`` request,
  whether the server honours it (``206``) or not (``200``: read to the range's end, no
  further).
- :class:`JsonExchange`: one JSON request to a service (an inference endpoint) under that
  same retry loop and deadline, its answer read with a cap.
- :class:`Origin` and :func:`send_following`: ``Authorization`` goes only to the origin it
  belongs to; redirects and foreign ``Location`` URLs get no credentials.

Nothing here knows about registries or the Hub; errors name the ``what`` and ``where`` the
caller passes, and never a header's value. A JSON answer, for example::

    response = send_with_retry(
        client, lambda: client.build_request("GET", url, headers=headers),
        policy=retry_policy, where=host, deadline=Deadline(timeout),
        preload=4 << 20, what=what,   # read (capped) inside each attempt
    )
    ...  # map response.status_code to an error; then json.loads(response.content)

and a file body that resumes after breaks, stopping at its listed size::

    def open_at(start: int) -> httpx.Response:
        ...  # send_with_retry with "Range: bytes={start}-", check the status, return it open
    for chunk in iter_resumable(open_at, what=what, policy=retry_policy, size=size,
                                floor_window=timeout):
        writer.write(chunk)
"""

from __future__ import annotations

from hubsnap.http.body import DEFAULT_CHUNK, buffered, iter_body, read_capped, size_text
from hubsnap.http.deadline import MIN_BYTES_PER_SECOND, Deadline, RateFloor
from hubsnap.http.exchange import Answer, JsonExchange
from hubsnap.http.failures import BodyInterrupted, TLSFailure, transport_failure
from hubsnap.http.origin import (
    REDIRECT_STATUSES,
    Content,
    Origin,
    resolve_location,
    send_following,
)
from hubsnap.http.ranged import RangeBody, fetch_range, range_header, read_range
from hubsnap.http.resume import body_offset, iter_resumable
from hubsnap.http.send import bound_timeout, next_wait, pause, retrying, send_with_retry

__all__ = [
    "DEFAULT_CHUNK",
    "MIN_BYTES_PER_SECOND",
    "REDIRECT_STATUSES",
    "Answer",
    "BodyInterrupted",
    "Content",
    "Deadline",
    "JsonExchange",
    "Origin",
    "RangeBody",
    "RateFloor",
    "TLSFailure",
    "body_offset",
    "bound_timeout",
    "buffered",
    "fetch_range",
    "iter_body",
    "iter_resumable",
    "next_wait",
    "pause",
    "range_header",
    "read_capped",
    "read_range",
    "resolve_location",
    "retrying",
    "send_following",
    "send_with_retry",
    "size_text",
    "transport_failure",
]
