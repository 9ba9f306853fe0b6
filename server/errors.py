"""API errors and their JSON shape: {"error": {"code": ..., "message": ..., "details": [...]}}.

Named errors of the model layer map to HTTP statuses here: UnknownIdError 404, UnsupportedOperationError 409;
request validation (including malformed JSON) 422; a body over the limit 413; overload 503.
"""

from __future__ import annotations

from typing import Any, TypedDict

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mgqe.server.models import UnknownIdError, UnsupportedOperationError


class ApiError(StarletteHTTPException):
    """An error with a stable machine-readable code. Subclasses HTTPException so FastAPI's body parsing
    re-raises it untouched (the body-size limit is raised from inside `receive`)."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code=status, detail=message, headers=headers)
        self.code = code


class FieldError(TypedDict):
    """One entry of a 422's details: where in the request (keys/indices), what, and pydantic's type."""

    loc: list[str]
    msg: str
    type: str


def limit_error(what: str, value: int, setting: str, limit: int) -> ApiError:
    return ApiError(422, "limit_exceeded", f"{what}={value} exceeds the limit {limit} (setting {setting})")


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: Any = None
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


_STATUS_CODES = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = exc.code if isinstance(exc, ApiError) else _STATUS_CODES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors: list[FieldError] = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
            for e in exc.errors()
        ]
        loc, first_msg = (errors[0]["loc"], errors[0]["msg"]) if errors else ([], "invalid request")
        malformed = any(e["type"] == "json_invalid" for e in errors)
        code = "malformed_json" if malformed else "invalid_request"
        msg = f"{'.'.join(loc)}: {first_msg}" if loc else first_msg
        return error_response(422, code, msg, details=errors)

    @app.exception_handler(UnknownIdError)
    async def _unknown(_: Request, exc: UnknownIdError) -> JSONResponse:
        return error_response(404, "unknown_id", str(exc))

    @app.exception_handler(UnsupportedOperationError)
    async def _unsupported(_: Request, exc: UnsupportedOperationError) -> JSONResponse:
        return error_response(409, "unsupported_operation", str(exc))
