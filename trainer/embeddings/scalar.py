"""Scalar quantization (SQ), post-training: per-dimension min/max and 2**b evenly spaced levels.

Training is plain FE. `finalize()` computes lo, hi (d,) and codes (n, d) with
    codes = round((w - lo) / (hi - lo) * (2**b - 1)),    decode: e = lo + codes * (hi - lo) / (2**b - 1)
after which `forward` returns the dequantized values (what the server decodes), without gradients.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from mgqe.proto.config import EmbeddingConfig

from .base import Embedding, to_numpy


class ScalarQuantizedEmbedding(Embedding):
    """weight: (n, d) float32 (training); after finalize: codes (n, d) int32, lo/hi (d,) float32."""

    codes: Tensor
    lo: Tensor
    hi: Tensor
    finalized: Tensor

    def __init__(self, cfg: EmbeddingConfig, *, init_std: float = 0.01) -> None:
        super().__init__(cfg)
        assert cfg.bits is not None
        self.bits = cfg.bits
        self.weight = nn.Parameter(torch.randn(cfg.n, cfg.d) * init_std)
        # Buffers so a finalized model round-trips through state_dict.
        self.register_buffer("codes", torch.zeros(cfg.n, cfg.d, dtype=torch.int32))
        self.register_buffer("lo", torch.zeros(cfg.d))
        self.register_buffer("hi", torch.zeros(cfg.d))
        self.register_buffer("finalized", torch.zeros((), dtype=torch.bool))

    @property
    def levels(self) -> int:
        return (1 << self.bits) - 1

    def _step(self) -> Tensor:  # (d,) float32 width of one bucket; 0 where a dimension is constant
        return (self.hi - self.lo) / self.levels

    def _lookup(self, ids: Tensor) -> Tensor:
        if bool(self.finalized):
            return self.lo + self.codes[ids].float() * self._step()
        return nn.functional.embedding(ids, self.weight)

    @torch.no_grad()
    def finalize(self) -> None:
        w = self.weight.detach()
        self.lo.copy_(w.min(dim=0).values)
        self.hi.copy_(w.max(dim=0).values)
        step = self._step()
        # A constant dimension has step 0: every code is 0 and decodes to lo exactly.
        safe = torch.where(step > 0, step, torch.ones_like(step))
        q = torch.round((w - self.lo) / safe).clamp_(0, self.levels)
        self.codes.copy_(torch.where(step > 0, q, torch.zeros_like(q)).to(torch.int32))
        self.finalized.fill_(True)

    def export_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        if not bool(self.finalized):
            raise RuntimeError(f"sq table {prefix!r}: call finalize() before export_arrays()")
        dtype = np.uint8 if self.bits <= 8 else np.uint16
        return {
            f"{prefix}.codes": to_numpy(self.codes).astype(dtype),
            f"{prefix}.lo": to_numpy(self.lo).astype(np.float32),
            f"{prefix}.hi": to_numpy(self.hi).astype(np.float32),
        }

    def dense_param_count(self) -> int:
        return 2 * self.cfg.d
