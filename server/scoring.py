"""Scoring engine primitives: ADC lookup tables over product-quantised codes and exact partial-sort top-k.

ADC (asymmetric distance computation): for a query q split into D subspaces q_j, LUT[j, k] = C[j, k] · q_j,
so q · decode(row) = sum_j LUT[j, code[row, j]] costs D table gathers per row instead of a decode and a dot.
`lookup_table` computes LUT (once per query and centroid table: MGQE groups with shared centroids slice one),
`pq_luts` fuses neighbouring subspaces into pair tables (see decode.py) and concatenates them, `adc_scan`
gathers.

Top-k over n scores: `np.argpartition` over 1M floats costs about as much as the scan itself. `topk` instead
takes a threshold from a strided sample (the m-th largest sample value, m chosen so ~8k rows are expected to
pass), keeps the rows at or above it with one vectorised comparison and partial-sorts only those. The result
is exact: when fewer than k rows pass, it falls back to a full argpartition.
"""

from __future__ import annotations

import math
import threading

import numpy as np

# Rows per ADC chunk: (P, 16k) indices and gathered floats stay in L2 (fastest of 4k..64k rows on 1M rows).
SCAN_CHUNK = 1 << 14
# Below this many rows the sampled threshold does not pay off.
_THRESHOLD_MIN_N = 1 << 13
_SAMPLE = 4096  # at most; at least 32 rows are skipped between samples
_OVERSAMPLE = 8
# Up to this many candidates one lexsort is cheaper than partitioning first (NumPy call overhead dominates).
_SORT_ALL = 1024

_tls = threading.local()  # per-thread scratch buffers (scans run on the event loop or in worker threads)


def lookup_table(centroids: np.ndarray, q: np.ndarray) -> np.ndarray:
    """LUT[j, k] = C[j, k] · q_j.  centroids (D, K, dsub) float32, q (D * dsub,) -> (D, K) float32.

    A batched matmul: ~6x faster than the equivalent einsum at these sizes.
    """
    D, K, dsub = centroids.shape
    return np.matmul(centroids, q.reshape(D, dsub, 1)).reshape(D, K)


def pq_luts(lut: np.ndarray, pairs: bool) -> np.ndarray:
    """One group's lookup tables concatenated into one flat float32 array, from its (D, K) LUT.

    Without pairs: D tables LUT[j] (K,). With pairs: D // 2 tables of K * K entries, entry a * K + b =
    LUT[2p, a] + LUT[2p + 1, b], then LUT[D - 1] when D is odd. The codes of decode.PQGroup index this
    array directly (offsets included). With pairs the result is a per-thread scratch buffer, valid until
    the next pq_luts call on the same thread (the scan consumes it at once).

    The pair sums are one batched matmul [LUT[2p], 1] @ [1; LUT[2p + 1]] (products by 1 are exact, so each
    entry is the single rounding of the sum, as a direct add): ~2x faster than the broadcast add
    lut[even, :, None] + lut[odd, None, :], whose (K,)-long inner loops are bound by iterator overhead.
    """
    D, K = lut.shape
    if not pairs:
        return lut.ravel()
    full = D // 2
    left, right, flat = _pair_scratch(full, K, D % 2)
    left[:, :, 0] = lut[0 : 2 * full : 2]
    right[:, 1, :] = lut[1 : 2 * full : 2]
    np.matmul(left, right, out=flat[: full * K * K].reshape(full, K, K))
    if D % 2:
        flat[full * K * K :] = lut[-1]
    return flat


def _pair_scratch(full: int, K: int, odd: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-thread matmul operands (full, K, 2) and (full, 2, K) (their constant ones column / row set once)
    and the flat (full * K * K + odd * K,) float32 output of pq_luts, cached per layout."""
    cache: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] | None = getattr(
        _tls, "pairs", None
    )
    if cache is None:
        cache = _tls.pairs = {}
    bufs = cache.get((full, K, odd))
    if bufs is None:
        left = np.ones((full, K, 2), np.float32)
        right = np.ones((full, 2, K), np.float32)
        bufs = cache[(full, K, odd)] = (left, right, np.empty(full * K * K + odd * K, np.float32))
    return bufs


def adc_scan(flat: np.ndarray, codes: np.ndarray, out: np.ndarray) -> None:
    """out[r] = sum_p flat[codes[p, r]].  flat from pq_luts, codes (P, size) uint16/uint32, out (size,) f32.

    One gather and one column sum per SCAN_CHUNK rows: few NumPy calls per query (small tables are bound by
    call overhead) and (P, chunk) temporaries that stay in cache (large tables are bound by the gather).
    mode="wrap" skips np.take's bounds-error path (codes were range-checked at load, so nothing wraps); it
    is ~20% faster than mode="clip" on uint16 codes (NumPy 2.4, measured on the benchmark's tables).
    """
    P, size = codes.shape
    buf = _scratch(P * min(size, SCAN_CHUNK))
    if size <= SCAN_CHUNK:  # a small table (the common served model): no chunk views
        g = buf.reshape(P, size)
        flat.take(codes, out=g, mode="wrap")  # methods, not np.take / ndarray.sum: no Python wrappers
        _add_reduce(g, axis=0, out=out)
        return
    for s in range(0, size, SCAN_CHUNK):
        e = min(size, s + SCAN_CHUNK)
        g = buf[: P * (e - s)].reshape(P, e - s)
        flat.take(codes[:, s:e], out=g, mode="wrap")
        _add_reduce(g, axis=0, out=out[s:e])


_add_reduce = np.add.reduce


def _scratch(n: int) -> np.ndarray:
    """A per-thread float32 buffer of at least n entries, reused across queries: a fresh (P, chunk) array
    per scan is a fresh mmap (above glibc's threshold) whose page faults cost as much as a small scan."""
    buf: np.ndarray | None = getattr(_tls, "buf", None)
    if buf is None or buf.size < n:
        buf = _tls.buf = np.empty(n, np.float32)
    return buf[:n]


def _sorted_desc(idx: np.ndarray, vals: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best of (idx, vals) by score descending, ties by index ascending (deterministic).

    idx must be ascending (both callers pass np.flatnonzero or np.arange), so among rows tied with the k-th
    score the first ones by position are the smallest ids.
    """
    if idx.size <= _SORT_ALL:  # few candidates: one sort beats partition + selection calls
        order = np.lexsort((idx, -vals))[:k]
        return idx[order], vals[order]
    if idx.size > k:
        kth = -np.partition(-vals, k - 1)[k - 1]
        above = np.flatnonzero(vals > kth)
        tied = np.flatnonzero(vals == kth)[: k - above.size]
        sel = np.concatenate([above, tied])
        idx, vals = idx[sel], vals[sel]
    order = np.lexsort((idx, -vals))
    return idx[order], vals[order]


def sample_stride(n: int) -> int:
    """Rows between two threshold samples: ~_SAMPLE samples, never more than n / 32. On 10k rows the
    partition of the sample is the top-k's largest cost; n / 32 samples (313) still admit ~8 * k candidates
    (~100 rows for k = 10) and cut the top-k by ~25% against n / 8 (interleaved timing)."""
    return max(32, n // _SAMPLE)


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
        cand = (scores >= thr).nonzero()[0]  # np.flatnonzero adds two Python-level calls
        if cand.size >= k and math.isfinite(thr):
            return _sorted_desc(cand, scores[cand], k)
    rows = np.arange(n, dtype=np.int64)
    return _sorted_desc(rows, scores, k)
