"""Item-pair relevance regression (the paper's Task 3: GMF with a squared loss).

score(i, j) = out(e_i ⊙ e_j).
"""

from __future__ import annotations

import torch
from torch import nn


class Relevance(nn.Module):
    """Dense weights: out.weight (1, d), out.bias (1,). Only an item table."""

    def __init__(self, item: nn.Module, d: int, n_items: int) -> None:
        super().__init__()
        self.item = item
        self.n_items = n_items
        self.out = nn.Linear(d, 1)

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """left, right: (B,) int64 item ids -> (B,) float32 predicted relevance."""
        return self.out(self.item(left) * self.item(right)).squeeze(-1)
