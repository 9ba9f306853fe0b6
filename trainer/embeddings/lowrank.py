"""Low-rank factorisation (LRF): e = A[id] @ B with A (n, r), B (r, d); 32 n r + 32 r d bits."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from mgqe.proto.config import EmbeddingConfig

from .base import Embedding, to_numpy


class LowRankEmbedding(Embedding):
    """A: (n, r) float32, B: (r, d) float32.

    Both factors start N(0, sqrt(init_std / sqrt(r))) so that the product's entries have standard deviation
    init_std, the same starting scale as the full embedding (Var(e) = r * var(A) * var(B)).
    """

    def __init__(self, cfg: EmbeddingConfig, *, init_std: float = 0.01) -> None:
        super().__init__(cfg)
        assert cfg.rank is not None
        r = cfg.rank
        std = math.sqrt(init_std / math.sqrt(r))
        self.A = nn.Parameter(torch.randn(cfg.n, r) * std)
        self.B = nn.Parameter(torch.randn(r, cfg.d) * std)

    def _lookup(self, ids: Tensor) -> Tensor:
        return nn.functional.embedding(ids, self.A) @ self.B

    def export_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {
            f"{prefix}.A": to_numpy(self.A).astype(np.float32),
            f"{prefix}.B": to_numpy(self.B).astype(np.float32),
        }

    def dense_param_count(self) -> int:
        assert self.cfg.rank is not None
        return self.cfg.n * self.cfg.rank + self.cfg.rank * self.cfg.d
