"""Artifacts for the server tests, written through the real writer (mgqe.proto.artifact.write_artifact).

Sizes follow ml-100k (943 users, 1,682 items) unless a test asks for less; weights are random but seeded,
ids are shuffled MovieLens-like external ids so an internal row never equals its external id by accident.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mgqe.proto.artifact import write_artifact
from mgqe.proto.config import EmbeddingConfig, ModelSpec
from mgqe.server import nn

N_USERS, N_ITEMS, D = 943, 1682, 16
HPARAMS: dict[str, dict] = {
    "gmf": {"task": "ranking"},
    "neumf": {"mlp": [16, 8, 4]},
    "sasrec": {"max_len": 10, "n_blocks": 2, "n_heads": 2},
    "relevance": {},
}


def table_config(method: str, n: int, d: int) -> EmbeddingConfig:
    if method == "fe":
        return EmbeddingConfig.fe(n, d)
    if method == "lrf":
        return EmbeddingConfig.lrf(n, d, rank=4)
    if method == "sq":
        return EmbeddingConfig.sq(n, d, bits=8)
    if method == "dpq":
        return EmbeddingConfig.dpq(n, d, D=8, K=16)
    if method == "mgqe_unshared_d":
        return EmbeddingConfig.mgqe(n, d, bounds=[n // 10, n], D=[8, 4], K=16, variant="unshared_d")
    if method == "mgqe_odd":  # odd D: one single-code table after the pairs
        return EmbeddingConfig.mgqe(n, d, bounds=[n // 10, n], D=[4, 4], K=[512, 32], variant="unshared_k")
    assert method == "mgqe"
    return EmbeddingConfig.mgqe(n, d, bounds=[n // 10, n], D=8, K=[256, 64])


def table_arrays(name: str, cfg: EmbeddingConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n, d = cfg.n, cfg.d
    if cfg.method == "fe":
        return {f"{name}.weight": rng.normal(0, 0.3, (n, d)).astype(np.float32)}
    if cfg.method == "lrf":
        r = cfg.rank or 1
        return {
            f"{name}.A": rng.normal(0, 0.5, (n, r)).astype(np.float32),
            f"{name}.B": rng.normal(0, 0.5, (r, d)).astype(np.float32),
        }
    if cfg.method == "sq":
        lo = rng.uniform(-1, -0.5, d).astype(np.float32)
        return {
            f"{name}.codes": rng.integers(0, 256, (n, d), dtype=np.uint8),
            f"{name}.lo": lo,
            f"{name}.hi": (lo + rng.uniform(0.5, 1.5, d)).astype(np.float32),
        }
    out: dict[str, np.ndarray] = {}
    for i, g in enumerate(cfg.groups):
        dtype = np.uint16 if g.K > 256 else np.uint8
        out[f"{name}.codes.g{i}"] = rng.integers(0, g.K, (g.size, g.D)).astype(dtype)
        if not cfg.shared:
            out[f"{name}.centroids.g{i}"] = rng.normal(0, 0.3, (g.D, g.K, d // g.D)).astype(np.float32)
    if cfg.shared:
        D0 = cfg.groups[0].D
        out[f"{name}.centroids"] = rng.normal(0, 0.3, (D0, cfg.K_max, d // D0)).astype(np.float32)
    return out


def write_model(
    path: Path,
    model_type: str = "gmf",
    method: str = "mgqe",
    *,
    n_users: int = N_USERS,
    n_items: int = N_ITEMS,
    d: int = D,
    seed: int = 0,
    extra: dict[str, np.ndarray] | None = None,
) -> Path:
    """Write a random-weight artifact of `model_type` whose tables use `method`; returns path.
    extra: more arrays to store (e.g. known.indptr / known.items); the same seed gives the same weights."""
    rng = np.random.default_rng(seed)
    sizes = {"item": n_items} if model_type in ("sasrec", "relevance") else {"user": n_users, "item": n_items}
    tables = {t: table_config(method, n, d) for t, n in sizes.items()}
    spec = ModelSpec(model_type=model_type, d=d, tables=tables, hparams=HPARAMS[model_type])  # type: ignore[arg-type]
    arrays: dict[str, np.ndarray] = {}
    for t, cfg in tables.items():
        arrays |= table_arrays(t, cfg, rng)
        # external ids: a shuffled sparse range, like MovieLens ids after popularity ordering
        arrays[f"vocab.{t}"] = (rng.permutation(cfg.n) * 3 + 7).astype(np.int64)
    for key, shape in nn.dense_shapes(model_type, d, spec.hparams).items():
        scale = 1.0 if "ln" in key and key.endswith(".weight") else 0.3  # LayerNorm gains near 1
        arrays[f"dense.{key}"] = rng.normal(0, scale, shape).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_artifact(
        path, spec, arrays | (extra or {}),
        metrics={"hr@10": 0.5}, provenance={"source": "tests/server random"},
    )
    return path
