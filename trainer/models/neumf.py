"""Neural Matrix Factorization (He et al., NCF 2017) without pre-training.

One user and one item table of width d serve both the GMF and the MLP branch (so every table is compressed
once); score = out(cat(e_u ⊙ e_i, mlp(cat(e_u, e_i)))) with a pyramid MLP of three ReLU layers.
"""

from __future__ import annotations

import torch
from torch import nn


class NeuMF(nn.Module):
    """Dense weights: mlp.{0,2,4}.{weight,bias} (Linear layers, ReLU after each), out.weight (1, d + h3)."""

    def __init__(self, user: nn.Module, item: nn.Module, d: int, n_items: int,
                 mlp: tuple[int, ...] = (64, 32, 16)) -> None:
        super().__init__()
        if len(mlp) != 3:
            raise ValueError(f"NeuMF needs 3 hidden layer sizes, got {mlp}")
        self.user = user
        self.item = item
        self.n_items = n_items
        h1, h2, h3 = mlp
        self.mlp = nn.Sequential(
            nn.Linear(2 * d, h1), nn.ReLU(), nn.Linear(h1, h2), nn.ReLU(), nn.Linear(h2, h3), nn.ReLU()
        )
        self.out = nn.Linear(d + h3, 1)

    def _score(self, eu: torch.Tensor, ei: torch.Tensor) -> torch.Tensor:
        """eu, ei: (..., d) -> (...,) scores."""
        return self.out(torch.cat([eu * ei, self.mlp(torch.cat([eu, ei], dim=-1))], dim=-1)).squeeze(-1)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """users, items: (B,) int64 -> (B,) float32 logits."""
        return self._score(self.user(users), self.item(items))

    def score_all(self, users: torch.Tensor, item_table: torch.Tensor | None = None) -> torch.Tensor:
        """(B,) user ids -> (B, n_items) logits; the MLP runs on all B * n_items pairs."""
        E = self.item(torch.arange(self.n_items, device=users.device)) if item_table is None else item_table
        eu = self.user(users)  # (B, d)
        B, n = eu.shape[0], E.shape[0]
        return self._score(eu[:, None, :].expand(B, n, -1), E[None, :, :].expand(B, n, -1))
