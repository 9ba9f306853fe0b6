"""SASRec (Kang & McAuley, 2018): causal self-attention over the last L items, item table shared between the
input and the output layer. The padding id is `n_items` and maps to a zero vector outside the (compressed)
table, so the table itself has exactly n_items rows.

Forward (docs/architecture.md): x = E[seq]·sqrt(d) + pos; x *= mask; per block: q = ln1(x);
x = q + attn(q, x, x, causal); x = ln2(x); x = x + ffn2(relu(ffn1(x))); x *= mask; h = last_ln(x).
Dropout (training only) follows the original: after the embedding sum, inside attention, after ffn1 and ffn2.
"""

from __future__ import annotations

import math

import torch
from torch import nn

LN_EPS = 1e-8


class Block(nn.Module):
    def __init__(self, d: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d, eps=LN_EPS)
        self.attn = nn.MultiheadAttention(d, n_heads, dropout=dropout, batch_first=True)
        self.ln2 = nn.LayerNorm(d, eps=LN_EPS)
        self.ffn1 = nn.Linear(d, d)
        self.ffn2 = nn.Linear(d, d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, causal: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x: (B, L, d); causal: (L, L) bool, True = blocked; mask: (B, L, 1) float."""
        q = self.ln1(x)
        a, _ = self.attn(q, x, x, attn_mask=causal, need_weights=False)
        x = self.ln2(q + a)
        x = x + self.drop(self.ffn2(self.drop(torch.relu(self.ffn1(x)))))
        return x * mask


class SASRec(nn.Module):
    """Dense weights: pos.weight (L, d), blocks.{b}.{ln1,attn,ln2,ffn1,ffn2}.*, last_ln.{weight,bias}."""

    def __init__(self, item: nn.Module, d: int, n_items: int, max_len: int = 50, n_blocks: int = 2,
                 n_heads: int = 1, dropout: float = 0.2, pos_init_std: float | None = None) -> None:
        super().__init__()
        self.item = item
        self.n_items = n_items
        self.d = d
        self.max_len = max_len
        self.pos = nn.Embedding(max_len, d)
        if pos_init_std is not None:  # else torch's N(0, 1), which outweighs items at N(0, 0.01) * sqrt(d)
            nn.init.normal_(self.pos.weight, std=pos_init_std)
        self.blocks = nn.ModuleList(Block(d, n_heads, dropout) for _ in range(n_blocks))
        self.last_ln = nn.LayerNorm(d, eps=LN_EPS)
        self.emb_drop = nn.Dropout(dropout)
        causal = ~torch.tril(torch.ones(max_len, max_len, dtype=torch.bool))  # True = may not attend
        self.register_buffer("causal", causal, persistent=False)

    @property
    def pad(self) -> int:
        return self.n_items

    def embed_items(self, ids: torch.Tensor) -> torch.Tensor:
        """(...,) ids with pad = n_items -> (..., d); the pad is a zero vector outside the table."""
        valid = ids < self.n_items
        e = self.item(torch.where(valid, ids, torch.zeros_like(ids)))
        return e * valid.unsqueeze(-1).to(e.dtype)

    def hidden(self, seq: torch.Tensor) -> torch.Tensor:
        """seq: (B, L) int64 left-padded with n_items -> (B, L, d) float32 hidden states."""
        L = seq.shape[1]
        if self.max_len != L:
            raise ValueError(f"sequence length {L} != max_len {self.max_len}")
        mask = (seq < self.n_items).unsqueeze(-1).float()
        x = self.embed_items(seq) * math.sqrt(self.d) + self.pos.weight
        x = self.emb_drop(x) * mask
        for b in self.blocks:
            x = b(x, self.causal, mask)
        return self.last_ln(x)

    def forward(self, seq: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor,
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """seq, pos, neg: (B, L) -> positive and negative logits (B, L) (pad positions included)."""
        h = self.hidden(seq)
        return (h * self.embed_items(pos)).sum(-1), (h * self.embed_items(neg)).sum(-1)

    def score_all(self, seq: torch.Tensor, item_table: torch.Tensor | None = None) -> torch.Tensor:
        """(B, L) histories -> (B, n_items) scores of every item for the next position."""
        E = item_table if item_table is not None else self.item(torch.arange(self.n_items, device=seq.device))
        return self.hidden(seq)[:, -1, :] @ E.T
