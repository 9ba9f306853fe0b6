"""CPU kernels (numba) of the fused train-mode lookup; mostly for the paper's default quantizer shape dsub = 1
(D = d): each of the D coordinates of a row is quantized to the nearest of K scalars of its subspace.

Why a compiled kernel: with torch ops a GMF training step at batch 8192 spent about 6x the full-embedding step
in `searchsorted`, `unique`, `index_put` and the straight-through bookkeeping (docs/bench-lookup.md). Here one
pass over the batch does the nearest-centroid search, the code-buffer update and the decode, and the backward
is the full-embedding gradient plus one scatter into the small centroid table.

The rule matches `quantizer.nearest_centroid` exactly (same codes, ties included): sort each subspace's K
centroids (stable), take the K - 1 midpoints of neighbours in float64 (exact for float32 inputs), and the code
is the centroid at sorted position #(midpoints < x). Shapes: D subspaces, K centroids, b rows, B lookups.

For dsub = d / D > 1 (the end of this file) the search is brute force over the batch's distinct rows in
float32 direct distances (`search_sub`, its rule stated there): the same codes as torch's float32 baddbmm
except at near-ties, ~10x less time per GMF step than that torch search (docs/bench-lookup.md).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Cells of the uniform grid per subspace, per power-of-two slot of the midpoint table (see search_tables).
GRID_PER_SLOT = 4


@njit(cache=True, nogil=True)
def search_tables(c: np.ndarray, perm: np.ndarray, cells: int = -1) -> tuple:
    """Sort each subspace's centroids and build what the search needs.

    c (D, K) float32 centroids; perm (D, K) int64 a permutation of 0..K-1 per row, re-sorted in place by
    (value, index), which is the order of a stable argsort, so the codes never depend on the starting order.
    Insertion sort, O(K) per row when perm is already nearly sorted. (The training step sorts with
    `sorted_tables` instead, which needs no starting order.) Returns `build_tables(c, perm, cells)`.
    """
    D, K = c.shape
    for j in range(D):
        p = perm[j]
        cj = c[j]
        for t in range(1, K):
            q = p[t]
            v = cj[q]
            s = t - 1
            while s >= 0 and (cj[p[s]] > v or (cj[p[s]] == v and p[s] > q)):
                p[s + 1] = p[s]
                s -= 1
            p[s + 1] = q
    return build_tables(c, perm, cells)


@njit(cache=True, nogil=True)
def build_tables(c: np.ndarray, perm: np.ndarray, cells: int = -1) -> tuple:
    """The search tables of centroids c (D, K) float32 whose stable argsort (by (value, index)) is perm (D, K)
    int64 (not checked).

    Returns the tuple (mids, first, lo, scale, R):
    - mids (D, P) float64: the K - 1 midpoints of sorted neighbours, +inf-padded to P = the smallest power of
      two >= K; code = perm[j, #(mids[j] < x)].
    - first (D, G) int32: a uniform grid of G cells over [lo_j, last midpoint]; the number
      of midpoints in the cells before cell g (cells by `_cell`, the same float ops as for x), so for x in
      cell g the count lies in first[j, g] + [0, R_j].
    - lo, scale (D,) float64: the grid's origin and cells per unit; R (D,) int64: most midpoints in a cell.
    cells: G, the grid's cells per subspace; -1 = GRID_PER_SLOT * P; 0 skips the grid (R = P, so the search
    falls back to binary search): building it costs about one write per cell and subspace, which only pays off
    when enough rows are searched (`grid_cells`). Any G gives the same codes (the grid only narrows a search).
    """
    D, K = c.shape
    P = 1
    while P < K:
        P *= 2
    grid = cells != 0
    G = (GRID_PER_SLOT * P if cells < 0 else cells) if grid else 1
    mids = np.full((D, P), np.inf)
    first = np.empty((D, G), np.int32)
    lo = np.zeros(D)
    scale = np.zeros(D)
    R = np.full(D, 0 if grid else P, np.int64)
    occ = np.zeros(G, np.int32)  # midpoints per cell of one subspace
    for j in range(D):
        p = perm[j]
        cj = c[j]
        m = mids[j]
        a = np.float64(cj[p[0]]) if K > 0 else 0.0
        for t in range(K - 1):
            b = np.float64(cj[p[t + 1]])
            m[t] = (a + b) * 0.5
            a = b
        if K < 2 or not grid:
            continue
        lj = m[0]
        span = m[K - 2] - lj
        sj = G / span if span > 0 else 0.0
        lo[j], scale[j] = lj, sj
        # first[j, g] = #midpoints in cells < g: count per cell, then a prefix sum; R = the fullest cell.
        # Locals (lj, sj, Rj, o) instead of lo[j], R[j], ...: numba cannot tell that the int32 writes to f
        # do not alias them and would reload them every cell (this halved the grid's cost for K = 256).
        # (A one-pass merge of the sorted midpoints into the cells, with no counts, measured 2x slower: its
        # loop exits mispredict.)
        f = first[j]
        occ[:] = 0
        for t in range(K - 1):
            occ[_cell(m[t], lj, sj, G)] += 1
        acc, Rj = 0, 0
        for g in range(G):
            o = occ[g]
            f[g] = acc
            acc += o
            Rj = max(Rj, o)
        R[j] = Rj
    return mids, first, lo, scale, R


@njit(cache=True, nogil=True, inline="always")
def _cell(v: float, lo: float, scale: float, G: int) -> np.uint64:
    """Grid cell of v (float32 or float64, computed in float64): monotone non-decreasing in v (so a midpoint
    in an earlier cell is below every v of a later one); NaN and values below lo go to cell 0, values at or
    beyond the last midpoint to cell G - 1. Two selects instead of branches (the comparisons are false for
    NaN, which lands in cell 0); unsigned, so indexing with it skips numba's negative-index wraparound."""
    y: float = (np.float64(v) - lo) * scale  # np.float64 is a float; the selects below mix in 0.0
    y = y if y >= 0.0 else 0.0
    top = np.float64(G - 1)
    y = y if y < top else top  # y in [G - 1, G) truncates to G - 1 as before, so the cells are unchanged
    return np.uint64(y)


