"""The tests' one factory of random valid models, built through the real code (mgqe.proto.config,
mgqe.proto.artifact.write_artifact), at two scales:

- tiny (proto tests; n ~ 10, d = 8): `tiny_table`, `gmf_spec`, and `random_arrays` / `random_known` for any
  spec, so format tests see every method and bit width in a few bytes.
- ml-100k sized (server and reliability tests; 943 users, 1,682 items, d = 16 unless a test asks for less):
  `table_config`, `table_arrays`, `write_model`; weights are random but seeded, ids are shuffled
  MovieLens-like external ids so an internal row never equals its external id by accident.

It lives in tests/server because bench/ scripts put this folder on sys.path; pyproject's pytest `pythonpath`
puts it there for every test folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mgqe.proto.artifact import required_arrays, write_artifact
from mgqe.proto.config import EmbeddingConfig, ModelSpec
from mgqe.server import nn

N_USERS, N_ITEMS, D = 943, 1682, 16
HPARAMS: dict[str, dict] = {
    "gmf": {"task": "ranking"},
    "neumf": {"mlp": [16, 8, 4]},
    "sasrec": {"max_len": 10, "n_blocks": 2, "n_heads": 2},
    "relevance": {},
}

# Per test method: keyword arguments of EmbeddingConfig.<method up to the first "_"> at the (tiny, ml-100k)
# scale, None where that scale has no such table. mgqe tables also get two groups: bounds [head, n].
TABLE_ARGS: dict[str, tuple[dict[str, Any] | None, dict[str, Any] | None]] = {
    "fe": ({}, {}),
    "lrf": ({"rank": 3}, {"rank": 4}),
    "sq": ({"bits": 5}, {"bits": 8}),  # ml-100k: table_arrays draws codes in [0, 256)
    "dpq": ({"D": 4, "K": 16}, {"D": 8, "K": 16}),
    "mgqe": ({"D": 4, "K": [16, 4]}, {"D": 8, "K": [256, 64]}),
    "mgqe_unshared_k": ({"D": 4, "K": [16, 4], "variant": "unshared_k"}, None),
    "mgqe_unshared_d": (
        {"D": [8, 2], "K": 1024, "variant": "unshared_d"},  # K = 1024: 10-bit codes
        {"D": [8, 4], "K": 16, "variant": "unshared_d"},
    ),
    # odd D: one single-code table after the pairs
    "mgqe_odd": (None, {"D": [4, 4], "K": [512, 32], "variant": "unshared_k"}),
}
METHODS = [m for m, (tiny, _) in TABLE_ARGS.items() if tiny is not None]  # the tiny-scale methods


def table_config(method: str, n: int, d: int, *, tiny: bool = False) -> EmbeddingConfig:
    """One table of `method` (a TABLE_ARGS key), ml-100k scale or tiny; mgqe head: n // 10 or 2 rows."""
    kw = TABLE_ARGS[method][0 if tiny else 1]
    if kw is None:
        raise ValueError(f"no {'tiny' if tiny else 'ml-100k'} table of method {method!r}")
    if method.startswith("mgqe"):
        kw = {"bounds": [2 if tiny else n // 10, n], **kw}
    return getattr(EmbeddingConfig, method.partition("_")[0])(n, d, **kw)  # type: ignore[no-any-return]


def tiny_table(method: str, n: int = 10, d: int = 8) -> EmbeddingConfig:
    """A small table of each METHODS entry, mgqe with two groups (head: 2 rows)."""
    return table_config(method, n, d, tiny=True)


def gmf_spec(method: str = "mgqe", n_users: int = 7, n_items: int = 10, d: int = 8) -> ModelSpec:
    return ModelSpec(
        model_type="gmf",
        d=d,
        tables={"user": tiny_table(method, n_users, d), "item": tiny_table(method, n_items, d)},
        hparams={"task": "ranking"},
    )


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


def random_known(spec: ModelSpec, seed: int = 0, max_per_user: int = 4) -> dict[str, np.ndarray]:
    """known.indptr (n_users + 1,) int64 / known.items (nnz,) int64: 0..max_per_user distinct items per
    user (some users have none)."""
    rng = np.random.default_rng(seed)
    n_items = spec.tables["item"].n
    per_user = [np.sort(rng.choice(n_items, size=int(rng.integers(0, max_per_user + 1)), replace=False))
                for _ in range(spec.tables["user"].n)]
    indptr = np.concatenate([[0], np.cumsum([len(p) for p in per_user])]).astype(np.int64)
    return {"known.indptr": indptr, "known.items": np.concatenate(per_user).astype(np.int64)}


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
