"""Nearest-centroid assignment for product quantization, the inner kernel of DPQ and MGQE.

Shapes: x (b, D, dsub) float32 rows split into D subspaces; C (D, K, dsub) float32 centroids; codes (b, D)
int64 with codes[r, j] = the centroid of subspace j chosen for row r.

Two rules:
- plain (the MGQE paper): codes[r, j] = argmin_k ||x[r, j] - C[j, k]||^2.
- batch-normalised (the DPQ reference code): responses R[r, j, k] = -||x[r, j] - C[j, k]||^2 are normalised
  over the batch axis r per (j, k) without scale/offset, (R - mean) / sqrt(var + eps), then argmax over k.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from . import kernels

# Rows per chunk so the (D, rows, K) score block stays around 2**24 floats (64 MiB).
_SCORE_BUDGET = 1 << 24


def nearest_centroid(x: Tensor, C: Tensor) -> Tensor:
    """Plain rule. x (b, D, dsub), C (D, K, dsub) -> (b, D) int64.

    On CPU both shapes run the compiled search of the fused training lookup (kernels.py), so the codes that
    evaluation and export refresh are the codes training assigned under the same centroids; elsewhere torch
    ops (for dsub > 1 they may differ from the CPU kernel at near-ties, see kernels.search_sub)."""
    if C.shape[-1] == 1:
        return _nearest_1d(x[..., 0], C[..., 0])
    if x.device.type == "cpu":
        return _nearest_sub_cpu(x, C)
    return _nearest_matmul(x, C)


def _nearest_sub_cpu(x: Tensor, C: Tensor) -> Tensor:
    """dsub > 1 on CPU: kernels.search_sub (float32 direct distances, first index wins ties) over all b rows.
    x (b, D, dsub), C (D, K, dsub) -> (b, D) int64."""
    b = x.shape[0]
    xf = np.ascontiguousarray(x.detach().reshape(b, -1).numpy(), dtype=np.float32)  # (b, D * dsub)
    ct = kernels.sub_tables(C.detach().numpy())  # (D, dsub, K)
    codes = kernels.search_sub(xf, np.arange(b, dtype=np.int64), ct, C.shape[1])  # (D, b) int32
    return torch.from_numpy(np.ascontiguousarray(codes.T, dtype=np.int64))


def _nearest_1d(x: Tensor, c: Tensor) -> Tensor:
    """dsub = 1 (the paper's D = d): nearest of K scalars by binary search, O(b D log K) instead of O(b D K).

    With the centroids sorted (stable, so equal centroids resolve the same way everywhere), the nearest one is
    the number of midpoints between consecutive centroids that lie below x. Midpoints and the comparison are
    float64, where the midpoint of two float32 values is exact. On CPU the compiled kernel of the fused
    training lookup (kernels.py) runs the same rule. x (b, D), c (D, K) -> (b, D) int64."""
    if x.device.type == "cpu":
        perm, tables = kernels.sorted_tables(c.detach().numpy(), x.shape[0])
        return torch.from_numpy(kernels.nearest_rows(np.ascontiguousarray(x.detach().numpy()), perm, tables))
    return _nearest_1d_torch(x, c)


def _nearest_1d_torch(x: Tensor, c: Tensor) -> Tensor:
    """The same rule as `_nearest_1d` with torch ops (any device). x (b, D), c (D, K) -> (b, D) int64."""
    perm = torch.sort(c, dim=1, stable=True).indices  # (D, K)
    v = c.gather(1, perm).double()
    mids = (v[:, 1:] + v[:, :-1]) * 0.5  # (D, K - 1)
    xt = x.t().to(torch.float64, memory_format=torch.contiguous_format)  # (D, b)
    pos = torch.searchsorted(mids, xt)  # (D, b) in [0, K - 1]
    return perm.gather(1, pos).t()


def _nearest_matmul(x: Tensor, C: Tensor) -> Tensor:
    """argmin_k ||x - c_k||^2 = argmax_k (x . c_k - ||c_k||^2 / 2): one batched matmul per chunk, never the
    (b, D, K, dsub) difference tensor."""
    b, D, _ = x.shape
    K = C.shape[1]
    xt = x.transpose(0, 1)  # (D, b, dsub)
    ct = C.transpose(1, 2)  # (D, dsub, K)
    half_sq = 0.5 * (C * C).sum(-1).unsqueeze(1)  # (D, 1, K)
    step = max(1, _SCORE_BUDGET // max(1, D * K))
    out = torch.empty(D, b, dtype=torch.long, device=x.device)
    for a in range(0, b, step):
        scores = torch.baddbmm(half_sq, xt[:, a : a + step], ct, beta=-1.0)  # (D, rows, K)
        out[:, a : a + step] = scores.argmax(-1)
    return out.t()


def responses(x: Tensor, C: Tensor) -> Tensor:
    """-||x - c||^2 for every row, subspace and centroid. x (b, D, dsub), C (D, K, dsub) -> (b, D, K)."""
    xt = x.transpose(0, 1)  # (D, b, dsub)
    sq_x = (xt * xt).sum(-1, keepdim=True)  # (D, b, 1)
    sq_c = (C * C).sum(-1).unsqueeze(1)  # (D, 1, K)
    r = torch.baddbmm(sq_x + sq_c, xt, C.transpose(1, 2), alpha=-2.0)  # ||x - c||^2, (D, b, K)
    return (-r).transpose(0, 1)


def response_stats(x: Tensor, C: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and (biased) variance of the responses over all b rows, chunked: two (D, K) float32 tensors."""
    b, D, _ = x.shape
    K = C.shape[1]
    step = max(1, _SCORE_BUDGET // max(1, D * K))
    s = torch.zeros(D, K, dtype=torch.float64, device=x.device)
    s2 = torch.zeros_like(s)
    for a in range(0, b, step):
        r = responses(x[a : a + step], C).double()
        s += r.sum(0)
        s2 += (r * r).sum(0)
    mean = s / b
    var = (s2 / b - mean * mean).clamp_(min=0)
    return mean.float(), var.float()


def bn_assign(x: Tensor, C: Tensor, eps: float, stats: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """Batch-normalised rule. x (b, D, dsub), C (D, K, dsub) -> (b, D) int64.

    stats: (mean, var), each (D, K), of the responses; default: computed over this batch (training mode).
    """
    b, D, _ = x.shape
    K = C.shape[1]
    if stats is None and b * D * K <= _SCORE_BUDGET:  # one pass: the batch's responses fit in memory
        r = responses(x, C)
        mean, var = r.mean(0), r.var(0, unbiased=False)
        return ((r - mean) * torch.rsqrt(var + eps)).argmax(-1)
    mean, var = stats if stats is not None else response_stats(x, C)
    inv = torch.rsqrt(var + eps)
    step = max(1, _SCORE_BUDGET // max(1, D * K))
    out = torch.empty(b, D, dtype=torch.long, device=x.device)
    for a in range(0, b, step):
        out[a : a + step] = ((responses(x[a : a + step], C) - mean) * inv).argmax(-1)
    return out
