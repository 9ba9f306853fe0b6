"""The fused CPU train-mode lookup of DPQ/MGQE (any dsub = d / D, mixed across groups), as one autograd
function.

Same values, gradients and code-buffer updates as the torch path of `QuantizedEmbedding._lookup`
(Algorithm 1 with torch ops, still used on GPUs and for batch-norm assignment):
    forward   e[t] = C[code(x[ids[t]])]           dedup (kernels.unique_slots), per group one search +
                                                  decode (kernels.quantize_group for dsub = 1: exactly the
                                                  torch rule; kernels.quantize_group_sub for dsub > 1: brute
                                                  force over the distinct rows, the same codes as torch's
                                                  float32 baddbmm except at near-ties, see kernels.search_sub)
                                                  then back to batch order
    backward  dL/dweight = the full-embedding gradient of the same ids (straight-through estimator): the
              batch's rows summed per distinct row (kernels.reduce_rows, the sums of torch's
              embedding_dense_backward bit for bit, ~3x faster at batch 8192) and scattered (scatter_rows)
              dL/dC[j, code, s] += dL/de[t, j*dsub + s]  (kernels.centroid_grad / centroid_grad_sub from the
                                                  same per-row sums; not in the reference STE form)
    centroid loss (when on) w * mean((c - sg(x))^2) over the distinct rows, its gradient by the same kernels
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from . import kernels

if TYPE_CHECKING:
    from .quantized import QuantizedEmbedding


def fused_supported(emb: QuantizedEmbedding) -> bool:
    """The fused path applies: CPU tensors, plain argmin (any dsub, mixed across groups; either STE form, with
    or without the centroid loss). Batch-norm assignment stays on the torch path."""
    return (
        emb.weight.device.type == "cpu"
        and emb.weight.is_contiguous()
        and not emb.options.bn_assign
    )


def fused_lookup(emb: QuantizedEmbedding, ids: Tensor) -> Tensor:
    """ids (B,) int64 in [0, n) -> (B, d) float32 straight-through embeddings; updates emb's code buffers."""
    tables = [emb.centroids] if emb.shared else list(emb.group_centroids)
    last: dict[str, Any] = {}
    out: Tensor = _FusedLookup.apply(ids, emb, emb.weight, last, *tables)
    if emb.options.centroid_loss > 0:
        emb._aux = _FusedCentroidLoss.apply(emb, last, *tables)
    return out


class _FusedLookup(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, ids: Tensor, emb: QuantizedEmbedding, weight: Tensor, last: dict[str, Any],
                *tables: Tensor) -> Tensor:
        ids_np = ids.contiguous().numpy()
        W = weight.detach().numpy()  # (n, d) float32, a view
        mark, slot = emb.scratch()
        rows, bounds, tslot = kernels.unique_slots(ids_np, emb.starts, mark, emb.next_stamp(), slot)
        dec = np.empty((rows.shape[0], W.shape[1]), np.float32)  # (U, d) decoded distinct rows
        # (U, D_max) their codes; group i's in ucodes[a:b, :D_i] (unshared_d groups differ in D)
        ucodes = np.empty((rows.shape[0], max(g.D for g in emb.groups)), np.int32)
        full: np.ndarray | None = None  # shared table, dsub = 1: stable order of the largest K sorted so far
        sub: dict[int, np.ndarray] = {}  # dsub > 1: per table, its (D, dsub, K_t) layout for the search
        for i, g in enumerate(emb.groups):
            a, b = int(bounds[i]), int(bounds[i + 1])
            if a == b:
                continue
            t = 0 if emb.shared else i
            T3 = tables[t].detach().numpy()  # (D, K_t, dsub) float32, a view
            codes = emb.group_codes(i).numpy()  # (|V_i|, D) int16/int32, updated in place
            if T3.shape[2] > 1:  # brute-force search over the group's K_i centroids
                if t not in sub:
                    sub[t] = kernels.sub_tables(T3)
                kernels.quantize_group_sub(W, rows[a:b], g.start, sub[t], g.K, T3, codes, ucodes[a:b, : g.D],
                                           dec[a:b])
                continue
            T = T3[:, :, 0]  # (D, K_t)
            if full is not None and full.shape[1] >= g.K:  # a smaller group of the shared table: no 2nd sort
                perm, search = kernels.prefix_tables(T, full, g.K, b - a)
            else:
                perm, search = kernels.sorted_tables(T[:, : g.K], b - a)
                if emb.shared:
                    full = perm
            kernels.quantize_group(W, rows[a:b], g.start, perm, search, T, codes, ucodes[a:b, : g.D],
                                   dec[a:b])
        ctx.emb, ctx.n_tables = emb, len(tables)
        ctx.bounds, ctx.tslot, ctx.ucodes, ctx.rows = bounds, tslot, ucodes, rows
        last.update(rows=rows, bounds=bounds, ucodes=ucodes, dec=dec)  # for the centroid loss
        return torch.from_numpy(kernels.expand_rows(dec, tslot))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        emb: QuantizedEmbedding = ctx.emb
        need_w = ctx.needs_input_grad[2]
        # reference STE form (x + stop_gradient(c - x)): the task loss does not reach the centroids
        need_c = any(ctx.needs_input_grad[4:]) and emb.options.centroid_task_grad
        if not (need_w or need_c):
            return (None, None, None, None, *[None] * ctx.n_tables)
        # (U, d) the gradient per distinct row, summed in batch order: the same float32 sums as
        # embedding_dense_backward (bit for bit, see the tests), which is dL/dweight's rows (straight-through:
        # exactly the full-embedding gradient) and what the centroids' gradient is scattered from.
        gu = kernels.reduce_rows(grad.contiguous().numpy(), ctx.tslot, ctx.ucodes.shape[0])
        g_weight = None
        if need_w:  # dense (n, d), zero outside the batch's rows, like embedding_dense_backward's
            g_weight = torch.zeros(emb.cfg.n, gu.shape[1], dtype=grad.dtype)
            kernels.scatter_rows(gu, ctx.rows, g_weight.numpy())
        if not need_c:
            return (None, None, g_weight, None, *[None] * ctx.n_tables)
        return (None, None, g_weight, None, *_table_grads(emb, ctx.needs_input_grad[4:], ctx.bounds, gu,
                                                          ctx.ucodes))


