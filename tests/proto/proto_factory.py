"""Builders of small valid model specs and matching random arrays, shared by the proto tests."""

from __future__ import annotations

import numpy as np

from mgqe.proto.artifact import required_arrays
from mgqe.proto.config import EmbeddingConfig, ModelSpec


def random_arrays(spec: ModelSpec, seed: int = 0, dense: dict[str, tuple[int, ...]] | None = None) -> dict:
    """Arrays that satisfy `spec`: codes uniform in [0, K), floats N(0, 1) float32, vocab = distinct ids."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for name, req in required_arrays(spec).items():
        if req.bits is not None:
            assert req.K is not None
            out[name] = rng.integers(0, req.K, size=req.shape, dtype=np.int64)
        elif req.dtype == "int64":
            (n,) = req.shape
            out[name] = rng.choice(10 * n + 10, size=n, replace=False).astype(np.int64) * 7 - 5
        else:
            out[name] = rng.standard_normal(req.shape).astype(np.float32)
    for name, shape in (dense or {"out.weight": (1, spec.d), "out.bias": (1,)}).items():
        out[f"dense.{name}"] = rng.standard_normal(shape).astype(np.float32)
    return out


def table(method: str, n: int = 10, d: int = 8) -> EmbeddingConfig:
    """A small table of each method, mgqe with two groups."""
    if method == "fe":
        return EmbeddingConfig.fe(n, d)
    if method == "lrf":
        return EmbeddingConfig.lrf(n, d, rank=3)
    if method == "sq":
        return EmbeddingConfig.sq(n, d, bits=5)
    if method == "dpq":
        return EmbeddingConfig.dpq(n, d, D=4, K=16)
    if method == "mgqe":
        return EmbeddingConfig.mgqe(n, d, [2, n], D=4, K=[16, 4])
    if method == "mgqe_unshared_k":
        return EmbeddingConfig.mgqe(n, d, [2, n], D=4, K=[16, 4], variant="unshared_k")
    if method == "mgqe_unshared_d":
        return EmbeddingConfig.mgqe(n, d, [2, n], D=[8, 2], K=1024, variant="unshared_d")
    raise ValueError(method)


METHODS = ["fe", "lrf", "sq", "dpq", "mgqe", "mgqe_unshared_k", "mgqe_unshared_d"]


def gmf_spec(method: str = "mgqe", n_users: int = 7, n_items: int = 10, d: int = 8) -> ModelSpec:
    return ModelSpec(
        model_type="gmf",
        d=d,
        tables={"user": table(method, n_users, d), "item": table(method, n_items, d)},
        hparams={"task": "ranking"},
    )


def random_known(spec: ModelSpec, seed: int = 0, max_per_user: int = 4) -> dict[str, np.ndarray]:
    """known.indptr (n_users + 1,) int64 / known.items (nnz,) int64: 0..max_per_user distinct items per
    user (some users have none)."""
    rng = np.random.default_rng(seed)
    n_items = spec.tables["item"].n
    per_user = [np.sort(rng.choice(n_items, size=int(rng.integers(0, max_per_user + 1)), replace=False))
                for _ in range(spec.tables["user"].n)]
    indptr = np.concatenate([[0], np.cumsum([len(p) for p in per_user])]).astype(np.int64)
    return {"known.indptr": indptr, "known.items": np.concatenate(per_user).astype(np.int64)}
