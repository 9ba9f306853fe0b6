"""A real model end to end: train GMF with MGQE tables on MovieLens-100k through `mgqe-train train --export`
(3 epochs, ~10 s), serve the artifact, and check that the served recommendations behave like a trained
model's (popular items ranked up, the exported test HR@10 far above chance). Slow: run with -m slow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

DATA = Path(os.environ.get("MGQE_DATA_DIR", Path(__file__).resolve().parents[3] / "shared" / "data"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (DATA / "ml-100k").is_dir():
        pytest.skip(f"MovieLens-100k not found under {DATA} (set MGQE_DATA_DIR)")
    tmp = tmp_path_factory.mktemp("trained")
    out = tmp / "gmf100k.mgqe"
    cmd = [
        sys.executable,
        "-m",
        "mgqe.trainer.cli",
        "train",
        "--model",
        "gmf",
        "--method",
        "mgqe",
        "--dataset",
        "ml-100k",
        "--data-dir",
        str(DATA),
        "--epochs",
        "3",
        "--d",
        "32",
        "--set",
        "D=16",
        "--out-dir",
        str(tmp / "run"),
        "--export",
        str(out),
        "--no-progress",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    return out


def test_served_trained_model(trained: Path, make_client) -> None:  # type: ignore[no-untyped-def]
    c = make_client(artifact=trained, model_name="gmf100k", log_level="WARNING")
    detail = c.get("/v1/models/gmf100k").json()
    assert detail["n_users"] == 943 and detail["n_items"] == 1682
    assert detail["tables"]["item"]["method"] == "mgqe" and detail["size"]["ratio"] < 0.5
    assert detail["metrics"]["test.hr@10"] > 3 * 100 * 10 / 1682  # percent; chance is 10 / 1682
    model = c.app.state.registry.get("gmf100k")
    users = model.vocab["user"].ext[:50].tolist()
    body = c.post("/v1/models/gmf100k/recommend", json={"users": users, "k": 10}).json()
    ranks = np.concatenate([model.vocab["item"].rows(r["items"]) for r in body["results"]])
    # internal ids are popularity ranks: a trained GMF recommends mostly popular items (chance: n / 2)
    assert ranks.mean() < 0.25 * 1682
    # MovieLens ids in and out: 50 = Star Wars (1977), the most rated ml-100k movie
    assert int(model.vocab["item"].ext[0]) == 50
    sim = c.post("/v1/models/gmf100k/similar", json={"item": 50, "k": 5}).json()["results"][0]
    assert len(sim["items"]) == 5 and 50 not in sim["items"]
    req = {"user": users[0], "items": body["results"][0]["items"]}
    sc = c.post("/v1/models/gmf100k/score", json=req).json()
    np.testing.assert_allclose(sc["results"][0]["scores"], body["results"][0]["scores"], rtol=1e-5, atol=1e-5)
    assert (
        c.post("/v1/models/gmf100k/embeddings", json={"table": "user", "ids": users[:3]}).status_code == 200
    )


def test_exclude_known_drops_training_items(trained: Path, make_client) -> None:  # type: ignore[no-untyped-def]
    """The export carries each user's ml-100k training items; exclude_known drops exactly those."""
    from mgqe.trainer.data import load_split

    split = load_split("ml-100k", DATA)
    c = make_client(artifact=trained, model_name="gmf100k", log_level="WARNING")
    overlap = 0
    for u in range(0, split.n_users, 19):  # 50 users
        seen = split.item_vocab[split.user_items(u)].tolist()
        user = int(split.user_vocab[u])
        full = c.post("/v1/models/gmf100k/recommend", json={"user": user, "k": 10 + len(seen)}).json()
        excl = c.post("/v1/models/gmf100k/recommend", json={"user": user, "k": 10, "exclude_known": True})
        got = excl.json()["results"][0]["items"]
        # the plain ranking with the training items taken out
        assert got == [i for i in full["results"][0]["items"] if i not in set(seen)][:10]
        overlap += len(set(full["results"][0]["items"][:10]) & set(seen))
    assert overlap > 0  # a trained model ranks seen items high: the exclusion changed the answers
