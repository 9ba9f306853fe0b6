"""The one interface every embedding method implements: ids of any shape -> (..., d) float32.

Backbones only ever talk to `Embedding`, so a table's method is a config choice
(see `factory.build_embedding`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from mgqe.proto.config import EmbeddingConfig


class Embedding(nn.Module):
    """Base class of FE, LRF, SQ, DPQ and MGQE tables.

    Subclasses implement `_lookup(flat_ids) -> (B, d)`, `export_arrays` and `dense_param_count`; they may
    override `aux_loss` (DPQ/MGQE centroid loss) and `finalize` (post-training work).
    """

    cfg: EmbeddingConfig

    def __init__(self, cfg: EmbeddingConfig) -> None:
        super().__init__()
        self.cfg = cfg

    @property
    def n(self) -> int:
        return self.cfg.n

    @property
    def d(self) -> int:
        return self.cfg.d

    def forward(self, ids: Tensor) -> Tensor:
        """ids: integer tensor of any shape (...) with values in [0, n) -> (..., d) float32."""
        flat = check_ids(ids, self.cfg.n)
        if flat.numel() == 0:
            return torch.zeros(*ids.shape, self.cfg.d, device=self._device())
        return self._lookup(flat).view(*ids.shape, self.cfg.d)

    def _lookup(self, ids: Tensor) -> Tensor:  # (B,) int64 -> (B, d) float32
        raise NotImplementedError

    def aux_loss(self) -> Tensor:
        """Extra loss the trainer adds to the task loss (0 for methods without one); scalar float32."""
        return torch.zeros((), device=self._device())

    def finalize(self) -> None:
        """Post-training work before evaluation/export (no-op for FE and LRF)."""

    def export_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """Artifact arrays of this table named `prefix.<array>` (names per mgqe.proto.config)."""
        raise NotImplementedError

    def dense_param_count(self) -> int:
        """Number of float32 values the served table stores (codes excluded)."""
        raise NotImplementedError

    def _device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        return torch.device("cpu")

    def extra_repr(self) -> str:
        return f"method={self.cfg.method}, n={self.cfg.n}, d={self.cfg.d}"


def check_ids(ids: Tensor, n: int) -> Tensor:
    """Validate a lookup: integer dtype and every id in [0, n). Returns the ids flattened to (B,) int64.

    Raises TypeError for a non-integer tensor and IndexError naming the offending id otherwise, because
    an out-of-range id would otherwise silently read a wrong group's codes in the grouped lookup.
    """
    if not isinstance(ids, Tensor):
        raise TypeError(f"ids must be a torch.Tensor, got {type(ids).__name__}")
    if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
        raise TypeError(f"ids must be an integer tensor, got dtype {ids.dtype}")
    flat = ids.reshape(-1).long()
    if flat.numel():
        lo, hi = int(flat.min()), int(flat.max())
        if lo < 0 or hi >= n:
            bad = lo if lo < 0 else hi
            raise IndexError(f"id {bad} is out of range for a table of n={n} rows")
    return flat


def to_numpy(t: Tensor) -> np.ndarray:
    """Detached CPU copy as numpy (export helper)."""
    return t.detach().cpu().numpy().copy()
