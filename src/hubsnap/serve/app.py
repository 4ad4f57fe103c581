"""The HTTP face of ``hubsnap serve`` (Starlette): ``POST /webhook``, ``/healthz``,
``/metrics``.

A delivery is checked in the order that reveals least: the secret first (compared in
constant time; wrong or missing → 401 and nothing read), then the declared size (over 1 MiB →
413 before a byte is read), then the body, read with the same cap while it arrives, then its
shape (400). Errors say only ``{"error": reason}``; nothing is queued for any of them.
"""

from __future__ import annotations

import hmac
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hubsnap.errors import HubsnapError
from hubsnap.serve.logs import log
from hubsnap.serve.metrics import CONTENT_TYPE
from hubsnap.serve.payload import MAX_BODY, PayloadError, parse_payload
from hubsnap.serve.service import Ignored, NameCollision, Service

__all__ = ["create_app"]


def _secret_matches(request: Request, secret: bytes) -> bool:
    given = request.headers.get("x-webhook-secret")
    if given is None:
        given = request.query_params.get("secret", "")
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), secret)


async def _read_capped(request: Request) -> bytes | None:
    """The body, or ``None`` as soon as it exceeds :data:`MAX_BODY`."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return None
    return bytes(body)


def create_app(service: Service, secret: str | None) -> Starlette:
    """The ASGI app; ``secret`` ``None`` only with ``--insecure-no-secret``."""
    secret_bytes = secret.encode("utf-8", "surrogateescape") if secret is not None else None
    deliveries = service.metrics.deliveries

    def answer(result: str, status: int, body: dict[str, Any], **fields: Any) -> JSONResponse:
        deliveries.labels(result).inc()
        log("webhook", result=result, status=status, **fields)
        return JSONResponse(body, status_code=status)

    async def webhook(request: Request) -> Response:
        if secret_bytes is not None and not _secret_matches(request, secret_bytes):
            return answer("unauthorized", 401, {"error": "unauthorized"})
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or len(declared) > 12):
            return answer("malformed", 400, {"error": "malformed request"})
        if declared is not None and int(declared) > MAX_BODY:
            return answer("too_large", 413, {"error": "payload too large"})
        body = await _read_capped(request)
        if body is None:
            return answer("too_large", 413, {"error": "payload too large"})
        try:
            payload = parse_payload(body)
        except PayloadError as e:
            return answer("malformed", 400, {"error": "malformed payload"}, reason=str(e))
        try:
            plan = await run_in_threadpool(service.plan, payload)
            if isinstance(plan, Ignored):
                return answer("ignored", 200, {"ignored": plan.reason}, repo=payload.repo.name)
            ids, added = await run_in_threadpool(service.submit, plan)
        except NameCollision as e:
            return answer("refused", 409, {"error": "name collision"}, reason=e.message)
        except HubsnapError as e:
            return answer("error", 502, {"error": "hub unavailable"}, reason=e.message)
        result = "accepted" if added else "duplicate"
        return answer(result, 202, {"jobs": ids, "duplicate": added == 0},
                      repo=payload.repo.name, jobs=ids)  # fmt: skip

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def metrics(request: Request) -> Response:
        data = await run_in_threadpool(service.metrics.render)
        return Response(data, media_type=CONTENT_TYPE)

    return Starlette(
        routes=[
            Route("/webhook", webhook, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ]
    )
