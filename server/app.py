"""The FastAPI application: `create_app(settings)`; the lifespan starts the registry's watcher (initial load
in the background, so /v1/health/live answers at once and /v1/health/ready turns 200 when models are in).

Run: `mgqe-serve --store STORE` (cli.py) or `uvicorn --factory mgqe.server.app:create_app` with MGQE_* set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI

from mgqe.server.errors import install_handlers
from mgqe.server.metrics import Metrics, log_event, setup_logging
from mgqe.server.middleware import ServingMiddleware
from mgqe.server.registry import Registry
from mgqe.server.routes import admin, health, models, scoring
from mgqe.server.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    log = setup_logging(settings.log_level)
    metrics = Metrics()
    registry = Registry(settings, metrics, log)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(registry.watch())
        log_event(
            log,
            logging.INFO,
            "server_started",
            models=registry.configured,
            admin=settings.admin_token is not None,
        )
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(title="mgqe", version="1", lifespan=lifespan)
    app.state.settings, app.state.metrics, app.state.registry = settings, metrics, registry
    app.state.draining = False  # set on SIGTERM by cli.DrainingServer: readiness answers 503
    app.add_middleware(ServingMiddleware, settings=settings, metrics=metrics, log=log)
    install_handlers(app)
    for r in (scoring.router, models.router, health.router):  # hot routes first: matching is in order
        app.include_router(r)
    app.router.routes[:0] = scoring.fast_routes()  # plain routes ahead of their documented FastAPI twins
    if settings.admin_token is not None:
        app.include_router(admin.router)
    app.openapi = _with_limits(app.openapi, settings)  # type: ignore[method-assign]
    return app


# (endpoint, body field) -> the setting bounding it: k by `maximum`, lists by `maxItems` (of the list, or of
# each inner list for "histories[]"). The same limits the handlers check (routes/scoring.py).
_LIMITS = {
    "*": {"k": "max_k", "users": "max_batch", "histories": "max_batch", "history": "max_items",
          "histories[]": "max_items", "exclude": "max_items"},
    "score": {"items": "max_items"},
    "similar": {"items": "max_batch"},
    "relevance": {"pairs": "max_batch"},
    "embeddings": {"ids": "max_batch"},
}


def _with_limits(generate: Callable[[], dict[str, Any]], settings: Settings) -> Callable[[], dict[str, Any]]:
    """FastAPI's OpenAPI generator, plus this server's request limits (settings) in the request body schemas,
    so that a request valid by the served schema is one the server accepts (checked by the schemathesis
    fuzz test's positive_data_acceptance)."""

    def openapi() -> dict[str, Any]:
        spec = generate()  # FastAPI caches it in app.openapi_schema; patching it once is enough
        if spec.get("x-mgqe-limits"):
            return spec
        for path, ops in spec["paths"].items():
            endpoint = path.rsplit("/", 1)[-1]
            for op in ops.values():
                body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
                props = body.get("schema", {}).get("properties", {})
                for field, name in (_LIMITS["*"] | _LIMITS.get(endpoint, {})).items():
                    inner = field.endswith("[]")
                    node = props.get(field.rstrip("[]"))
                    if node is None:
                        continue
                    for alt in node.get("anyOf", [node]):  # optional fields: [list or int, null]
                        if inner and alt.get("type") == "array":
                            alt["items"]["maxItems"] = getattr(settings, name)
                        elif not inner and alt.get("type") == "array":
                            alt["maxItems"] = getattr(settings, name)
                        elif not inner and alt.get("type") == "integer":
                            alt["maximum"] = getattr(settings, name)
        spec["x-mgqe-limits"] = {n: getattr(settings, n) for n in ("max_k", "max_batch", "max_items")}
        return spec

    return openapi
