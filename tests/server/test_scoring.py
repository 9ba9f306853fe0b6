"""scoring.py: exact top-k (sampled-threshold path and plain path), exclusions, ADC scan vs decode."""

from __future__ import annotations

import numpy as np
import pytest

from mgqe.server.decode import _layout
from mgqe.server.scoring import (
    _THRESHOLD_MIN_N,
    SCAN_CHUNK,
    adc_scan,
    lookup_table,
    pq_luts,
    sample_stride,
    topk,
)


def reference_topk(s: np.ndarray, k: int, exclude: list[int]) -> list[int]:
    s = s.astype(np.float64).copy()
    s[exclude] = -np.inf
    order = sorted(range(len(s)), key=lambda i: (-s[i], i))
    return [i for i in order if np.isfinite(s[i])][:k]


@pytest.mark.parametrize("n", [5, 1000, _THRESHOLD_MIN_N * 4 + 3])
@pytest.mark.parametrize("k", [1, 10, 100])
def test_topk_exact(n: int, k: int) -> None:
    rng = np.random.default_rng(n + k)
    s = rng.normal(size=n).astype(np.float32)
    exclude = rng.choice(n, size=min(3, n - 1), replace=False).tolist()
    rows, vals = topk(s.copy(), k, np.array(exclude, dtype=np.int64))
    assert rows.tolist() == reference_topk(s, k, exclude)
    np.testing.assert_array_equal(vals, s[rows])


def test_topk_ties_deterministic() -> None:
    s = np.zeros(_THRESHOLD_MIN_N * 2, np.float32)  # every score equal: the threshold admits everything
    rows, _ = topk(s, 5)
    assert rows.tolist() == [0, 1, 2, 3, 4]


def test_topk_too_few_candidates_falls_back() -> None:
    """Only sampled rows score above 0, so fewer than k rows pass the sampled threshold: the full
    argpartition fallback must still give the exact answer (then ties at 0 by smallest id)."""
    n = _THRESHOLD_MIN_N * 8  # a stride > 8, so only ~k/2 sampled rows pass the threshold
    s = np.zeros(n, np.float32)
    sampled = np.arange(0, n, sample_stride(n))
    s[sampled] = np.arange(1, sampled.size + 1, dtype=np.float32)
    rows, _ = topk(s.copy(), 100)
    assert rows.tolist() == reference_topk(s, 100, [])


def test_topk_everything_excluded() -> None:
    rows, vals = topk(np.ones(4, np.float32), 3, np.arange(4))
    assert rows.size == 0 and vals.size == 0


@pytest.mark.parametrize(
    ("D", "K", "n", "pairs", "dtype"),
    [
        (8, 16, 2000, True, np.uint16),
        (5, 8, 2000, True, np.uint16),
        (4, 1024, 2000, False, np.uint16),
        (8, 256, 500, False, np.uint16),
        (64, 2048, 50, False, np.uint32),
        (4, 16, SCAN_CHUNK + 1000, True, np.uint16),  # more rows than one chunk: the chunked loop
    ],
)
def test_adc_scan_matches_decode(D: int, K: int, n: int, pairs: bool, dtype: type) -> None:
    """The load-time layout (pair or single codes, offsets baked in) and the scan give X @ q."""
    rng = np.random.default_rng(D)
    dsub = 3
    C = rng.normal(size=(D, K, dsub)).astype(np.float32)
    codes = rng.integers(0, K, (n, D))
    q = rng.normal(size=D * dsub).astype(np.float32)
    X = np.concatenate([C[j][codes[:, j]] for j in range(D)], axis=1)
    layout, _, got_pairs = _layout(codes, K)
    assert got_pairs == pairs and layout.dtype == dtype
    out = np.empty(n, np.float32)
    adc_scan(pq_luts(lookup_table(C, q), pairs), layout, out)
    np.testing.assert_allclose(out, X @ q, rtol=1e-4, atol=1e-4)
