"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response

from mgqe.proto.api import HealthResponse
from mgqe.server.routes.deps import json_response, registry

router = APIRouter(tags=["health"])


def _health(request: Request) -> HealthResponse:
    reg = registry(request)
    versions = {m: (reg.models[m].version if m in reg.models else None) for m in reg.configured}
    status: Literal["ok", "loading", "draining"] = (
        "draining" if request.app.state.draining else "ok" if reg.ready else "loading"
    )
    return HealthResponse(status=status, models=versions)


@router.get("/v1/health/live", response_model=HealthResponse)
async def live(request: Request) -> Response:
    """200 while the process runs."""
    return json_response(_health(request))


@router.get("/v1/health/ready", response_model=HealthResponse, responses={503: {"model": HealthResponse}})
async def ready(request: Request) -> Response:
    """200 once every configured model is loaded, 503 before, and 503 again once shutdown began (draining)."""
    h = _health(request)
    resp = json_response(h)
    resp.status_code = 200 if h.status == "ok" else 503
    return resp


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type="text/plain; version=0.0.4")
