"""Tables of every method: decode matches the writer's arrays, ADC inner products match decode + matmul."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from artifact_factory import table_arrays, table_config, write_model
from mgqe.proto.artifact import read_artifact
from mgqe.proto.config import EmbeddingConfig
from mgqe.server.decode import PQTable, TableError, build_table

METHODS = ["fe", "lrf", "sq", "dpq", "mgqe", "mgqe_unshared_d", "mgqe_odd"]


def reference_table(method: str, cfg, arrays: dict[str, np.ndarray]) -> np.ndarray:
    """Decode the full (n, d) table straight from config.py's formulas (independent of server code)."""
    if method == "fe":
        return arrays["item.weight"]
    if method == "lrf":
        return arrays["item.A"] @ arrays["item.B"]
    if method == "sq":
        lo, hi = arrays["item.lo"], arrays["item.hi"]
        return lo + arrays["item.codes"].astype(np.float32) * (hi - lo) / np.float32(255)
    rows = []
    for i, g in enumerate(cfg.groups):
        C = arrays["item.centroids"][:, : g.K] if cfg.shared else arrays[f"item.centroids.g{i}"]
        codes = arrays[f"item.codes.g{i}"]
        rows.append(np.concatenate([C[j][codes[:, j]] for j in range(g.D)], axis=1))
    return np.concatenate(rows)


@pytest.mark.parametrize("method", METHODS)
def test_decode_and_inner_match_reference(method: str, tmp_path: Path) -> None:
    path = write_model(tmp_path / "m.mgqe", "relevance", method, n_items=500)
    art = read_artifact(path)
    cfg = art.spec.tables["item"]
    table = build_table("item", cfg, art.arrays)
    ref = reference_table(method, cfg, art.arrays)
    rows = np.array([0, 1, 49, 50, 51, 499, 7])
    np.testing.assert_allclose(table.decode(rows), ref[rows], rtol=1e-6, atol=1e-6)
    for one_group in ([3, 1], [60, 499, 70]):  # rows of a single group take a shortcut in PQTable.decode
        np.testing.assert_allclose(table.decode(np.array(one_group)), ref[one_group], rtol=1e-6, atol=1e-6)
    Q = np.random.default_rng(1).normal(size=(3, cfg.d)).astype(np.float32)
    np.testing.assert_allclose(table.inner(Q), Q @ ref.T, rtol=1e-4, atol=1e-4)


def test_pq_table_is_smaller_than_float_table(tmp_path: Path) -> None:
    path = write_model(tmp_path / "m.mgqe", "relevance", "mgqe", n_items=20_000)
    art = read_artifact(path)
    table = build_table("item", art.spec.tables["item"], art.arrays)
    assert isinstance(table, PQTable)
    head, tail = table.groups  # D = 8; head K = 256 (2,000 rows), tail K = 64 (18,000 rows)
    assert not head.pairs and head.codes.shape == (8, 2_000)  # 256 * 256 pair tables: too big for cache
    assert tail.pairs and tail.codes.shape == (4, 18_000)  # 4 pair tables of 64 * 64
    codes = sum(g.codes.nbytes for g in table.groups)
    assert codes == 2 * (2_000 * 8 + 18_000 * 4)  # uint16: 2 bytes per subspace or per pair
    assert table.nbytes < 0.2 * 20_000 * 16 * 4


def test_missing_array_named() -> None:
    cfg = table_config("mgqe", 100, 16)
    arrays = table_arrays("item", cfg, np.random.default_rng(0))
    del arrays["item.codes.g1"]
    with pytest.raises(TableError, match=r"missing array 'item.codes.g1'"):
        build_table("item", cfg, arrays)


def test_wrong_shape_named() -> None:
    cfg = table_config("fe", 100, 16)
    with pytest.raises(TableError, match=r"'item.weight' has shape \(100, 8\)"):
        build_table("item", cfg, {"item.weight": np.zeros((100, 8), np.float32)})


def test_code_out_of_range_named() -> None:
    cfg = table_config("mgqe", 100, 16)
    arrays = table_arrays("item", cfg, np.random.default_rng(0))
    arrays["item.codes.g1"][3, 2] = 64  # tail K is 64
    with pytest.raises(TableError, match=r"'item.codes.g1' holds a code >= K=64"):
        build_table("item", cfg, arrays)


def test_non_finite_named() -> None:
    cfg = table_config("fe", 10, 4)
    w = np.zeros((10, 4), np.float32)
    w[2, 1] = np.nan
    with pytest.raises(TableError, match=r"'item.weight' holds non-finite"):
        build_table("item", cfg, {"item.weight": w})


@pytest.mark.parametrize(("n", "d", "D", "K"), [(100, 6, 3, 4), (3000, 16, 8, 16), (300, 8, 4, 64)])
def test_pair_layout_decode_and_inner(n: int, d: int, D: int, K: int) -> None:
    """Groups with pair codes (odd D included) and single codes (too few rows for K * K) decode alike."""
    cfg = EmbeddingConfig.dpq(n, d, D=D, K=K)
    arrays = table_arrays("item", cfg, np.random.default_rng(n))
    table = build_table("item", cfg, arrays)
    assert isinstance(table, PQTable)
    assert table.groups[0].pairs == (2 * n >= K * K)
    ref = reference_table("dpq", cfg, arrays)
    np.testing.assert_allclose(table.decode(np.arange(n)), ref, rtol=1e-6, atol=1e-6)
    q = np.random.default_rng(0).normal(size=(2, d)).astype(np.float32)
    np.testing.assert_allclose(table.inner(q), q @ ref.T, rtol=1e-4, atol=1e-4)
