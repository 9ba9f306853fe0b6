"""The scoring endpoints serialise plain dicts (routes/deps.py: json_dict_response) instead of building their
response models: every answer must still be exactly what the documented response model would produce, and a
body that arrives in several chunks must still be read whole (routes/deps.py: read_body)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from mgqe.proto.api import EmbeddingsResponse, RankedResponse, RelevanceResponse
from mgqe.proto.artifact import read_artifact
from mgqe.server.routes.deps import json_dict_response


@pytest.fixture(scope="module")
def client(store: Path, make_client_module) -> TestClient:  # type: ignore[no-untyped-def]
    return make_client_module(store=store, log_level="WARNING")


@pytest.fixture(scope="module")
def ids(artifacts: dict[str, Path]) -> dict[str, list[int]]:
    art = read_artifact(artifacts["gmf"])
    return {t: art.arrays[f"vocab.{t}"][:3].tolist() for t in ("user", "item")}


def _requests(ids: dict[str, list[int]]) -> list[tuple[str, dict, type[BaseModel]]]:
    users, items = ids["user"], ids["item"]
    return [
        ("score", {"users": users[:2], "items": items}, RankedResponse),
        ("recommend", {"user": users[0], "k": 5, "exclude": items[:1]}, RankedResponse),
        ("recommend", {"users": users, "k": 3}, RankedResponse),
        ("similar", {"items": items[:2], "k": 4}, RankedResponse),
        ("relevance", {"pairs": [[items[0], items[1]], [items[2], items[0]]]}, RelevanceResponse),
        ("embeddings", {"table": "item", "ids": items}, EmbeddingsResponse),
    ]


@pytest.mark.parametrize("case", range(6))
def test_answer_is_the_response_models_json(client: TestClient, ids: dict[str, list[int]], case: int) -> None:
    endpoint, body, schema = _requests(ids)[case]
    resp = client.post(f"/v1/models/gmf/{endpoint}", json=body)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json"
    # validates against the documented model, and that model serialises to the very same bytes
    assert schema.model_validate_json(resp.content).model_dump_json().encode() == resp.content


def test_non_finite_scores_serialise_as_the_models_do() -> None:
    scores = [float("inf"), float("-inf"), float("nan"), 1e-05, 1e20, 0.1]
    got = json_dict_response({"model": "m", "version": "v", "scores": scores}).body
    want = RelevanceResponse.model_construct(model="m", version="v", scores=scores).model_dump_json()
    assert got == want.encode()


def _asgi_post(app: object, path: str, chunks: list[bytes]) -> tuple[int, bytes]:
    """POST a body to the ASGI app as len(chunks) http.request messages (TestClient sends one)."""
    last = len(chunks) - 1
    messages = [{"type": "http.request", "body": c, "more_body": i < last} for i, c in enumerate(chunks)]
    sent: list[dict] = []

    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "scheme": "http",
        "server": ("test", 80),
        "client": ("test", 1),
        "http_version": "1.1",
        "headers": [(b"content-type", b"application/json")],
    }
    asyncio.run(app(scope, receive, send))  # type: ignore[operator]
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def test_chunked_body_is_read_whole(client: TestClient, ids: dict[str, list[int]]) -> None:
    raw = json.dumps({"user": ids["user"][0], "k": 5}).encode()
    whole = client.post("/v1/models/gmf/recommend", content=raw)
    status, body = _asgi_post(client.app, "/v1/models/gmf/recommend", [raw[:7], raw[7:15], raw[15:]])
    assert status == 200, body
    assert body == whole.content and len(whole.json()["results"][0]["items"]) == 5


def test_chunked_body_over_the_limit_is_413(store: Path, make_client) -> None:  # type: ignore[no-untyped-def]
    """No Content-Length: the middleware counts the streamed chunks and cuts the read off at the limit."""
    c = make_client(store=store, log_level="WARNING", max_body_bytes=1024)
    chunks = [b'{"user": 1, "k": 5, ', b" " * 1100 + b"}"]
    status, body = _asgi_post(c.app, "/v1/models/gmf/recommend", chunks)
    assert status == 413 and json.loads(body)["error"]["code"] == "body_too_large"


def test_in_flight_gauge_is_read_at_scrape(store: Path, make_client) -> None:  # type: ignore[no-untyped-def]
    """mgqe_in_flight is read from the middleware's counter when scraped (no Gauge.set per request)."""
    c = make_client(store=store, log_level="WARNING")
    mw = c.app.middleware_stack
    while not hasattr(mw, "in_flight"):
        mw = mw.app
    assert "mgqe_in_flight 0.0" in c.get("/metrics").text
    mw.in_flight = 3  # as if three model requests were running (GET /metrics is not counted)
    assert "mgqe_in_flight 3.0" in c.get("/metrics").text
    mw.in_flight = 0
