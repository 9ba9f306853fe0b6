"""exclude_known for user queries: artifacts that carry each user's training items (known.indptr /
known.items) drop them from recommend; artifacts without them answer 409 saying so.

Expected rankings come from the artifact's arrays through test_decode's reference decode and plain NumPy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from artifact_factory import write_model
from mgqe.proto.artifact import read_artifact
from mgqe.server.models import UnsupportedOperationError, load_model
from test_decode import reference_table

USERS = [0, 5, 900]  # internal rows of the users queried
TOP = 8  # each queried user "knows" its own top-8 items, so excluding them changes the answer


def reference_scores(path: Path, user_row: int) -> np.ndarray:
    """(n_items,) scores of one user, from the artifact's arrays only (independent of server code)."""
    art = read_artifact(path)
    E = {
        t: reference_table("mgqe", cfg, {k.replace(f"{t}.", "item.", 1): v for k, v in art.arrays.items()})
        for t, cfg in art.spec.tables.items()
    }
    p = {k[len("dense.") :]: v for k, v in art.arrays.items() if k.startswith("dense.")}
    eu, Ei = E["user"][user_row], E["item"]
    x = eu * Ei
    if art.spec.model_type == "neumf":
        h = np.concatenate([np.broadcast_to(eu, Ei.shape), Ei], 1)
        for i in sorted(int(k.split(".")[1]) for k in p if k.startswith("mlp.") and k.endswith(".weight")):
            h = np.maximum(h @ p[f"mlp.{i}.weight"].T + p[f"mlp.{i}.bias"], 0)
        x = np.concatenate([x, h], 1)
    return x @ p["out.weight"][0] + p["out.bias"][0]


def reference_topk(s: np.ndarray, k: int, drop: np.ndarray) -> np.ndarray:
    s = s.copy()
    s[drop] = -np.inf
    return np.argsort(-s, kind="stable")[:k]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Per model type: the artifact without known items, the same model with them, and the known CSR."""
    root = tmp_path_factory.mktemp("known")
    out = {}
    for mt in ("gmf", "neumf"):
        plain = write_model(root / f"{mt}_plain.mgqe", mt, seed=1)
        n_users, n_items = (read_artifact(plain).spec.tables[t].n for t in ("user", "item"))
        rng = np.random.default_rng(2)
        per_user = [np.sort(rng.choice(n_items, int(rng.integers(0, 6)), replace=False))
                    for _ in range(n_users)]
        for u in USERS:
            top = np.argsort(-reference_scores(plain, u), kind="stable")[:TOP]
            per_user[u] = np.union1d(top, per_user[u])
        indptr = np.concatenate([[0], np.cumsum([len(x) for x in per_user])]).astype(np.int64)
        known: dict[str, np.ndarray] = {"known.indptr": indptr,
                                        "known.items": np.concatenate(per_user).astype(np.int32)}
        path = write_model(root / f"{mt}_known.mgqe", mt, seed=1, extra=known)
        out[mt] = {"plain": plain, "known": path, "per_user": per_user, "csr": known}
    return out


@pytest.mark.parametrize("mt", ["gmf", "neumf"])
def test_recommend_excludes_known_items(models: dict, mt: str) -> None:
    m = models[mt]
    model = load_model(mt, "v1", m["known"])
    ext_user, ext_item = model.vocab["user"].ext, model.vocab["item"].ext
    exclude_rows = np.array([10, 11])
    res = model.recommend("user", ext_user[USERS].tolist(), 7, ext_item[exclude_rows].tolist(), True)
    plain = model.recommend("user", ext_user[USERS].tolist(), 7, [], False)
    for u, (items, scores), (plain_items, _) in zip(USERS, res, plain, strict=True):
        known = m["per_user"][u]
        s = reference_scores(m["known"], u)
        want = reference_topk(s, 7, np.concatenate([exclude_rows, known]))
        assert items.tolist() == ext_item[want].tolist()
        np.testing.assert_allclose(scores, s[want], rtol=1e-5, atol=1e-5)
        assert not set(items.tolist()) & set(ext_item[known].tolist())
        # without the flag the user's own top items come back: the exclusion above did something
        assert set(plain_items.tolist()) <= set(ext_item[known].tolist())


def test_known_items_held_as_csr(models: dict) -> None:
    m = models["gmf"]
    with_known, without = load_model("g", "v1", m["known"]), load_model("g", "v1", m["plain"])
    assert without.known is None and with_known.known is not None
    np.testing.assert_array_equal(with_known.known.indptr, m["csr"]["known.indptr"])
    np.testing.assert_array_equal(with_known.known.items, m["csr"]["known.items"])
    assert with_known.known.items.dtype == np.int32
    np.testing.assert_array_equal(with_known.known.rows(USERS[1]), m["per_user"][USERS[1]])
    assert with_known.resident_bytes - without.resident_bytes == with_known.known.nbytes


@pytest.mark.parametrize("mt", ["gmf", "neumf"])
def test_without_known_items_exclude_known_is_409(models: dict, mt: str) -> None:
    model = load_model(mt, "v1", models[mt]["plain"])
    user = [int(model.vocab["user"].ext[0])]
    with pytest.raises(UnsupportedOperationError, match="carries no known items"):
        model.recommend("user", user, 5, [], True)
    assert len(model.recommend("user", user, 5, [], False)[0][0]) == 5  # the plain query still works


def test_http_exclude_known(models: dict, make_client_module) -> None:  # type: ignore[no-untyped-def]
    m = models["gmf"]
    art = read_artifact(m["known"])
    ext_user, ext_item = art.arrays["vocab.user"], art.arrays["vocab.item"]
    client: TestClient = make_client_module(artifact=m["known"], model_name="gmf", log_level="WARNING")
    u = USERS[2]
    body = client.post(
        "/v1/models/gmf/recommend", json={"user": int(ext_user[u]), "k": 10, "exclude_known": True}
    )
    assert body.status_code == 200, body.text
    want = reference_topk(reference_scores(m["known"], u), 10, m["per_user"][u])
    assert body.json()["results"][0]["items"] == ext_item[want].tolist()



def test_http_model_detail_reports_known_items(models: dict, make_client_module) -> None:  # type: ignore[no-untyped-def]
    """GET /v1/models/{model} tells clients whether exclude_known works for user queries."""
    m = models["gmf"]
    for path, want in ((m["known"], True), (m["plain"], False)):
        client: TestClient = make_client_module(artifact=path, model_name="gmf", log_level="WARNING")
        body = client.get("/v1/models/gmf")
        assert body.status_code == 200, body.text
        assert body.json()["known_items"] is want
