"""Embedding tables as the server keeps them: compact arrays, decoded row by row on demand.

Every table answers two questions without ever building the (n, d) float table of a compressed method:
    decode(rows)  -> (m, d) float32          the embeddings of some rows
    inner(Q)      -> (B, n) float32          Q @ E.T for every row, E never materialised

Product-quantised tables (dpq, mgqe) answer `inner` by asymmetric distance computation (ADC): per query and
subspace j, a lookup table LUT[j, k] = C[j, k] · q_j, then score(row) = sum_j LUT[j, code[row, j]]. Codes of
two neighbouring subspaces are fused at load into one uint16 "pair code" a * K + b (when K * K <= 65536), so a
scan does D/2 gathers into a (K * K,) pair table instead of D gathers: the gather, not the add, is the cost.
Codes are stored table-major (P, n) as uint16 with each table's offset into the concatenated lookup array
already added, so a scan is a single `np.take` per chunk: 2 bytes per pair (pair codes) or per subspace
(single codes). The scan itself lives in `scoring.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from mgqe.proto.config import EmbeddingConfig
from mgqe.server.scoring import adc_scan, lookup_table, pq_luts

# Most lookup-table entries (float32) of one group's pair tables: 2^15 = 128 KiB stays in L2.
_PAIR_LUT_MAX = 1 << 15
# Rows decoded per step when a float scan needs decoded rows (sq, neumf): bounds scratch memory to ~2 MiB.
DECODE_CHUNK = 8192


class TableError(ValueError):
    """An artifact's arrays do not form the table its header describes."""


class Table(Protocol):
    """What the server needs of a decoded table; n (rows) and d (dims) are read-only."""

    @property
    def n(self) -> int: ...
    @property
    def d(self) -> int: ...

    def decode(self, rows: np.ndarray) -> np.ndarray: ...
    def inner(self, Q: np.ndarray) -> np.ndarray: ...
    @property
    def nbytes(self) -> int: ...


def _array(arrays: Mapping[str, np.ndarray], key: str, shape: tuple[int, ...], kind: str) -> np.ndarray:
    """Fetch arrays[key], checking its shape and dtype kind ('f' float32, 'u' integer codes)."""
    if key not in arrays:
        raise TableError(f"missing array {key!r}")
    a = np.asarray(arrays[key])
    if a.shape != shape:
        raise TableError(f"array {key!r} has shape {a.shape}, expected {shape}")
    if kind == "f":
        if a.dtype != np.float32:
            raise TableError(f"array {key!r} has dtype {a.dtype}, expected float32")
        if not np.isfinite(a).all():
            raise TableError(f"array {key!r} holds non-finite values")
        # A copy: the reader's arrays are views of the whole file's buffer, which is then freed.
        return np.array(a, copy=True)
    elif a.dtype.kind not in "ui":
        raise TableError(f"array {key!r} has dtype {a.dtype}, expected an integer code array")
    return a


@dataclass(frozen=True)
class FullTable:
    """fe: the float table itself.  weight (n, d) float32."""

    weight: np.ndarray

    @property
    def n(self) -> int:
        return int(self.weight.shape[0])

    @property
    def d(self) -> int:
        return int(self.weight.shape[1])

    @property
    def nbytes(self) -> int:
        return int(self.weight.nbytes)

    def decode(self, rows: np.ndarray) -> np.ndarray:
        return self.weight[rows]

    def inner(self, Q: np.ndarray) -> np.ndarray:
        return Q @ self.weight.T


@dataclass(frozen=True)
class LowRankTable:
    """lrf: e = A[row] @ B.  A (n, r) float32, B (r, d) float32; inner = (Q @ B.T) @ A.T, never A @ B."""

    A: np.ndarray
    B: np.ndarray

    @property
    def n(self) -> int:
        return int(self.A.shape[0])

    @property
    def d(self) -> int:
        return int(self.B.shape[1])

    @property
    def nbytes(self) -> int:
        return int(self.A.nbytes + self.B.nbytes)

    def decode(self, rows: np.ndarray) -> np.ndarray:
        return self.A[rows] @ self.B

    def inner(self, Q: np.ndarray) -> np.ndarray:
        return (Q @ self.B.T) @ self.A.T


