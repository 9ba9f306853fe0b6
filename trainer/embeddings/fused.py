"""The fused CPU train-mode lookup of DPQ/MGQE for dsub = 1 (the paper's D = d), as one autograd function.

Same values, gradients and code-buffer updates as the torch path of `QuantizedEmbedding._lookup`
(Algorithm 1 with torch ops, still used on GPUs, for dsub > 1, batch-norm assignment and the centroid loss):
    forward   e[t] = C[code(x[ids[t]])]           dedup (kernels.unique_slots), per group one search +
                                                  decode (kernels.quantize_group), back to batch order
    backward  dL/dweight = the full-embedding gradient of the same ids (straight-through estimator),
              dL/dC[j, code] += dL/de[t, j]         (kernels.centroid_grad)
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
    """The fused path applies: CPU tensors, plain argmin, no centroid loss (so the task loss trains the
    centroids), every group with dsub = 1."""
    o = emb.options
    return (
        emb.weight.device.type == "cpu"
        and emb.weight.is_contiguous()
        and not o.bn_assign
        and o.centroid_loss == 0
        and o.centroid_task_grad
        and all(emb.cfg.d == g.D for g in emb.groups)
    )


def fused_lookup(emb: QuantizedEmbedding, ids: Tensor) -> Tensor:
    """ids (B,) int64 in [0, n) -> (B, d) float32 straight-through embeddings; updates emb's code buffers."""
    tables = [emb.centroids] if emb.shared else list(emb.group_centroids)
    out: Tensor = _FusedLookup.apply(ids, emb, emb.weight, *tables)
    return out


class _FusedLookup(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, ids: Tensor, emb: QuantizedEmbedding, weight: Tensor, *tables: Tensor) -> Tensor:
        ids_np = ids.contiguous().numpy()
        W = weight.detach().numpy()  # (n, d) float32, a view
        mark, slot = emb.scratch()
        rows, bounds, tslot = kernels.unique_slots(ids_np, emb.starts, mark, emb.next_stamp(), slot)
        dec = np.empty((rows.shape[0], W.shape[1]), np.float32)  # (U, d) decoded distinct rows
        ucodes = np.empty(dec.shape, np.int32)  # (U, D) their codes
        full: np.ndarray | None = None  # shared table: the stable order of the largest K sorted so far
        for i, g in enumerate(emb.groups):
            a, b = int(bounds[i]), int(bounds[i + 1])
            if a == b:
                continue
            T = tables[0 if emb.shared else i].detach().numpy()[:, :, 0]  # (D, K_t) float32, a view
            if full is not None and full.shape[1] >= g.K:  # a smaller group of the shared table: no 2nd sort
                perm, search = kernels.prefix_tables(T, full, g.K, b - a)
            else:
                perm, search = kernels.sorted_tables(T[:, : g.K], b - a)
                if emb.shared:
                    full = perm
            codes = emb.group_codes(i).numpy()  # (|V_i|, D) int16/int32, updated in place
            kernels.quantize_group(W, rows[a:b], g.start, perm, search, T, codes, ucodes[a:b], dec[a:b])
        ctx.emb, ctx.n_tables = emb, len(tables)
        ctx.bounds, ctx.tslot, ctx.ucodes = bounds, tslot, ucodes
        ctx.save_for_backward(ids)
        return torch.from_numpy(kernels.expand_rows(dec, tslot))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        (ids,) = ctx.saved_tensors
        emb: QuantizedEmbedding = ctx.emb
        g = grad.contiguous()
        g_weight = None
        if ctx.needs_input_grad[2]:  # straight-through: exactly the full-embedding gradient of these ids
            g_weight = torch.ops.aten.embedding_dense_backward(g, ids, emb.cfg.n, -1, False)
        g_tables: list[Tensor | None] = [None] * ctx.n_tables
        if not any(ctx.needs_input_grad[3:]):
            return (None, None, g_weight, *g_tables)
        gu = kernels.reduce_rows(g.numpy(), ctx.tslot, ctx.ucodes.shape[0])  # (U, d)
        for i in range(len(emb.groups)):
            t = 0 if emb.shared else i
            a, b = int(ctx.bounds[i]), int(ctx.bounds[i + 1])
            if not ctx.needs_input_grad[3 + t] or a == b:
                continue
            if g_tables[t] is None:
                g_tables[t] = torch.zeros_like(emb.centroids if emb.shared else emb.group_centroids[i])
            gt = g_tables[t]
            assert gt is not None
            kernels.centroid_grad(gu[a:b], ctx.ucodes[a:b], gt.numpy()[:, :, 0])
        for t in range(ctx.n_tables):  # a table no id of this batch used still gets a (zero) gradient
            if g_tables[t] is None and ctx.needs_input_grad[3 + t]:
                g_tables[t] = torch.zeros_like(emb.centroids if emb.shared else emb.group_centroids[t])
        return (None, None, g_weight, *g_tables)