def _table_grads(emb: QuantizedEmbedding, needs: tuple[bool, ...], bounds: np.ndarray, gu: np.ndarray,
                 ucodes: np.ndarray) -> list[Tensor | None]:
    """Per centroid table: dL/dC[j, code, s] = sum of gu[u, j * dsub + s] over the distinct rows u with that
    code. gu (U, d) float32 gradient w.r.t. the decoded distinct rows, ucodes (U, D_max) int32 their codes
    (group i's in its first D_i columns)."""
    g_tables: list[Tensor | None] = [None] * len(needs)
    for i in range(len(emb.groups)):
        t = 0 if emb.shared else i
        a, b = int(bounds[i]), int(bounds[i + 1])
        if not needs[t] or a == b:
            continue
        if g_tables[t] is None:
            g_tables[t] = torch.zeros_like(emb.centroids if emb.shared else emb.group_centroids[i])
        gt = g_tables[t]
        assert gt is not None
        g3 = gt.numpy()  # (D, K_t, dsub)
        if g3.shape[2] > 1:
            kernels.centroid_grad_sub(gu[a:b], ucodes[a:b, : emb.groups[i].D], g3)
        else:
            kernels.centroid_grad(gu[a:b], ucodes[a:b, : emb.groups[i].D], g3[:, :, 0])
    for t in range(len(needs)):  # a table no id of this batch used still gets a (zero) gradient
        if g_tables[t] is None and needs[t]:
            g_tables[t] = torch.zeros_like(emb.centroids if emb.shared else emb.group_centroids[t])
    return g_tables


class _FusedCentroidLoss(torch.autograd.Function):
    """w * mean((c - stop_gradient(x))^2) over the distinct rows of the last fused lookup (the torch path's
    centroid loss), with its gradient scattered into the centroid tables by the same kernel."""

    @staticmethod
    def forward(ctx: Any, emb: QuantizedEmbedding, last: dict[str, Any], *tables: Tensor) -> Tensor:
        x = emb.weight.detach().numpy()[last["rows"]]  # (U, d) float32
        diff = last["dec"] - x  # (U, d) float32: decoded minus full rows
        ctx.emb, ctx.last, ctx.diff = emb, last, diff
        d = torch.from_numpy(diff)
        return emb.options.centroid_loss * (d * d).mean()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        coef = float(grad) * ctx.emb.options.centroid_loss * 2.0 / max(ctx.diff.size, 1)
        gu = (ctx.diff * np.float32(coef)).astype(np.float32, copy=False)
        bounds, ucodes = ctx.last["bounds"], ctx.last["ucodes"]
        return (None, None, *_table_grads(ctx.emb, ctx.needs_input_grad[2:], bounds, gu, ucodes))
