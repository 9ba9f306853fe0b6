"""One test per error path of the API: status, error code, and a message naming what was wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mgqe.proto.artifact import read_artifact


@pytest.fixture(scope="module")
def client(store: Path, make_client_module) -> TestClient:  # type: ignore[no-untyped-def]
    return make_client_module(
        store=store, log_level="WARNING", max_k=50, max_batch=4, max_items=20, max_body_bytes=4096
    )


@pytest.fixture(scope="module")
def ids(artifacts: dict[str, Path]) -> dict[str, dict[str, list[int]]]:
    out = {}
    for mt, p in artifacts.items():
        a = read_artifact(p)
        out[mt] = {t: a.arrays[f"vocab.{t}"][:5].tolist() for t in a.spec.tables}
    return out


def err(resp, status: int, code: str) -> str:  # type: ignore[no-untyped-def]
    assert resp.status_code == status, resp.text
    body = resp.json()["error"]
    assert body["code"] == code
    return body["message"]


def test_unknown_model_404(client: TestClient) -> None:
    assert "'nope'" in err(client.post("/v1/models/nope/recommend", json={"user": 1}), 404, "unknown_model")
    assert "'nope'" in err(client.get("/v1/models/nope"), 404, "unknown_model")


def test_unknown_user_404_names_id(client: TestClient) -> None:
    assert "user id 123456789" in err(
        client.post("/v1/models/gmf/recommend", json={"user": 123456789}), 404, "unknown_id"
    )


def test_unknown_item_404_names_id(client: TestClient, ids: dict) -> None:
    req = {"user": ids["gmf"]["user"][0], "items": [ids["gmf"]["item"][0], 8]}  # 8 is not a vocab id (3i+7)
    assert "item id 8" in err(client.post("/v1/models/gmf/score", json=req), 404, "unknown_id")


def test_unknown_excluded_item_404(client: TestClient, ids: dict) -> None:
    req = {"user": ids["gmf"]["user"][0], "exclude": [-5]}
    assert "item id -5" in err(client.post("/v1/models/gmf/recommend", json=req), 404, "unknown_id")


def test_k_over_limit_422(client: TestClient, ids: dict) -> None:
    msg = err(
        client.post("/v1/models/gmf/recommend", json={"user": ids["gmf"]["user"][0], "k": 51}),
        422,
        "limit_exceeded",
    )
    assert "k=51" in msg and "50" in msg and "max_k" in msg


def test_batch_over_limit_422(client: TestClient, ids: dict) -> None:
    msg = err(
        client.post("/v1/models/gmf/recommend", json={"users": ids["gmf"]["user"]}), 422, "limit_exceeded"
    )
    assert "number of queries=5" in msg and "limit 4" in msg


def test_items_over_limit_422(client: TestClient, ids: dict) -> None:
    req = {"user": ids["gmf"]["user"][0], "items": ids["gmf"]["item"] * 5}
    assert "limit 20" in err(client.post("/v1/models/gmf/score", json=req), 422, "limit_exceeded")


def test_pairs_over_limit_422(client: TestClient, ids: dict) -> None:
    i = ids["relevance"]["item"]
    req = {"pairs": [[i[0], i[1]]] * 5}
    assert "pairs=5" in err(client.post("/v1/models/relevance/relevance", json=req), 422, "limit_exceeded")


def test_malformed_json_422(client: TestClient) -> None:
    resp = client.post(
        "/v1/models/gmf/recommend", content=b'{"user": 1,', headers={"content-type": "application/json"}
    )
    assert "JSON" in err(resp, 422, "malformed_json")


def test_string_id_rejected_422(client: TestClient) -> None:
    msg = err(client.post("/v1/models/gmf/recommend", json={"user": "17"}), 422, "invalid_request")
    assert "user" in msg


def test_unknown_field_rejected_422(client: TestClient, ids: dict) -> None:
    msg = err(
        client.post("/v1/models/gmf/recommend", json={"user": ids["gmf"]["user"][0], "topk": 3}),
        422,
        "invalid_request",
    )
    assert "topk" in msg


def test_no_query_422(client: TestClient) -> None:
    assert "exactly one of user" in err(
        client.post("/v1/models/gmf/recommend", json={"k": 3}), 422, "invalid_request"
    )


def test_body_too_large_413(client: TestClient) -> None:
    resp = client.post(
        "/v1/models/gmf/score", content=b" " * 5000, headers={"content-type": "application/json"}
    )
    assert "4096 bytes" in err(resp, 413, "body_too_large")


def test_chunked_body_too_large_413(client: TestClient) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(10):
            yield b" " * 1000

    resp = client.post("/v1/models/gmf/score", content=chunks(), headers={"content-type": "application/json"})
    assert "max_body_bytes" in err(resp, 413, "body_too_large")


def test_user_query_on_sasrec_409(client: TestClient, ids: dict) -> None:
    msg = err(client.post("/v1/models/sasrec/recommend", json={"user": 1}), 409, "unsupported_operation")
    assert "'sasrec'" in msg and "user queries" in msg


def test_history_query_on_gmf_409(client: TestClient, ids: dict) -> None:
    msg = err(
        client.post("/v1/models/gmf/recommend", json={"history": ids["gmf"]["item"]}),
        409,
        "unsupported_operation",
    )
    assert "'gmf'" in msg


def test_recommend_on_relevance_409(client: TestClient, ids: dict) -> None:
    msg = err(
        client.post("/v1/models/relevance/recommend", json={"history": ids["relevance"]["item"]}),
        409,
        "unsupported_operation",
    )
    assert "'relevance'" in msg


def test_user_embeddings_on_sasrec_409(client: TestClient) -> None:
    msg = err(
        client.post("/v1/models/sasrec/embeddings", json={"table": "user", "ids": [1]}),
        409,
        "unsupported_operation",
    )
    assert "'sasrec'" in msg and "user table" in msg


def test_exclude_known_for_users_without_known_items_409(client: TestClient, ids: dict) -> None:
    # the fixture artifacts carry no known.* arrays (tests/server/test_known_items.py has ones that do)
    req = {"user": ids["neumf"]["user"][0], "exclude_known": True}
    msg = err(client.post("/v1/models/neumf/recommend", json=req), 409, "unsupported_operation")
    assert "'neumf'" in msg and "exclude_known" in msg and "carries no known items" in msg


def test_overload_503_with_retry_after(store: Path, make_client, ids: dict) -> None:  # type: ignore[no-untyped-def]
    c = make_client(store=store, log_level="WARNING", max_in_flight=1)
    mw = c.app.middleware_stack  # the ServingMiddleware instance sits right under ServerErrorMiddleware
    while not hasattr(mw, "in_flight"):
        mw = mw.app
    mw.in_flight = 1  # as if one request were running
    resp = c.post("/v1/models/gmf/recommend", json={"user": ids["gmf"]["user"][0]})
    assert "max_in_flight" in err(resp, 503, "overloaded")
    assert resp.headers["retry-after"] == "1"
    assert c.get("/v1/health/live").status_code == 200  # health is never gated
    mw.in_flight = 0
    assert c.post("/v1/models/gmf/recommend", json={"user": ids["gmf"]["user"][0]}).status_code == 200


def test_not_ready_503_while_loading(tmp_path: Path, make_client) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "CURRENT").write_text("v1\n")  # names a version that does not exist (yet)
    c = make_client(wait=False, store=tmp_path, log_level="CRITICAL")
    assert c.get("/v1/health/ready").status_code == 503
    assert c.get("/v1/health/live").status_code == 200
    resp = c.post("/v1/models/m/recommend", json={"user": 1})
    assert "not loaded yet" in err(resp, 503, "model_loading")
