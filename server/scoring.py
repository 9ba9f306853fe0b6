"""Scoring engine primitives: ADC lookup tables over product-quantised codes and exact partial-sort top-k.

ADC (asymmetric distance computation): for a query q split into D subspaces q_j, LUT[j, k] = C[j, k] · q_j,
so q · decode(row) = sum_j LUT[j, code[row, j]] costs D table gathers per row instead of a decode and a dot.
`pq_luts` fuses the tables of neighbouring subspaces into pair tables (see decode.py) and concatenates them,
`adc_scan` gathers.

Top-k over n scores: `np.argpartition` over 1M floats costs about as much as the scan itself. `topk` instead
takes a threshold from a strided sample (the m-th largest sample value, m chosen so ~8k rows are expected to
pass), keeps the rows at or above it with one vectorised comparison and partial-sorts only those. The result
is exact: when fewer than k rows pass, it falls back to a full argpartition.
"""

from __future__ import annotations

import math

import numpy as np

# Rows per ADC chunk: (P, 16k) indices and gathered floats stay in L2 (fastest of 4k..64k rows on 1M rows).
SCAN_CHUNK = 1 << 14
# Below this many rows the sampled threshold does not pay off.
_THRESHOLD_MIN_N = 1 << 13
_SAMPLE = 4096  # at most; at least n / 8 rows are skipped between samples
_OVERSAMPLE = 8


def pq_luts(centroids: np.ndarray, q: np.ndarray, pairs: bool) -> tuple[np.ndarray, np.ndarray]:
    """Lookup tables of one query for one group of PQ codes, concatenated into one flat array.

    centroids (D, K, dsub) float32, q (D * dsub,) float32. Returns (flat tables float32, offsets (P, 1) intp)
    where code row p looks up flat[offsets[p] + code]. Without pairs P = D and table j is LUT[j] (K,); with
    pairs P = ceil(D / 2) and table p is (K * K,) with entry a * K + b = LUT[2p, a] + LUT[2p + 1, b] (the
    last one a single (K,) table when D is odd).
    """
    D, K, dsub = centroids.shape
    lut = np.einsum("jks,js->jk", centroids, q.reshape(D, dsub), dtype=np.float32)
    if not pairs:
        return lut.ravel(), (np.arange(D, dtype=np.intp) * K)[:, None]
    full = D // 2
    tables = (lut[0 : 2 * full : 2, :, None] + lut[1 : 2 * full : 2, None, :]).reshape(full, K * K)
    offsets = np.arange(full + D % 2, dtype=np.intp) * (K * K)
    flat = np.concatenate([tables.ravel(), lut[-1]]) if D % 2 else tables.ravel()
    return flat, offsets[:, None]


def adc_scan(luts: tuple[np.ndarray, np.ndarray], codes: np.ndarray, out: np.ndarray) -> None:
    """out[r] = sum_p flat[offsets[p] + codes[p, r]].  codes (P, size) uint8/uint16, out (size,) float32.

    Offsets are intp so `codes + offsets` already is the index array np.take wants (no cast pass).
    One gather and one column sum per SCAN_CHUNK rows: few NumPy calls per query (small tables are bound
    by call overhead) and (P, chunk) temporaries that stay in cache (large tables are bound by the gather).
    """
    flat, offsets = luts
    size = codes.shape[1]
    for s in range(0, size, SCAN_CHUNK):
        e = min(size, s + SCAN_CHUNK)
        np.take(flat, codes[:, s:e] + offsets).sum(axis=0, out=out[s:e])


def _sorted_desc(idx: np.ndarray, vals: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best of (idx, vals) by score descending, ties by index ascending (deterministic).

    idx must be ascending (both callers pass np.flatnonzero or np.arange), so among rows tied with the k-th
    score the first ones by position are the smallest ids.
    """
    if idx.size > k:
        kth = -np.partition(-vals, k - 1)[k - 1]
        above = np.flatnonzero(vals > kth)
        tied = np.flatnonzero(vals == kth)[: k - above.size]
        sel = np.concatenate([above, tied])
        idx, vals = idx[sel], vals[sel]
    order = np.lexsort((idx, -vals))
    return idx[order], vals[order]


def sample_stride(n: int) -> int:
    """Rows between two threshold samples: ~_SAMPLE samples, never more than n / 8."""
    return max(8, n // _SAMPLE)


def topk(scores: np.ndarray, k: int, exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of one score vector.

    scores (n,) float32 (overwritten at `exclude`), exclude (e,) int64 row ids never returned.
    Returns (rows (k',) int64, scores (k',) float32), k' = min(k, rows left), best first.
    """
    n = scores.shape[0]
    n_left = n
    if exclude is not None and exclude.size:
        exclude = np.unique(exclude)
        scores[exclude] = -np.inf
        n_left = n - exclude.size
    k = min(k, n_left)
    if k <= 0:
        return np.empty(0, np.int64), np.empty(0, np.float32)
    if n >= _THRESHOLD_MIN_N:
        stride = sample_stride(n)
        sample = scores[::stride]
        m = min(sample.size, math.ceil(_OVERSAMPLE * k * sample.size / n) + 1)
        thr = np.partition(sample, sample.size - m)[sample.size - m]
        cand = np.flatnonzero(scores >= thr)
        if cand.size >= k and np.isfinite(thr):
            return _sorted_desc(cand, scores[cand], k)
    rows = np.arange(n, dtype=np.int64)
    return _sorted_desc(rows, scores, k)
