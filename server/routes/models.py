"""Model listing and description."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from mgqe.proto.api import ModelDetail, ModelsResponse, ModelSummary, SizeInfo, TableInfo
from mgqe.proto.sizes import embedding_size_bits
from mgqe.server.models import LoadedModel
from mgqe.server.routes.deps import error_docs, get_model, json_response, registry

router = APIRouter(tags=["models"])


def summary(m: LoadedModel) -> dict:
    spec = m.header.spec
    return {
        "name": m.name,
        "version": m.version,
        "model_type": spec.model_type,
        "d": spec.d,
        "n_users": spec.tables["user"].n if "user" in spec.tables else None,
        "n_items": spec.tables["item"].n,
    }


@router.get("/v1/models", response_model=ModelsResponse)
async def list_models(request: Request) -> Response:
    models = registry(request).models
    return json_response(ModelsResponse(models=[ModelSummary(**summary(models[k])) for k in sorted(models)]))


@router.get(
    "/v1/models/{model}",
    response_model=ModelDetail,
    responses=error_docs({404: "unknown model", 503: "model loading"}),
)
async def describe(request: Request, model: str) -> Response:
    m = get_model(request, model)
    spec = m.header.spec
    tables = {
        t: TableInfo(
            method=c.method,
            n=c.n,
            d=c.d,
            size_bits=embedding_size_bits(c),
            groups=[{"start": g.start, "stop": g.stop, "D": g.D, "K": g.K} for g in c.groups],
        )
        for t, c in spec.tables.items()
    }
    bits = m.size_bits()
    size = SizeInfo(
        **bits,
        ratio=bits["total_bits"] / bits["full_embedding_bits"],
        artifact_bytes=m.artifact_bytes,
        resident_bytes=m.resident_bytes,
    )
    detail = ModelDetail(
        **summary(m),
        tables=tables,
        known_items=m.known is not None,
        hparams=dict(spec.hparams),
        size=size,
        metrics=dict(m.header.metrics),
        provenance=dict(m.header.provenance),
        loaded_at=m.loaded_at,
    )
    return json_response(detail)
