"""Parity: the server's NumPy engine vs the trainer's torch models on the same exported artifact (<= 1e-5).

Each backbone is built with real trainer embedding modules (random N(0, 0.3) weights so scores are not all
near zero), quantised tables finalised, exported with trainer.export.export_artifact, loaded by the server's
load_model, and every item is scored both ways. This test may import torch and the trainer; server code may
not (test_no_torch.py)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mgqe.proto.config import EmbeddingConfig
from mgqe.server.models import load_model
from mgqe.trainer.embeddings import build_embedding
from mgqe.trainer.export import export_artifact
from mgqe.trainer.models import GMF, NeuMF, Relevance, SASRec

N_USERS, N_ITEMS, D = 60, 300, 16
TOL = 1e-5


def table(method: str, n: int) -> torch.nn.Module:
    cfgs = {
        "fe": EmbeddingConfig.fe(n, D),
        "lrf": EmbeddingConfig.lrf(n, D, rank=4),
        "sq": EmbeddingConfig.sq(n, D, bits=8),
        "dpq": EmbeddingConfig.dpq(n, D, D=8, K=16),
        "mgqe": EmbeddingConfig.mgqe(n, D, bounds=[n // 10, n], D=8, K=[256, 64]),
        "mgqe_unshared_d": EmbeddingConfig.mgqe(
            n, D, bounds=[n // 10, n], D=[8, 4], K=16, variant="unshared_d"
        ),
    }
    emb = build_embedding(cfgs[method], init_std=0.3)
    if hasattr(emb, "finalize"):
        emb.finalize()
    return emb


def build(model_type: str, method: str) -> GMF | NeuMF | SASRec | Relevance:
    torch.manual_seed(0)
    item = table(method, N_ITEMS)
    if model_type == "gmf":
        m: GMF | NeuMF | SASRec | Relevance = GMF(table(method, N_USERS), item, D, N_ITEMS)
    elif model_type == "neumf":
        m = NeuMF(table(method, N_USERS), item, D, N_ITEMS, mlp=(16, 8, 4))
    elif model_type == "sasrec":
        m = SASRec(item, D, N_ITEMS, max_len=12, n_blocks=2, n_heads=2)
    else:
        m = Relevance(item, D, N_ITEMS)
    with torch.no_grad():  # non-trivial dense weights (LayerNorm gains near 1, biases non-zero)
        for name, p in m.named_parameters():
            if name.split(".")[0] not in ("user", "item"):
                p.copy_(
                    torch.randn_like(p) * 0.3 + (1.0 if "ln" in name and name.endswith("weight") else 0.0)
                )
    return m.eval()


def export(m: torch.nn.Module, tmp_path: Path, with_users: bool):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    data = SimpleNamespace(
        item_vocab=rng.permutation(N_ITEMS) * 2 + 1,
        user_vocab=rng.permutation(N_USERS) * 5 + 3 if with_users else None,
    )
    path = tmp_path / "m.mgqe"
    export_artifact(m, data, path)
    return load_model("m", "v1", path), data


@pytest.mark.parametrize("method", ["fe", "lrf", "sq", "dpq", "mgqe", "mgqe_unshared_d"])
@pytest.mark.parametrize("model_type", ["gmf", "neumf"])
def test_user_models(model_type: str, method: str, tmp_path: Path) -> None:
    m = build(model_type, method)
    assert isinstance(m, GMF | NeuMF)
    served, data = export(m, tmp_path, with_users=True)
    users = np.array([0, 7, N_USERS - 1])
    with torch.no_grad():
        want = m.score_all(torch.from_numpy(users)).numpy()
    got = served.score("user", data.user_vocab[users].tolist(), data.item_vocab.tolist())
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)
    # recommend agrees with the torch ranking (scores equal to the tolerance, so compare the scores)
    top = served.recommend("user", [int(data.user_vocab[7])], 10, [], False)[0]
    np.testing.assert_allclose(top[1], np.sort(want[1])[::-1][:10], rtol=0, atol=TOL)


@pytest.mark.parametrize("method", ["fe", "mgqe", "sq"])
def test_sasrec(method: str, tmp_path: Path) -> None:
    m = build("sasrec", method)
    assert isinstance(m, SASRec)
    served, data = export(m, tmp_path, with_users=False)
    L, pad = 12, N_ITEMS
    histories = [[3, 50, 7], list(range(20, 40)), [N_ITEMS - 1]]  # short, longer than L, one item
    seq = torch.full((len(histories), L), pad, dtype=torch.long)
    for b, h in enumerate(histories):
        last = h[-L:]
        seq[b, L - len(last) :] = torch.tensor(last)
    with torch.no_grad():
        want = m.score_all(seq).numpy()
    ext = [data.item_vocab[h].tolist() for h in histories]
    got = served.score("history", ext, data.item_vocab.tolist())
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)


@pytest.mark.parametrize("method", ["fe", "mgqe"])
def test_relevance(method: str, tmp_path: Path) -> None:
    m = build("relevance", method)
    served, data = export(m, tmp_path, with_users=False)
    left = torch.tensor([0, 5, 299, 17])
    right = torch.tensor([1, 5, 0, 250])
    with torch.no_grad():
        want = m(left, right).numpy()
    pairs = np.stack([data.item_vocab[left.numpy()], data.item_vocab[right.numpy()]], 1).tolist()
    np.testing.assert_allclose(served.relevance(pairs), want, rtol=0, atol=TOL)