def grid_cells(rows: int, K: int) -> int:
    """Cells of the search grid over K centroids for searching `rows` rows: GRID_PER_SLOT * P, or 0 (no grid,
    binary search) where building it does not pay off. Measured on the 2-core benchmark VM (K = 64 and 256,
    search_tables + search together): the branch-free binary search costs 40-70 ns per coordinate, the grid
    search 5-15 ns, and building the grid 2-5 ns per cell, so the grid wins from about P / 2 rows on. (The
    threshold was 4P / 3 before: a 248-row head group of K = 256 stayed on binary search at ~2.5x the cost.)
    """
    P = 1 << max(K - 1, 0).bit_length()
    return GRID_PER_SLOT * P if 2 * rows >= P else 0


def identity_perm(D: int, K: int) -> np.ndarray:
    """(D, K) int64 rows 0..K-1: a starting order for `search_tables`."""
    return np.tile(np.arange(K, dtype=np.int64), (D, 1))


def sorted_tables(c: np.ndarray, rows: int) -> tuple[np.ndarray, tuple]:
    """perm (D, K) int64, the stable argsort of centroids c (D, K) float32, and its search tables
    (`build_tables`) for searching `rows` rows.

    One numpy sort of int64 keys (value, index) (`sort_keys`): equal centroids come out in index order, as
    in a stable sort, with no tie pass afterwards. numpy sorts int64 with SIMD (about 0.04 ms for 64 x 256
    here, against 0.1 ms for argsort of the floats plus 0.1 ms for an insertion pass putting ties in index
    order); an insertion sort from the previous step's order was slower still (Adam moves centroids by many
    neighbour spacings per step)."""
    c = np.ascontiguousarray(c)
    keys = sort_keys(c)
    keys.sort(axis=1)
    perm = keys & np.int64(0xFFFFFFFF)  # the index half of each key
    return perm, build_tables(c, perm, grid_cells(rows, c.shape[1]))


@njit(cache=True, nogil=True)
def sort_keys(c: np.ndarray) -> np.ndarray:
    """(D, K) int64 keys of c (D, K) float32 whose ascending order is the stable argsort of each row:
    key = (monotone int32 image of the value) << 32 | index. The image: float32 bits, with the magnitude bits
    of negatives flipped so that signed order equals float order; -0.0 becomes +0.0 first (they compare
    equal, so the index must decide between them) and every NaN maps to the largest image (sorted last in
    index order, as torch's and numpy's stable sorts place NaNs)."""
    D, K = c.shape
    keys = np.empty((D, K), np.int64)
    ci = c.view(np.int32)  # the same memory as int32 bit patterns; c must be C-contiguous
    for j in range(D):
        cj = c[j]
        bj = ci[j]
        for t in range(K):
            b = bj[t]
            if cj[t] != cj[t]:
                b = np.int32(0x7FFFFFFF)
            elif b < 0:
                # flip the magnitude of negatives; -0.0 (0x80000000) would become -1, below +0.0: make it 0
                b = (b ^ np.int32(0x7FFFFFFF)) if b != np.int32(-0x80000000) else np.int32(0)
            keys[j, t] = (np.int64(b) << 32) | t
    return keys