@dataclass(frozen=True)
class ScalarTable:
    """sq: e = lo + codes * step.  codes (n, d) uint8/uint16, lo and step (d,) float32.

    inner(q) = q·lo + codes @ (q * step), computed chunk by chunk so only DECODE_CHUNK rows are ever float.
    """

    codes: np.ndarray
    lo: np.ndarray
    step: np.ndarray

    @property
    def n(self) -> int:
        return int(self.codes.shape[0])

    @property
    def d(self) -> int:
        return int(self.codes.shape[1])

    @property
    def nbytes(self) -> int:
        return int(self.codes.nbytes + self.lo.nbytes + self.step.nbytes)

    def decode(self, rows: np.ndarray) -> np.ndarray:
        return self.lo + self.codes[rows].astype(np.float32) * self.step

    def inner(self, Q: np.ndarray) -> np.ndarray:
        if Q.ndim != 2 or Q.dtype != np.float32:  # skip two NumPy calls in the common (1, d) float32 case
            Q = np.atleast_2d(Q).astype(np.float32, copy=False)
        out = np.empty((Q.shape[0], self.n), np.float32)
        Qs = (Q * self.step).T  # (d, B)
        base = (Q @ self.lo)[:, None]  # (B, 1)
        for s in range(0, self.n, DECODE_CHUNK):
            e = min(self.n, s + DECODE_CHUNK)
            out[:, s:e] = (self.codes[s:e].astype(np.float32) @ Qs).T + base
        return out


@dataclass(frozen=True)
class PQGroup:
    """One MGQE group: rows [start, stop) with D subspaces of width dsub and K centroids each.

    centroids (D, K, dsub) float32. codes (P, size) uint16 (uint32 when the tables need more than 65536
    entries), one row per lookup table, with each table's offset in the concatenated lookup array already
    added, so a scan is one gather: with pairs P = ceil(D / 2), row p < D // 2 holds
    a * K + b + p * K * K for the codes a, b of subspaces 2p, 2p + 1 (an odd D's last subspace is a single
    code after them); without pairs P = D and row j holds code_j + j * K. `offsets` (P, 1) int64 holds them.
    """

    start: int
    stop: int
    D: int
    K: int
    centroids: np.ndarray
    codes: np.ndarray
    offsets: np.ndarray
    pairs: bool

    @property
    def dsub(self) -> int:
        return int(self.centroids.shape[2])

    def unpair(self, local_rows: np.ndarray) -> np.ndarray:
        """(m,) rows relative to start -> (m, D) int64 single codes (a transposed (D, m) array)."""
        c = self.codes[:, local_rows].astype(np.int64)  # (P, m)
        c -= self.offsets
        if not self.pairs:
            return c.T
        out = np.empty((self.D, c.shape[1]), np.int64)
        full = self.D // 2
        np.divmod(c[:full], self.K, out=(out[0 : 2 * full : 2], out[1 : 2 * full : 2]))
        if self.D % 2:
            out[-1] = c[-1]
        return out.T

    def decode(self, local_rows: np.ndarray) -> np.ndarray:
        codes = self.unpair(local_rows)  # (m, D)
        parts = self.centroids[np.arange(self.D), codes]  # (m, D, dsub)
        return parts.reshape(len(local_rows), self.D * self.dsub)

    def scan(self, lut: np.ndarray, out: np.ndarray) -> None:
        """Write the ADC scores of every row of the group into out (size,) float32, given the query's
        (D, K) lookup table for this group's centroids (scoring.lookup_table)."""
        adc_scan(pq_luts(lut, self.pairs), self.codes, out)


