"""Shared route helpers: the model a request works on, limit checks, JSON responses from schemas."""

from __future__ import annotations

from fastapi import Request, Response
from pydantic import BaseModel

from mgqe.server.errors import ApiError, limit_error
from mgqe.server.models import LoadedModel
from mgqe.server.registry import Registry
from mgqe.server.settings import Settings


def registry(request: Request) -> Registry:
    return request.app.state.registry  # type: ignore[no-any-return]


def settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_model(request: Request, model: str) -> LoadedModel:
    """The LoadedModel serving `model` now. The request keeps this object to its end, so a hot swap never
    changes the model under a running request."""
    reg = registry(request)
    m = reg.get(model)
    if m is None:
        if model in reg.configured:
            raise ApiError(503, "model_loading", f"model {model!r} is not loaded yet", {"Retry-After": "1"})
        raise ApiError(404, "unknown_model", f"unknown model {model!r}")
    return m


def check_limit(what: str, value: int, setting: str, limit: int) -> None:
    if value > limit:
        raise limit_error(what, value, setting, limit)


def json_response(obj: BaseModel) -> Response:
    """Serialise with pydantic-core directly: the object was validated when it was built."""
    return Response(content=obj.model_dump_json(), media_type="application/json")