@njit(cache=True, nogil=True)
def prefix_perm(perm: np.ndarray, K: int) -> np.ndarray:
    """The entries < K of each row of perm, in order: perm (D, K_max) int64 -> (D, K) int64.

    If perm is the stable argsort of c (D, K_max) (sorted by (value, index), as from `sorted_tables`),
    the result is the stable argsort of c[:, :K]: dropping entries keeps the (value, index) order of the rest.
    So a shared table's smaller groups get their order in O(K_max) from the largest group's sort."""
    D, Kmax = perm.shape
    out = np.empty((D, K), np.int64)
    buf = np.empty(Kmax, np.int64)
    for j in range(D):
        t = 0
        for q in perm[j]:  # branch-free: a kept/dropped branch would mispredict on most entries
            buf[t] = q
            t += q < K
        out[j] = buf[:K]
    return out


def prefix_tables(c: np.ndarray, full_perm: np.ndarray, K: int, rows: int) -> tuple[np.ndarray, tuple]:
    """`sorted_tables(c[:, :K], rows)` from the already sorted full_perm (D, K_max) of c (D, K_max) float32,
    without a sort (`prefix_perm`, O(K_max) per subspace)."""
    perm = prefix_perm(full_perm, K)
    return perm, build_tables(np.ascontiguousarray(c[:, :K]), perm, grid_cells(rows, K))


@njit(cache=True, nogil=True)
def _search_rows(x: np.ndarray, rows: np.ndarray, perm: np.ndarray, tables: tuple) -> np.ndarray:
    """codes[j, u] = nearest centroid of x[rows[u], j]: x (n, D) float32, rows (U,) int64, tables from
    `build_tables` and its perm -> codes (D, U) int32, subspace-major.

    Per subspace, four rows at a time with their positions in registers: the grid cell gives the count up
    to R_j, then R_j branch-free steps finish it. The rows' searches are independent, so the CPU overlaps
    their dependent loads. (The previous form ran each step over all rows in lockstep with the
    positions in memory: numba cannot tell that those stores do not alias the tables, so every step
    reloaded and stored each position; ~1.4x slower here.) Where the grid is too coarse (R_j + 1 >= log2 P
    steps) a branch-free binary search runs instead. Indices are unsigned so numba emits no negative-index
    wraparound. The rows are first copied subspace-major so each subspace reads contiguously."""
    mids, first, lo, scale, R = tables
    U = rows.shape[0]
    D = x.shape[1]
    P = mids.shape[1]
    G = first.shape[1]
    levels = 0
    while (1 << levels) < P:
        levels += 1
    # (D, U) the rows, subspace-major. float32 and int32 halve these temporaries (at batch 8192 they were ~1.6
    # MB of fresh pages per call); comparing a float32 with a float64 midpoint converts it exactly, so the
    # comparisons and codes are the same as in float64. (float32 thresholds, each midpoint rounded down,
    # give the same codes and saved ~2% of this search, but the rounding cost more than that in build_tables.)
    xt = np.empty((D, U), np.float32)
    for u in range(U):
        r = rows[u]
        for j in range(D):
            xt[j, u] = x[r, j]
    out = np.empty((D, U), np.int32)
    one = np.uint64(1)
    for j in range(D):
        m = mids[j]
        xv = xt[j]
        pos = out[j]
        pj = perm[j]
        Rj = R[j]
        if Rj + 1 < levels:
            f = first[j]
            lj, sj = lo[j], scale[j]
            # four rows at a time: their searches are independent chains, spelled out so they run
            # interleaved (~10% faster than one row per iteration here); then the remainder
            U4 = U - U % 4
            for u in range(0, U4, 4):
                v0, v1, v2, v3 = xv[u], xv[u + 1], xv[u + 2], xv[u + 3]
                p0 = np.uint64(f[_cell(v0, lj, sj, G)])
                p1 = np.uint64(f[_cell(v1, lj, sj, G)])
                p2 = np.uint64(f[_cell(v2, lj, sj, G)])
                p3 = np.uint64(f[_cell(v3, lj, sj, G)])
                for _ in range(Rj):
                    p0 += np.uint64(m[p0] < v0)
                    p1 += np.uint64(m[p1] < v1)
                    p2 += np.uint64(m[p2] < v2)
                    p3 += np.uint64(m[p3] < v3)
                pos[u] = pj[p0]
                pos[u + 1] = pj[p1]
                pos[u + 2] = pj[p2]
                pos[u + 3] = pj[p3]
            for u in range(U4, U):
                v = xv[u]
                p = np.uint64(f[_cell(v, lj, sj, G)])
                for _ in range(Rj):
                    p += np.uint64(m[p] < v)
                pos[u] = pj[p]
        else:
            half = np.uint64(P >> 1)
            for u in range(U):
                v = xv[u]
                p = np.uint64(0)
                step = half
                while step:
                    p += step * np.uint64(m[p + step - one] < v)
                    step >>= one  # slots 0..P-2 searched; slot P-1 is always +inf padding
                pos[u] = pj[p]
    return out


