"""Generalized Matrix Factorization (He et al., NCF 2017): score(u, i) = out(e_u ⊙ e_i).

With task "ranking" the score is a logit trained with BCE on sampled negatives; with task "rating" it is the
predicted rating, trained with squared loss.
"""

from __future__ import annotations

import torch
from torch import nn


class GMF(nn.Module):
    """Dense weights: out.weight (1, d), out.bias (1,)."""

    def __init__(self, user: nn.Module, item: nn.Module, d: int, n_items: int, task: str = "ranking") -> None:
        super().__init__()
        self.task = task
        self.user = user
        self.item = item
        self.n_items = n_items
        self.out = nn.Linear(d, 1)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """users, items: (B,) int64 internal ids -> (B,) float32 scores."""
        return self.out(self.user(users) * self.item(items)).squeeze(-1)

    def score_all(self, users: torch.Tensor, item_table: torch.Tensor | None = None) -> torch.Tensor:
        """(B,) user ids -> (B, n_items) scores against every item. item_table: (n_items, d) precomputed."""
        E = self.item(torch.arange(self.n_items, device=users.device)) if item_table is None else item_table
        q = self.user(users) * self.out.weight[0]  # fold the output weights into the query: (B, d)
        return q @ E.T + self.out.bias
