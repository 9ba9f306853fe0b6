"""Shared route helpers: the model a request works on, limit checks, JSON responses from schemas."""

from __future__ import annotations

from typing import Any, TypeVar

import pydantic_core
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect

from mgqe.proto.api import ErrorResponse
from mgqe.server.errors import ApiError, limit_error
from mgqe.server.models import LoadedModel
from mgqe.server.registry import Registry
from mgqe.server.settings import Settings

M = TypeVar("M", bound=BaseModel)


async def parse_body(request: Request, schema: type[M]) -> M:
    """Validate the raw body with pydantic-core's JSON parser in one pass (no json.loads + dict validation);
    errors become FastAPI's RequestValidationError, so they answer 422 like any other invalid request."""
    try:
        return schema.model_validate_json(await read_body(request))
    except ValidationError as e:
        errors = [
            {**err, "loc": ("body", *err["loc"])}
            for err in e.errors(include_url=False, include_context=False)
        ]
        raise RequestValidationError(errors) from None


async def read_body(request: Request) -> bytes:
    """The whole request body, read straight from the ASGI receive channel.

    Starlette's `Request.body()` does the same through an async generator with per-chunk bookkeeping, which
    costs several µs per request; a small JSON body arrives in one message, so this is one await. Handlers
    that call this must not call `request.body()` afterwards (the body is consumed). The body limit still
    applies: the middleware's counting `receive` raises 413 from inside this loop.
    """
    chunks: list[bytes] = []
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        body = message.get("body", b"")
        if not message.get("more_body", False):
            return b"".join([*chunks, body]) if chunks else body
        chunks.append(body)


def body_doc(schema: type[BaseModel]) -> dict[str, Any]:
    """openapi_extra documenting a body that the handler parses itself with parse_body."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema.model_json_schema()}},
        }
    }


def error_docs(codes: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for error statuses: each answers the ErrorResponse JSON shape (errors.py), so a
    client (and the schemathesis fuzz test) can check error bodies against the schema too."""
    return {status: {"model": ErrorResponse, "description": text} for status, text in codes.items()}


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


def json_dict_response(content: dict[str, Any]) -> Response:
    """Serialise a plain dict of lists, strings and numbers with pydantic-core's schema-less serializer.

    For the scoring endpoints' answers, whose values come straight from NumPy `tolist()` (Python ints and
    floats): building the response models only to validate values that cannot be wrong, then serialising
    them, costs ~5x this call. The bytes are the same as the response model's model_dump_json
    (inf/nan as null, as the models' default; tests/server/test_responses.py checks both).
    """
    body = pydantic_core.to_json(content, inf_nan_mode="null")
    return Response(content=body, media_type="application/json")
