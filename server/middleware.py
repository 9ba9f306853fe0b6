"""Pure ASGI middleware (no BaseHTTPMiddleware: it costs throughput) applied to every HTTP request:

- body limit: a Content-Length over max_body_bytes gets 413 before the body is read; a chunked body is
  counted while it streams and cut off at the limit with the same 413;
- overload: model requests (POST /v1/models/...) beyond max_in_flight get 503 with Retry-After at once,
  instead of queueing without bound in the thread pool;
- metrics (count and latency per route template) and one JSON access-log line per request.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mgqe.server.errors import ApiError, error_response
from mgqe.server.metrics import Metrics, log_event
from mgqe.server.settings import Settings


class BodyTooLargeError(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            413, "body_too_large", f"request body exceeds the limit of {limit} bytes (max_body_bytes)"
        )


class ServingMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings, metrics: Metrics, log: logging.Logger) -> None:
        self.app, self.settings, self.metrics, self.log = app, settings, metrics, log
        self.in_flight = 0
        # read at scrape time: two Gauge.set calls (each taking the gauge's lock) per model request cost more
        metrics.in_flight.set_function(lambda: self.in_flight)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        method, path = scope["method"], scope["path"]
        status = [500]
        limit = self.settings.max_body_bytes

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        async def reply(resp: Any, reason: str) -> None:
            self.metrics.rejected.labels(reason).inc()
            await resp(scope, receive, send_status)

        length = _content_length(scope)
        gated = method == "POST" and path.startswith("/v1/models/")
        if length is not None and length > limit:
            too_large = BodyTooLargeError(limit)
            await reply(error_response(413, too_large.code, too_large.detail), "body_too_large")
        elif gated and self.in_flight >= self.settings.max_in_flight:
            cap = self.settings.max_in_flight
            msg = f"{self.in_flight} requests in flight, the limit is {cap} (setting max_in_flight)"
            headers = {"Retry-After": str(self.settings.retry_after_s)}
            await reply(error_response(503, "overloaded", msg, headers=headers), "overloaded")
        else:
            seen = [0]

            async def counted_receive() -> Message:
                message = await receive()
                if message["type"] == "http.request":
                    seen[0] += len(message.get("body", b""))
                    if seen[0] > limit:
                        raise BodyTooLargeError(limit)
                return message

            if gated:
                self.in_flight += 1
            try:
                await self.app(scope, counted_receive, send_status)
            finally:
                if gated:
                    self.in_flight -= 1
        route = scope.get("route")
        template = getattr(route, "path", "unmatched")
        dt = time.perf_counter() - t0
        self.metrics.requests.labels(template, method, str(status[0])).inc()
        self.metrics.latency.labels(template).observe(dt)
        if self.log.isEnabledFor(logging.INFO):
            level = logging.ERROR if status[0] >= 500 and status[0] != 503 else logging.INFO
            log_event(
                self.log, level, "request", method=method, path=path, status=status[0], ms=round(dt * 1e3, 3)
            )


def _content_length(scope: Scope) -> int | None:
    for k, v in scope["headers"]:
        if k == b"content-length":
            try:
                return int(v)
            except ValueError:
                return None
    return None