@dataclass(frozen=True)
class PQTable:
    """dpq / mgqe: contiguous groups of product-quantised rows (see PQGroup)."""

    groups: tuple[PQGroup, ...]
    n: int
    d: int
    centroid_bytes: int  # shared-centroid groups hold views of one table, counted once
    shared: np.ndarray | None = None  # (D, K_max, dsub): one lookup table per query serves every group

    @property
    def nbytes(self) -> int:
        return int(sum(g.codes.nbytes for g in self.groups) + self.centroid_bytes)

    def decode(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size:  # the common case of a query: every row in one group, no per-group masks
            # one row (a user query): no min/max reductions, each a NumPy call of a few µs
            lo, hi = (int(rows[0]),) * 2 if rows.size == 1 else (int(rows.min()), int(rows.max()))
            for g in self.groups:
                if g.start <= lo and hi < g.stop:
                    return g.decode(rows - g.start)
        out = np.empty((rows.shape[0], self.d), np.float32)
        for g in self.groups:
            sel = np.flatnonzero((rows >= g.start) & (rows < g.stop))
            if sel.size:
                out[sel] = g.decode(rows[sel] - g.start)
        return out

    def inner(self, Q: np.ndarray) -> np.ndarray:
        if Q.ndim != 2 or Q.dtype != np.float32:  # skip two NumPy calls in the common (1, d) float32 case
            Q = np.atleast_2d(Q).astype(np.float32, copy=False)
        out = np.empty((Q.shape[0], self.n), np.float32)
        for b in range(Q.shape[0]):
            base = lookup_table(self.shared, Q[b]) if self.shared is not None else None
            for g in self.groups:
                lut = base[:, : g.K] if base is not None else lookup_table(g.centroids, Q[b])
                g.scan(lut, out[b, g.start : g.stop])
        return out


def _layout(codes: np.ndarray, K: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """(size, D) unpacked codes -> (offset codes (P, size), offsets (P, 1) int64, pairs); see PQGroup.

    Pairs halve the gathers of a scan but cost K * K adds per pair table and query, and their lookup tables
    must stay cache-sized: they are used when the group has at least K * K / 2 rows (a gather costs about
    two adds) and all pair tables together hold at most _PAIR_LUT_MAX entries.
    """
    size, D = codes.shape
    full = D // 2
    pairs = D >= 2 and 2 * size >= K * K and full * K * K + (D % 2) * K <= _PAIR_LUT_MAX
    sizes = [K * K] * full + [K] * (D % 2) if pairs else [K] * D
    offsets = np.cumsum([0, *sizes[:-1]], dtype=np.int64)
    dtype = np.uint16 if sum(sizes) <= 1 << 16 else np.uint32
    out = np.empty((len(sizes), size), dtype)
    for p in range(len(sizes)):
        if pairs and p < full:
            out[p] = codes[:, 2 * p].astype(dtype) * K + codes[:, 2 * p + 1] + offsets[p]
        else:
            out[p] = codes[:, -1 if pairs else p].astype(dtype) + offsets[p]
    return out, offsets[:, None], pairs


def build_table(name: str, cfg: EmbeddingConfig, arrays: Mapping[str, np.ndarray]) -> Table:
    """Build table `name` (e.g. "item") described by cfg from an artifact's unpacked arrays, validating
    every array's shape, dtype and code range. Raises TableError naming the offending array."""
    n, d = cfg.n, cfg.d
    if cfg.method == "fe":
        return FullTable(_array(arrays, f"{name}.weight", (n, d), "f"))
    if cfg.method == "lrf":
        assert cfg.rank is not None
        A = _array(arrays, f"{name}.A", (n, cfg.rank), "f")
        B = _array(arrays, f"{name}.B", (cfg.rank, d), "f")
        return LowRankTable(A, B)
    if cfg.method == "sq":
        assert cfg.bits is not None
        codes = _array(arrays, f"{name}.codes", (n, d), "u")
        if codes.size and int(codes.max()) >= (1 << cfg.bits):
            raise TableError(f"array {name + '.codes'!r} holds a code >= 2**{cfg.bits}")
        lo = _array(arrays, f"{name}.lo", (d,), "f")
        hi = _array(arrays, f"{name}.hi", (d,), "f")
        step = ((hi - lo) / np.float32((1 << cfg.bits) - 1)).astype(np.float32)
        return ScalarTable(codes, lo, step)
    groups = []
    shared = None
    centroid_bytes = 0
    if cfg.shared:
        D0 = cfg.groups[0].D
        shared = _array(arrays, f"{name}.centroids", (D0, cfg.K_max, d // D0), "f")
        centroid_bytes = shared.nbytes
    for i, g in enumerate(cfg.groups):
        key = f"{name}.codes.g{i}"
        codes = _array(arrays, key, (g.size, g.D), "u")
        if codes.size and int(codes.max()) >= g.K:
            raise TableError(f"array {key!r} holds a code >= K={g.K}")
        if shared is not None:
            C = shared[:, : g.K, :]
        else:
            C = _array(arrays, f"{name}.centroids.g{i}", (g.D, g.K, d // g.D), "f")
            centroid_bytes += C.nbytes
        packed, offsets, pairs = _layout(codes, g.K)
        groups.append(PQGroup(g.start, g.stop, g.D, g.K, C, packed, offsets, pairs))
    return PQTable(tuple(groups), n, d, centroid_bytes, shared)
