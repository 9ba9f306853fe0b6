"""Admin routes, mounted only when an admin token is configured (otherwise every /v1/admin path is 404).

Bearer token auth: no or malformed Authorization header -> 401, wrong token -> 403; compared with
hmac.compare_digest so the comparison time does not leak the token.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Depends, Request, Response

from mgqe.proto.api import ReloadResponse
from mgqe.server.errors import ApiError
from mgqe.server.routes.deps import error_docs, json_response, registry, settings


def require_token(request: Request) -> None:
    token = settings(request).admin_token
    assert token is not None  # the router is only mounted with a token
    auth = request.headers.get("authorization", "")
    scheme, _, given = auth.partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise ApiError(
            401,
            "unauthorized",
            "admin routes need 'Authorization: Bearer <token>'",
            {"WWW-Authenticate": "Bearer"},
        )
    if not hmac.compare_digest(given.strip().encode(), token.get_secret_value().encode()):
        raise ApiError(403, "forbidden", "wrong admin token")


router = APIRouter(
    tags=["admin"],
    dependencies=[Depends(require_token)],
    responses=error_docs({401: "no bearer token", 403: "wrong token", 422: "invalid query"}),
)


@router.post("/v1/admin/reload", response_model=ReloadResponse)
async def reload(request: Request, force: bool = False) -> Response:
    """Check every model's current version now and load what changed (force: also retry failed versions).
    Answers once the loads are done; a failed load leaves the old version serving."""
    results = await registry(request).refresh(force=force)
    return json_response(ReloadResponse(results=results))
