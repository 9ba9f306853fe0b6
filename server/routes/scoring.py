"""Scoring endpoints.

A small model's query (a 10k-item scan is ~0.3 ms) runs right on the event loop: handing it to a worker thread
costs more than the work. Models above `inline_max_items` items run in the thread pool, where the NumPy
kernels release the GIL, so a long scan does not stall the event loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from mgqe.proto.api import (
    EmbeddingsRequest,
    EmbeddingsResponse,
    QuerySet,
    RankedResponse,
    RecommendRequest,
    RelevanceRequest,
    RelevanceResponse,
    ScoreRequest,
    SimilarRequest,
)
from mgqe.server.errors import ApiError
from mgqe.server.models import LoadedModel
from mgqe.server.routes.deps import (
    body_doc,
    check_limit,
    error_docs,
    get_model,
    json_dict_response,
    parse_body,
    settings,
)
from mgqe.server.settings import Settings

T = TypeVar("T")

router = APIRouter(tags=["scoring"])
_ERRORS = error_docs(
    {
        404: "unknown model or id",
        409: "unsupported for this model type",
        413: "body too large",
        422: "invalid request or over a limit",
        503: "overloaded or model loading",
    }
)


def _queries(s: Settings, req: QuerySet) -> list:
    qs = req.query_list()
    check_limit("number of queries", len(qs), "max_batch", s.max_batch)
    if req.kind == "history":
        for h in qs:
            check_limit("history length", len(h), "max_items", s.max_items)
    return qs


async def _run(s: Settings, m: LoadedModel, fn: Callable[..., T], *args: object) -> T:
    if m.tables["item"].n <= s.inline_max_items:
        return fn(*args)
    return await run_in_threadpool(fn, *args)


def _ranked(m: LoadedModel, pairs: list) -> Response:
    """A RankedResponse's JSON from (ids, scores) NumPy pairs (see deps.json_dict_response)."""
    results = [{"items": ids.tolist(), "scores": v.tolist()} for ids, v in pairs]
    return json_dict_response({"model": m.name, "version": m.version, "results": results})


@router.post(
    "/v1/models/{model}/score",
    response_model=RankedResponse,
    responses=_ERRORS,
    openapi_extra=body_doc(ScoreRequest),
)
async def score(request: Request, model: str) -> Response:
    """Scores of `items` for each user (gmf, neumf) or history (sasrec), in the order of `items`."""
    req = await parse_body(request, ScoreRequest)
    m = get_model(request, model)
    s = settings(request)
    qs = _queries(s, req)
    check_limit("number of items", len(req.items), "max_items", s.max_items)
    S = await _run(s, m, m.score, req.kind, qs, req.items)
    results = [{"items": list(req.items), "scores": row} for row in S.tolist()]
    return json_dict_response({"model": m.name, "version": m.version, "results": results})


@router.post(
    "/v1/models/{model}/recommend",
    response_model=RankedResponse,
    responses=_ERRORS,
    openapi_extra=body_doc(RecommendRequest),
)
async def recommend(request: Request, model: str) -> Response:
    """Top-k items per query, best first."""
    req = await parse_body(request, RecommendRequest)
    m = get_model(request, model)
    s = settings(request)
    check_limit("k", req.k, "max_k", s.max_k)
    check_limit("number of excluded items", len(req.exclude), "max_items", s.max_items)
    qs = _queries(s, req)
    res = await _run(s, m, m.recommend, req.kind, qs, req.k, req.exclude, req.exclude_known)
    return _ranked(m, res)


@router.post(
    "/v1/models/{model}/similar",
    response_model=RankedResponse,
    responses=_ERRORS,
    openapi_extra=body_doc(SimilarRequest),
)
async def similar(request: Request, model: str) -> Response:
    """The k most relevant items to each query item: the relevance model's score, else the inner product."""
    req = await parse_body(request, SimilarRequest)
    m = get_model(request, model)
    s = settings(request)
    check_limit("k", req.k, "max_k", s.max_k)
    check_limit("number of excluded items", len(req.exclude), "max_items", s.max_items)
    items = req.query_list()
    check_limit("number of queries", len(items), "max_batch", s.max_batch)
    res = await _run(s, m, m.similar, items, req.k, req.exclude)
    return _ranked(m, res)


@router.post(
    "/v1/models/{model}/relevance",
    response_model=RelevanceResponse,
    responses=_ERRORS,
    openapi_extra=body_doc(RelevanceRequest),
)
async def relevance(request: Request, model: str) -> Response:
    """Scores of item pairs, in request order."""
    req = await parse_body(request, RelevanceRequest)
    m = get_model(request, model)
    s = settings(request)
    check_limit("number of pairs", len(req.pairs), "max_batch", s.max_batch)
    scores = (await _run(s, m, m.relevance, req.pairs)).tolist()
    return json_dict_response({"model": m.name, "version": m.version, "scores": scores})


@router.post(
    "/v1/models/{model}/embeddings",
    response_model=EmbeddingsResponse,
    responses=_ERRORS,
    openapi_extra=body_doc(EmbeddingsRequest),
)
async def embeddings(request: Request, model: str) -> Response:
    """Embedding vectors decoded on the fly from the compressed tables."""
    req = await parse_body(request, EmbeddingsRequest)
    m = get_model(request, model)
    s = settings(request)
    check_limit("number of ids", len(req.ids), "max_batch", s.max_batch)
    if req.table not in m.tables:
        raise ApiError(409, "unsupported_operation", f"model type {m.model_type!r} has no {req.table} table")
    vectors = (await _run(s, m, m.embeddings, req.table, req.ids)).tolist()
    return json_dict_response(
        {"model": m.name, "version": m.version, "table": req.table, "ids": list(req.ids), "vectors": vectors}
    )


def fast_routes() -> list[Route]:
    """The POST endpoints above as plain Starlette routes, for the app to mount AHEAD of the FastAPI ones.

    The handlers only take the Request and the path's model name (they parse and validate their own
    bodies), so FastAPI's per-request dependency solving and parameter validation buy nothing here and cost
    a sizeable share of a small model's request (see docs/bench_serving.md). The FastAPI routes stay
    registered behind these: they never match first, but they document the endpoints in the OpenAPI schema.
    Errors still go through the app's exception handlers, metrics see the same route templates.
    """
    handlers = {
        "score": score,
        "recommend": recommend,
        "similar": similar,
        "relevance": relevance,
        "embeddings": embeddings,
    }

    def route(name: str, handler: Callable[[Request, str], object]) -> Route:
        async def call(request: Request) -> Response:
            request.scope["route"] = r  # what the metrics middleware labels requests with (the template)
            return await handler(request, request.path_params["model"])  # type: ignore[misc, no-any-return]

        r = Route(f"/v1/models/{{model}}/{name}", call, methods=["POST"], include_in_schema=False)
        return r

    return [route(name, h) for name, h in handlers.items()]