@njit(cache=True, nogil=True)
def nearest_rows(x: np.ndarray, perm: np.ndarray, tables: tuple) -> np.ndarray:
    """x (b, D) float32 -> codes (b, D) int64, the nearest centroid per coordinate (tables: search_tables)."""
    ct = _search_rows(x, np.arange(x.shape[0]), perm, tables)  # (D, b) int32
    out = np.empty((x.shape[0], x.shape[1]), np.int64)
    for u in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[u, j] = ct[j, u]
    return out


@njit(cache=True, nogil=True)
def unique_slots(
    ids: np.ndarray, starts: np.ndarray, mark: np.ndarray, stamp: int, slot: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deduplicate a batch and order it by group (Algorithm 1's split), in one pass per group.

    ids (B,) int64 in [0, n); starts (m + 1,) int64 group boundaries (starts[-1] = n); mark, slot (n,) int64
    scratch kept between calls (mark[r] == stamp: row r already has a slot in this call).
    Returns rows (U,) int64 the distinct ids grouped by group in first-seen order, bounds (m + 1,) int64 with
    group i's rows at rows[bounds[i]:bounds[i + 1]], and tslot (B,) int64 with rows[tslot[t]] == ids[t]."""
    B = ids.shape[0]
    m = starts.shape[0] - 1
    rows = np.empty(B, np.int64)
    bounds = np.zeros(m + 1, np.int64)
    tslot = np.empty(B, np.int64)
    U = 0
    for i in range(m):
        lo, hi = starts[i], starts[i + 1]
        for t in range(B):
            r = ids[t]
            if r < lo or r >= hi:
                continue
            if mark[r] != stamp:
                mark[r] = stamp
                slot[r] = U
                rows[U] = r
                U += 1
            tslot[t] = slot[r]
        bounds[i + 1] = U
    return rows[:U], bounds, tslot


@njit(cache=True, nogil=True)
def quantize_group(
    weight: np.ndarray, rows: np.ndarray, start: int, perm: np.ndarray, tables: tuple, table: np.ndarray,
    codes: np.ndarray, ucodes: np.ndarray, dec: np.ndarray,
) -> None:
    """Quantize one group's distinct rows, write them to its code buffer and decode them.

    weight (n, D) float32; rows (u,) int64 ids of the group; start its first id; perm and tables
    (sorted_tables / prefix_tables) over the K_i centroids it may use; table (D, K_t) float32 the table its
    codes index; codes (|V_i|, D) int16/int32 the group's buffer (updated at rows - start); ucodes (u, D)
    int32 and dec (u, D) float32 receive the codes and the decoded centroids."""
    ct = _search_rows(weight, rows, perm, tables)  # (D, u)
    U, D = ucodes.shape
    for u in range(U):
        k = rows[u] - start
        for j in range(D):
            c = ct[j, u]
            ucodes[u, j] = c
            codes[k, j] = c
            dec[u, j] = table[j, c]


@njit(cache=True, nogil=True)
def expand_rows(dec: np.ndarray, tslot: np.ndarray) -> np.ndarray:
    """out[t] = dec[tslot[t]]: (U, D) float32 -> (B, D) float32 (row copies)."""
    B = tslot.shape[0]
    D = dec.shape[1]
    out = np.empty((B, D), np.float32)
    for t in range(B):  # scalar loops: numba's row-slice assignment builds two array views per row
        r = tslot[t]
        for j in range(D):
            out[t, j] = dec[r, j]
    return out


@njit(cache=True, nogil=True)
def reduce_rows(grad: np.ndarray, tslot: np.ndarray, U: int) -> np.ndarray:
    """gu[u] = sum of grad[t] over t with tslot[t] == u: (B, D) float32 -> (U, D) float32."""
    D = grad.shape[1]
    gu = np.zeros((U, D), np.float32)
    for t in range(grad.shape[0]):  # ascending t per element: the same float32 sums as before, bit for bit
        r = tslot[t]
        for j in range(D):
            gu[r, j] += grad[t, j]
    return gu


@njit(cache=True, nogil=True)
def scatter_rows(gu: np.ndarray, rows: np.ndarray, out: np.ndarray) -> None:
    """out[rows[u]] = gu[u]: gu (U, D) float32, rows (U,) int64 distinct, out (n, D) float32 (in place)."""
    U, D = gu.shape
    for u in range(U):
        r = rows[u]
        for j in range(D):
            out[r, j] = gu[u, j]


@njit(cache=True, nogil=True)
def centroid_grad(gu: np.ndarray, ucodes: np.ndarray, g_table: np.ndarray) -> None:
    """g_table[j, ucodes[u, j]] += gu[u, j]. gu (u, D) float32, ucodes (u, D) int32, g_table (D, K_t)
    float32 (accumulated in place)."""
    U, D = gu.shape
    for u in range(U):
        for j in range(D):
            g_table[j, ucodes[u, j]] += gu[u, j]


# ---- dsub > 1: brute-force nearest centroid over the distinct rows -----------------------------------------
# Rows per block of the dsub > 1 search: the block's coordinates, running minima and codes stay in L1.
SUB_BLOCK = 256


def sub_tables(c: np.ndarray) -> np.ndarray:
    """Centroids c (D, K_t, dsub) float32 -> (D, dsub, K_t) float32 C-contiguous, the layout `search_sub`
    reads (each centroid coordinate a scalar it broadcasts over a block of rows)."""
    return np.ascontiguousarray(c.transpose(0, 2, 1), dtype=np.float32)


@njit(cache=True, nogil=True)
def search_sub(x: np.ndarray, rows: np.ndarray, ct: np.ndarray, K: int) -> np.ndarray:
    """codes[j, u] = nearest of the first K centroids of subspace j to x[rows[u], j*dsub:(j+1)*dsub]:
    x (n, D * dsub) float32, rows (U,) int64, ct (D, dsub, K_t >= K) float32 (`sub_tables`) -> (D, U) int32.

    The rule (exactly this, it is what the tests hold the kernel to): dist_k = sum over s = 0..dsub-1, left to
    right, of (x_s - c_k,s)^2, every subtraction, product and sum rounded to float32 (no fused multiply-add:
    numba does not contract without fastmath); the code is the SMALLEST k with the least dist_k (a strict <
    scan in ascending k), so duplicated centroids resolve to the first copy. A NaN distance never wins; a row
    whose distances are all NaN gets code 0 (torch's argmax would pick a NaN).

    torch's `quantizer.nearest_centroid` ranks by x . c_k - ||c_k||^2 / 2 from a float32 baddbmm. Its rounding
    error scales with ||x||^2 + ||c||^2, the direct differences' with the distances themselves, so the two
    agree except where the best and second-best distances are that close (a near-tie: the tests require
    agreement wherever the gap exceeds 1e-6 (||x||^2 + max_k ||c_k||^2), tests/trainer/test_fused_dsub.py).
    Where rows and centroids lie far from the origin relative to their spread, torch's form loses the
    differences to cancellation and this kernel gives the nearer centroid.

    Cost: O(U D K dsub), no (U, D, K) scores in memory: blocks of SUB_BLOCK rows per subspace, and per
    centroid one pass over the block's rows, contiguous, so LLVM vectorizes the distances and the
    compare-and-select (no cross-lane reduction). dsub = 2, 4, 8 and 16 get the block scan with dsub a
    compile-time constant (`_scan_block`), so the coordinate loop unrolls inside the vectorized row loop.
    """
    U = rows.shape[0]
    D, dsub, _ = ct.shape
    nb_max = min(SUB_BLOCK, max(U, 1))
    out = np.zeros((D, U), np.int32)
    xb = np.empty((dsub, nb_max), np.float32)
    best = np.empty(nb_max, np.float32)
    idx = np.empty(nb_max, np.int32)
    for j in range(D):
        cj = ct[j]
        off = j * dsub
        for a in range(0, U, nb_max):
            nb = min(nb_max, U - a)
            for u in range(nb):
                r = rows[a + u]
                for s in range(dsub):
                    xb[s, u] = x[r, off + s]
            # literal dsub per branch: after inlining, a constant trip count
            if dsub == 2:
                _scan_block(xb, cj, K, nb, best, idx, 2)
            elif dsub == 4:
                _scan_block(xb, cj, K, nb, best, idx, 4)
            elif dsub == 8:
                _scan_block(xb, cj, K, nb, best, idx, 8)
            elif dsub == 16:
                _scan_block(xb, cj, K, nb, best, idx, 16)
            else:
                _scan_block(xb, cj, K, nb, best, idx, dsub)
            for u in range(nb):
                out[j, a + u] = idx[u]
    return out


@njit(cache=True, nogil=True, inline="always")
def _scan_block(xb: np.ndarray, cj: np.ndarray, K: int, nb: int, best: np.ndarray, idx: np.ndarray,
                dsub: int) -> None:
    """idx[u] = the first k < K of least float32 distance sum_s (xb[s, u] - cj[s, k])^2, for u < nb:
    xb (dsub, >= nb) float32 a block of rows, cj (dsub, K_t) float32 one subspace's centroids, best (>= nb)
    float32 and idx (>= nb) int32 scratch (overwritten)."""
    for u in range(nb):
        best[u] = np.inf
        idx[u] = 0
    for k in range(K):
        kk = np.int32(k)
        for u in range(nb):  # selects, not branches: this loop vectorizes
            dv = np.float32(0.0)  # 0 + t * t is exact: the sum starts at the first square
            for s in range(dsub):
                t = xb[s, u] - cj[s, k]
                dv += t * t
            m = dv < best[u]
            best[u] = dv if m else best[u]
            idx[u] = kk if m else idx[u]


def quantize_group_sub(
    weight: np.ndarray, rows: np.ndarray, start: int, ct: np.ndarray, K: int, table: np.ndarray,
    codes: np.ndarray, ucodes: np.ndarray, dec: np.ndarray,
) -> None:
    """`quantize_group` for dsub > 1: weight (n, d) float32; rows (u,) int64 ids of the group; start its
    first id; ct (D, dsub, K_t) float32 (`sub_tables` of table) and K the centroids the group may use; table
    (D, K_t, dsub) float32 the table its codes index; codes (|V_i|, D) int16/int32 the group's buffer (updated
    at rows - start); ucodes (u, D) int32 and dec (u, d) float32 receive the codes and decoded centroids."""
    _store_sub(search_sub(weight, rows, ct, K), rows, start, table, codes, ucodes, dec)


@njit(cache=True, nogil=True)
def _store_sub(ct_codes: np.ndarray, rows: np.ndarray, start: int, table: np.ndarray, codes: np.ndarray,
               ucodes: np.ndarray, dec: np.ndarray) -> None:
    """The codes ct_codes (D, u) int32 of `search_sub` into ucodes (u, D) and the buffer codes at
    rows - start, their centroids from table (D, K_t, dsub) into dec (u, D * dsub)."""
    U, D = ucodes.shape
    dsub = table.shape[2]
    for u in range(U):
        k = rows[u] - start
        for j in range(D):
            c = ct_codes[j, u]
            ucodes[u, j] = c
            codes[k, j] = c
            for s in range(dsub):
                dec[u, j * dsub + s] = table[j, c, s]


@njit(cache=True, nogil=True)
def centroid_grad_sub(gu: np.ndarray, ucodes: np.ndarray, g_table: np.ndarray) -> None:
    """g_table[j, ucodes[u, j], s] += gu[u, j * dsub + s]. gu (u, d) float32, ucodes (u, D) int32, g_table
    (D, K_t, dsub) float32 (accumulated in place)."""
    U, D = ucodes.shape
    dsub = g_table.shape[2]
    for u in range(U):
        for j in range(D):
            c = ucodes[u, j]
            for s in range(dsub):
                g_table[j, c, s] += gu[u, j * dsub + s]
