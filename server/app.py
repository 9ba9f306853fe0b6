"""The FastAPI application: `create_app(settings)`; the lifespan starts the registry's watcher (initial load
in the background, so /v1/health/live answers at once and /v1/health/ready turns 200 when models are in).

Run: `mgqe-serve --store STORE` (cli.py) or `uvicorn --factory mgqe.server.app:create_app` with MGQE_* set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

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
    return app
