"""DPQ (vector-quantization variant) and MGQE (all three variants) as one module.

Training state: the full embedding `weight` (n, d) and the centroids, either one shared table
`centroids` (D, K_max, dsub) whose first K_i entries group i may use (dpq, mgqe shared_k), or one private
table per group `group_centroids[i]` (D_i, K_i, d / D_i) (mgqe unshared_k, unshared_d).
Serving state: the integer code buffers `codes_g{i}` (|V_i|, D_i) int16 (int32 when K_i > 2**15) plus the
centroids. Groups are contiguous internal-id ranges [start_i, stop_i).

Train-mode forward (the group-wise lookup of the paper's Algorithm 1): deduplicate and sort the batch's ids
(`torch.unique`), which also orders them by group since groups are id ranges; cut the sorted ids at the group
boundaries (`searchsorted`); per group run ONE batched nearest-centroid search over that group's centroids,
write the codes into the buffer and produce the straight-through output
    e = c + (x - stop_gradient(x))            value: the chosen centroids c; gradient: to x AND to c,
so the task loss trains both the full embeddings and the centroids; finally concatenate the groups and
scatter back to the batch order with the unique inverse. Eval-mode forward decodes only from the code
buffers and centroids, exactly what the server decodes; entering eval mode (`.eval()`) and `finalize()`
refresh the buffers of all rows from the current weights and centroids first.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from mgqe.proto.config import EmbeddingConfig, GroupSpec

from .base import Embedding, check_ids, to_numpy
from .fused import fused_lookup, fused_supported
from .quantizer import bn_assign, nearest_centroid, response_stats

# Rows per chunk when refreshing all codes (finalize) so memory stays bounded on 1M-row tables.
_REFRESH_ROWS = 1 << 16


@dataclass(frozen=True)
class QuantOptions:
    """Training choices of DPQ/MGQE that do not change the served artifact.

    centroid_loss: weight of the reference code's centroid loss mean((c - stop_gradient(x))^2) over the
        looked-up rows, returned by `aux_loss()`; 0 disables it.
    bn_assign: use the reference code's batch-normalised assignment instead of the paper's plain argmin.
    bn_eps: epsilon of that normalisation (TensorFlow's batch-norm default).
    centroid_task_grad: the task loss's gradient reaches the centroids through the straight-through output
        (default). False is the DPQ reference code's output stop_gradient(c - x) + x: the task gradient goes
        to the full embeddings only and the centroids learn from the centroid loss alone (so it must be on).
    """

    centroid_loss: float = 0.0
    bn_assign: bool = False
    bn_eps: float = 1e-3
    centroid_task_grad: bool = True

    def __post_init__(self) -> None:
        if self.centroid_loss < 0:
            raise ValueError(f"centroid_loss weight must be >= 0, got {self.centroid_loss}")
        if not self.centroid_task_grad and self.centroid_loss == 0:
            raise ValueError("centroid_task_grad=False needs centroid_loss > 0: otherwise nothing trains the "
                             "centroids")
        if self.bn_eps <= 0:
            raise ValueError(f"bn_eps must be > 0, got {self.bn_eps}")


def code_torch_dtype(K: int) -> torch.dtype:
    """Buffer dtype for codes in [0, K): int16 while it fits, else int32."""
    return torch.int16 if K <= (1 << 15) else torch.int32


class QuantizedEmbedding(Embedding):
    """DPQ / MGQE table. See the module docstring for the state and the lookup."""

    _cuts: Tensor  # buffer (m - 1,) int64, registered in __init__

    def __init__(
        self, cfg: EmbeddingConfig, *, init_std: float = 0.01, options: QuantOptions | None = None
    ) -> None:
        super().__init__(cfg)
        if cfg.method not in ("dpq", "mgqe"):
            raise ValueError(f"QuantizedEmbedding needs method dpq or mgqe, got {cfg.method!r}")
        self.options = options or QuantOptions()
        self.groups: tuple[GroupSpec, ...] = cfg.groups
        self.shared = cfg.shared
        self.weight = nn.Parameter(torch.randn(cfg.n, cfg.d) * init_std)
        if self.shared:
            D = self.groups[0].D
            self.centroids = nn.Parameter(torch.randn(D, cfg.K_max, cfg.d // D) * init_std)
        else:
            self.group_centroids = nn.ParameterList(
                [nn.Parameter(torch.randn(g.D, g.K, cfg.d // g.D) * init_std) for g in self.groups]
            )
        for i, g in enumerate(self.groups):
            self.register_buffer(f"codes_g{i}", torch.zeros(g.size, g.D, dtype=code_torch_dtype(g.K)))
        # Stops of all groups but the last: where the sorted unique ids are cut.
        self.register_buffer(
            "_cuts", torch.tensor([g.stop for g in self.groups[:-1]], dtype=torch.long), persistent=False
        )
        self._stops = [g.stop for g in self.groups]
        self._aux: Tensor | None = None
        self.starts = np.array([g.start for g in self.groups] + [cfg.n], np.int64)  # (m + 1,) group bounds
        self._scratch: tuple[np.ndarray, np.ndarray] | None = None  # fused CPU path, see scratch()
        self._stamp = 0
        self.refresh_codes()  # the buffer is valid from the start: rows never looked up still decode

    # ---- per-group views ----------------------------------------------------------------------
    def group_codes(self, i: int) -> Tensor:
        """Code buffer of group i: (|V_i|, D_i) int16/int32."""
        return getattr(self, f"codes_g{i}")

    def group_table(self, i: int) -> Tensor:
        """Centroids group i may use: (D_i, K_i, dsub_i) float32 (a view of the shared table)."""
        if self.shared:
            return self.centroids[:, : self.groups[i].K]
        return self.group_centroids[i]

    def _table(self, i: int) -> Tensor:
        """The stored table group i indexes: (D_i, K, dsub_i); for shared centroids the whole (D, K_max, dsub)
        table (codes < K_i only ever index its first K_i entries), so no slice is copied."""
        return self.centroids if self.shared else self.group_centroids[i]

    def _decode(self, i: int, codes: Tensor) -> Tensor:
        """codes (b, D_i) integer -> (b, D_i, dsub_i) centroids, differentiable w.r.t. the centroids.

        A gather along K: its backward is a scatter-add into the small centroid table, much cheaper on CPU
        than an embedding backward over the flattened table."""
        C = self._table(i)
        D, _, dsub = C.shape
        idx = codes.t().long().unsqueeze(-1).expand(D, codes.shape[0], dsub)  # (D, b, dsub)
        return C.gather(1, idx).transpose(0, 1)

    def _assign(self, x: Tensor, C: Tensor) -> Tensor:
        if self.options.bn_assign:
            return bn_assign(x, C, self.options.bn_eps)
        return nearest_centroid(x, C)

    # ---- lookup -------------------------------------------------------------------------------
    def _lookup(self, ids: Tensor) -> Tensor:
        if self.training and fused_supported(self):
            self._aux = None
            return fused_lookup(self, ids)
        return self._lookup_grouped(ids)

    def next_stamp(self) -> int:
        """A fresh stamp for one fused lookup (see `kernels.unique_slots`)."""
        self._stamp += 1
        return self._stamp

    def scratch(self) -> tuple[np.ndarray, np.ndarray]:
        """(mark, slot), each (n,) int64: the fused lookup's per-row dedup state (kernels.unique_slots)."""
        if self._scratch is None:
            self._scratch = (np.zeros(self.cfg.n, np.int64), np.zeros(self.cfg.n, np.int64))
        return self._scratch

    def _lookup_grouped(self, ids: Tensor) -> Tensor:
        """Algorithm 1 with torch ops (any device and option); the fused CPU path must match it."""
        uniq, inv = torch.unique(ids, sorted=True, return_inverse=True)  # sorted ids = grouped ids
        bounds = [0, *torch.searchsorted(uniq, self._cuts).tolist(), uniq.numel()]
        spans = [(i, bounds[i], bounds[i + 1]) for i in range(len(self.groups)) if bounds[i + 1] > bounds[i]]
        X = nn.functional.embedding(uniq, self.weight) if self.training else None  # (U, d)
        codes: list[Tensor] = []
        for i, a, b in spans:
            gids = uniq[a:b]
            if X is None:
                codes.append(self.group_codes(i)[gids - self.groups[i].start])
            else:  # one batched quantization per group (Algorithm 1)
                codes.append(self._quantize(i, gids, X[a:b].detach()))
        if self.shared:  # every group indexes the same table: one decode for the whole batch
            C = self._decode(0, torch.cat(codes)).flatten(1)
        else:
            C = torch.cat([self._decode(i, k).flatten(1) for (i, _, _), k in zip(spans, codes, strict=True)])
        self._aux = None
        if X is None:
            return C[inv]
        Xd = X.detach()
        if self.options.centroid_loss > 0:
            self._aux = self.options.centroid_loss * ((C - Xd) ** 2).mean()
        # Straight-through, once for all groups: value C, gradient to X (weight) and, by default, to C too.
        if not self.options.centroid_task_grad:
            C = C.detach()
        return (C + (X - Xd))[inv]

    @torch.no_grad()
    def _quantize(self, i: int, gids: Tensor, x: Tensor) -> Tensor:
        """Codes of the rows `gids` of group i from their full embeddings x (b, d); written to the buffer.
        Returns (b, D_i) int64."""
        g = self.groups[i]
        codes = self._assign(x.view(gids.numel(), g.D, -1), self.group_table(i).detach())
        self.group_codes(i)[gids - g.start] = codes.to(self.group_codes(i).dtype)
        return codes

    def forward_naive(self, ids: Tensor) -> Tensor:
        """Per-item lookup (a Python loop over the batch, one quantization per id, like the paper's map_fn
        baseline of section 4.3): the benchmark baseline only. The full rows are still gathered in one op so
        the comparison measures the per-item quantization, not B dense weight gradients. Same values,
        gradients and buffer updates as `forward`; the centroid loss is not computed."""
        flat = check_ids(ids, self.cfg.n)
        rows = []
        xs = nn.functional.embedding(flat, self.weight).unbind(0) if self.training else None
        for k, r in enumerate(flat.tolist()):
            i = bisect.bisect_right(self._stops, r)
            rid = flat[k : k + 1]
            if xs is None:
                rows.append(self._decode(i, self.group_codes(i)[rid - self.groups[i].start]).flatten(1))
            else:
                x = xs[k].unsqueeze(0)
                c = self._decode(i, self._quantize(i, rid, x.detach())).flatten(1)
                rows.append((c if self.options.centroid_task_grad else c.detach()) + (x - x.detach()))
        return torch.cat(rows).view(*ids.shape, self.cfg.d)

    def aux_loss(self) -> Tensor:
        """Weighted centroid loss of the last train-mode forward (0 when disabled or after an eval forward).

        Only the LAST forward counts: look up each table once per step (concatenate the ids)."""
        if self._aux is None:
            return torch.zeros((), device=self.weight.device)
        return self._aux

    # ---- post-training ------------------------------------------------------------------------
    @torch.no_grad()
    def fresh_codes(self, i: int) -> Tensor:
        """Assignment of every row of group i from the current weights and centroids: (|V_i|, D_i) int64.

        With batch-norm assignment the statistics are taken over the whole group."""
        g = self.groups[i]
        C = self.group_table(i).detach()
        x = self.weight.detach()[g.start : g.stop].view(g.size, g.D, -1)
        if self.options.bn_assign:
            stats = response_stats(x, C)
            parts = [
                bn_assign(x[a : a + _REFRESH_ROWS], C, self.options.bn_eps, stats)
                for a in range(0, g.size, _REFRESH_ROWS)
            ]
        else:
            parts = [nearest_centroid(x[a : a + _REFRESH_ROWS], C) for a in range(0, g.size, _REFRESH_ROWS)]
        return torch.cat(parts)

    @torch.no_grad()
    def refresh_codes(self) -> None:
        """Recompute the code buffers of ALL rows from the current weights and centroids."""
        for i in range(len(self.groups)):
            self.group_codes(i).copy_(self.fresh_codes(i).to(self.group_codes(i).dtype))

    def train(self, mode: bool = True) -> QuantizedEmbedding:
        """Switching from training to eval refreshes ALL codes, so every evaluation (validation during
        training included) decodes exactly the codes an export right now would ship. Without it the buffer
        holds each row's code from its last lookup, computed against older centroids: 38-64% of the code
        entries differed from a fresh assignment at the end of a reconstruction run (docs/methods.md)."""
        was_training = self.training
        super().train(mode)
        if was_training and not mode:
            self.refresh_codes()
        return self

    def finalize(self) -> None:
        self.refresh_codes()

    # ---- export -------------------------------------------------------------------------------
    def export_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for i, g in enumerate(self.groups):
            dtype = np.uint8 if g.bits <= 8 else np.uint16
            out[f"{prefix}.codes.g{i}"] = to_numpy(self.group_codes(i)).astype(dtype)
        if self.shared:
            out[f"{prefix}.centroids"] = to_numpy(self.centroids).astype(np.float32)
        else:
            for i in range(len(self.groups)):
                out[f"{prefix}.centroids.g{i}"] = to_numpy(self.group_centroids[i]).astype(np.float32)
        return out

    def dense_param_count(self) -> int:
        if self.shared:
            return self.centroids.numel()
        return sum(c.numel() for c in self.group_centroids)

    def extra_repr(self) -> str:
        gs = ", ".join(f"[{g.start},{g.stop}) D={g.D} K={g.K}" for g in self.groups)
        return f"method={self.cfg.method}, variant={self.cfg.variant}, n={self.cfg.n}, d={self.cfg.d}, {gs}"
