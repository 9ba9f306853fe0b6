"""Full embedding (FE): an (n, d) float32 table, 32 n d bits."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from mgqe.proto.config import EmbeddingConfig

from .base import Embedding, to_numpy


class FullEmbedding(Embedding):
    """weight: (n, d) float32, initialised N(0, init_std)."""

    def __init__(self, cfg: EmbeddingConfig, *, init_std: float = 0.01) -> None:
        super().__init__(cfg)
        self.weight = nn.Parameter(torch.randn(cfg.n, cfg.d) * init_std)

    def _lookup(self, ids: Tensor) -> Tensor:
        return nn.functional.embedding(ids, self.weight)

    def export_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}.weight": to_numpy(self.weight).astype(np.float32)}

    def dense_param_count(self) -> int:
        return self.cfg.n * self.cfg.d
