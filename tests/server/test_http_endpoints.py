"""Every endpoint on every model type, over HTTP (TestClient), with ml-100k-sized artifacts.

Expected values are computed independently from the artifact's arrays with the reference decode of
test_decode.py and straightforward NumPy, never typed by hand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from mgqe.proto.artifact import read_artifact
from mgqe.server import nn
from test_decode import reference_table


@pytest.fixture(scope="module")
def client(store: Path, make_client_module) -> TestClient:  # type: ignore[no-untyped-def]
    return make_client_module(store=store, log_level="WARNING")


@pytest.fixture(scope="module")
def ref(artifacts: dict[str, Path]) -> dict[str, dict]:
    """Per model type: full reference tables, vocabularies and dense weights."""
    out = {}
    for mt, path in artifacts.items():
        art = read_artifact(path)
        t = {
            name: reference_table(
                "mgqe", cfg, {k.replace(f"{name}.", "item.", 1): v for k, v in art.arrays.items()}
            )
            for name, cfg in art.spec.tables.items()
        }
        dense = {k[len("dense.") :]: v for k, v in art.arrays.items() if k.startswith("dense.")}
        out[mt] = {
            "E": t,
            "vocab": {n: art.arrays[f"vocab.{n}"] for n in art.spec.tables},
            "dense": dense,
            "spec": art.spec,
        }
    return out


def gmf_scores(r: dict, user_row: int) -> np.ndarray:
    w, b = r["dense"]["out.weight"][0], r["dense"]["out.bias"][0]
    return (r["E"]["user"][user_row] * r["E"]["item"]) @ w + b


def test_live_ready_and_models(client: TestClient) -> None:
    assert client.get("/v1/health/live").status_code == 200
    ready = client.get("/v1/health/ready")
    assert ready.status_code == 200 and set(ready.json()["models"]) == {"gmf", "neumf", "sasrec", "relevance"}
    listed = client.get("/v1/models").json()["models"]
    assert [m["name"] for m in listed] == ["gmf", "neumf", "relevance", "sasrec"]
    assert all(m["version"] == "v1" for m in listed)


def test_model_detail_sizes(client: TestClient, ref: dict, artifacts: dict[str, Path]) -> None:
    body = client.get("/v1/models/gmf").json()
    assert body["model_type"] == "gmf" and body["n_users"] == 943 and body["n_items"] == 1682
    assert body["metrics"] == {"hr@10": 0.5} and body["provenance"]["source"] == "tests/server random"
    size = body["size"]
    assert size["artifact_bytes"] == artifacts["gmf"].stat().st_size
    full = 32 * 16 * (943 + 1682) + size["dense_bits"]
    assert size["full_embedding_bits"] == full and size["ratio"] == pytest.approx(size["total_bits"] / full)
    # resident: codes one byte per subspace + centroids + vocab (3 int64 per id) + dense; far below floats
    assert size["resident_bytes"] < 4 * 16 * (943 + 1682) + 24 * (943 + 1682)


def test_gmf_recommend_matches_reference(client: TestClient, ref: dict) -> None:
    r = ref["gmf"]
    users = r["vocab"]["user"][[0, 5, 900]].tolist()
    exclude = r["vocab"]["item"][[3, 4]].tolist()
    body = client.post("/v1/models/gmf/recommend", json={"users": users, "k": 7, "exclude": exclude}).json()
    assert len(body["results"]) == 3
    for res, row in zip(body["results"], [0, 5, 900], strict=True):
        s = gmf_scores(r, row)
        s[[3, 4]] = -np.inf
        want = r["vocab"]["item"][np.argsort(-s, kind="stable")[:7]]
        assert res["items"] == want.tolist()
        np.testing.assert_allclose(res["scores"], np.sort(s)[::-1][:7], rtol=1e-5, atol=1e-5)


def test_gmf_score(client: TestClient, ref: dict) -> None:
    r = ref["gmf"]
    items = r["vocab"]["item"][[10, 0, 1681]].tolist()
    body = client.post(
        "/v1/models/gmf/score", json={"user": int(r["vocab"]["user"][2]), "items": items}
    ).json()
    assert body["results"][0]["items"] == items
    np.testing.assert_allclose(
        body["results"][0]["scores"], gmf_scores(r, 2)[[10, 0, 1681]], rtol=1e-5, atol=1e-6
    )


def test_neumf_recommend_and_score(client: TestClient, ref: dict) -> None:
    r = ref["neumf"]
    eu, E, p = r["E"]["user"][4], r["E"]["item"], r["dense"]
    h = np.maximum(
        np.concatenate([np.broadcast_to(eu, E.shape), E], 1) @ p["mlp.0.weight"].T + p["mlp.0.bias"], 0
    )
    h = np.maximum(h @ p["mlp.2.weight"].T + p["mlp.2.bias"], 0)
    h = np.maximum(h @ p["mlp.4.weight"].T + p["mlp.4.bias"], 0)
    s = np.concatenate([eu * E, h], 1) @ p["out.weight"][0] + p["out.bias"][0]
    user = int(r["vocab"]["user"][4])
    body = client.post("/v1/models/neumf/recommend", json={"user": user, "k": 5}).json()
    assert body["results"][0]["items"] == r["vocab"]["item"][np.argsort(-s, kind="stable")[:5]].tolist()
    items = r["vocab"]["item"][[7, 8]].tolist()
    body = client.post("/v1/models/neumf/score", json={"user": user, "items": items}).json()
    np.testing.assert_allclose(body["results"][0]["scores"], s[[7, 8]], rtol=1e-5, atol=1e-5)


def test_sasrec_recommend_history(client: TestClient, ref: dict) -> None:
    r = ref["sasrec"]
    rows = [5, 17, 3, 99]
    history = r["vocab"]["item"][rows].tolist()
    L = r["spec"].hparams["max_len"]
    emb = np.zeros((1, L, 16), np.float32)
    emb[0, L - 4 :] = r["E"]["item"][rows]
    mask = np.zeros((1, L), bool)
    mask[0, L - 4 :] = True
    q = nn.sasrec_hidden(emb, mask, r["dense"], 2, 2)[0]
    s = r["E"]["item"] @ q
    body = client.post(
        "/v1/models/sasrec/recommend", json={"history": history, "k": 6, "exclude_known": True}
    )
    got = body.json()["results"][0]
    s_known = s.copy()
    s_known[rows] = -np.inf
    assert got["items"] == r["vocab"]["item"][np.argsort(-s_known, kind="stable")[:6]].tolist()
    assert not set(got["items"]) & set(history)
    both = client.post(
        "/v1/models/sasrec/score", json={"histories": [history, history], "items": history[:2]}
    )
    np.testing.assert_allclose(both.json()["results"][1]["scores"], s[rows[:2]], rtol=1e-4, atol=1e-4)


def test_relevance_similar_and_pairs(client: TestClient, ref: dict) -> None:
    r = ref["relevance"]
    E, w, b = r["E"]["item"], r["dense"]["out.weight"][0], r["dense"]["out.bias"][0]
    s = (E[12] * w) @ E.T + b
    s[12] = -np.inf  # never the query item itself
    item = int(r["vocab"]["item"][12])
    body = client.post("/v1/models/relevance/similar", json={"item": item, "k": 4}).json()
    assert body["results"][0]["items"] == r["vocab"]["item"][np.argsort(-s, kind="stable")[:4]].tolist()
    pairs = [[item, int(r["vocab"]["item"][j])] for j in (0, 30)]
    got = client.post("/v1/models/relevance/relevance", json={"pairs": pairs}).json()["scores"]
    np.testing.assert_allclose(got, s[[0, 30]], rtol=1e-5, atol=1e-5)


def test_similar_on_gmf_is_inner_product(client: TestClient, ref: dict) -> None:
    r = ref["gmf"]
    E = r["E"]["item"]
    s = E @ E[1]
    s[1] = -np.inf
    body = client.post("/v1/models/gmf/similar", json={"items": [int(r["vocab"]["item"][1])], "k": 3}).json()
    assert body["results"][0]["items"] == r["vocab"]["item"][np.argsort(-s, kind="stable")[:3]].tolist()


def test_embeddings_decoded(client: TestClient, ref: dict) -> None:
    r = ref["neumf"]
    ids = r["vocab"]["user"][[0, 942]].tolist()
    body = client.post("/v1/models/neumf/embeddings", json={"table": "user", "ids": ids}).json()
    assert body["ids"] == ids
    np.testing.assert_allclose(body["vectors"], r["E"]["user"][[0, 942]], rtol=1e-6, atol=1e-6)


def test_metrics_exposed(client: TestClient) -> None:
    client.get("/v1/models")
    text = client.get("/metrics").text
    assert 'mgqe_requests_total{method="GET",route="/v1/models",status="200"}' in text
    assert 'mgqe_model_version_info{model="gmf",version="v1"} 1.0' in text
    assert 'mgqe_reloads_total{model="sasrec",outcome="loaded"} 1.0' in text
    assert "mgqe_request_seconds_bucket" in text
    # the scoring endpoints are served by plain Starlette routes (fast_routes) under the same templates
    assert 'route="/v1/models/{model}/recommend",status="200"' in text


def test_thread_pool_path_matches_inline(client: TestClient, store: Path, make_client, ref: dict) -> None:  # type: ignore[no-untyped-def]
    """inline_max_items=0 sends every query through the thread pool; the answers are the same."""
    pooled = make_client(store=store, log_level="WARNING", inline_max_items=0)
    users = ref["gmf"]["vocab"]["user"][[1, 2]].tolist()
    req = {"users": users, "k": 5}
    assert (
        pooled.post("/v1/models/gmf/recommend", json=req).json()
        == client.post("/v1/models/gmf/recommend", json=req).json()
    )
    item = int(ref["relevance"]["vocab"]["item"][0])
    for path, body in (
        ("similar", {"item": item}),
        ("relevance", {"pairs": [[item, item]]}),
        ("embeddings", {"ids": [item]}),
    ):
        url = f"/v1/models/relevance/{path}"
        assert pooled.post(url, json=body).json() == client.post(url, json=body).json()
