"""Graceful shutdown for `mgqe-serve`: uvicorn with a drain phase.

SIGTERM (or SIGINT) -> the app is marked draining: /v1/health/ready answers 503 "draining" while every other
route keeps serving for `drain_s` seconds, so a load balancer or orchestrator stops sending traffic first ->
then uvicorn's graceful shutdown: stop accepting connections, let in-flight requests finish for at most
`shutdown_grace_s` (uvicorn's timeout_graceful_shutdown; later ones are cancelled), run the lifespan exit,
and exit 0. A second signal during the drain skips the rest of it.
"""

from __future__ import annotations

import time
from types import FrameType
from typing import Any

import uvicorn


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, state: Any, drain_s: float) -> None:
        """state: the app's `app.state` (its `draining` flag is read by the readiness route)."""
        super().__init__(config)
        self.state, self.drain_s = state, drain_s
        self.drain_until: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.state.draining = True
        if self.drain_until is None and self.drain_s > 0:
            self.drain_until = time.monotonic() + self.drain_s
        else:
            self.should_exit = True  # no drain, or a second signal: shut down now

    async def on_tick(self, counter: int) -> bool:
        # uvicorn's main loop ticks every 0.1 s; the drain ends on the first tick past its deadline
        if self.drain_until is not None and time.monotonic() >= self.drain_until:
            self.should_exit = True
        return await super().on_tick(counter)
