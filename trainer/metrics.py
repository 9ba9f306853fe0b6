"""Full-ranking evaluation: HR@k and NDCG@k in percent over ALL items (the paper's protocol).

For each evaluated user the target (validation or test item) is ranked against every item except the
user's training items (and, at test time, the validation item). Rank = number of unmasked items that
score strictly higher than the target PLUS the number of other unmasked items that score exactly the
same (ties count against the model: a constant scorer gets HR 0, never a lucky hit).
HR@k = mean(rank < k); NDCG@k = mean(1 / log2(rank + 2) if rank < k else 0); both x 100.
Works on numpy arrays or torch tensors (on their own device) returned by the scorer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from mgqe.trainer.data.protocol import SplitData

ScoreFn = Callable[[np.ndarray], Any]  # (B,) int64 users -> (B, n_items) np.ndarray or torch.Tensor


def _mask_coords(split: SplitData, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row index in the batch and item id of every training item of `users`: two (M,) int64 arrays."""
    starts = split.train_indptr[users]
    lens = split.train_indptr[users + 1] - starts
    rows = np.repeat(np.arange(users.size, dtype=np.int64), lens)
    offsets = np.arange(lens.sum(), dtype=np.int64) - np.repeat(np.cumsum(lens) - lens, lens)
    return rows, split.train_items[np.repeat(starts, lens) + offsets]


def known_coords(split: SplitData, users: np.ndarray, which: str) -> tuple[np.ndarray, np.ndarray]:
    """What the protocol never ranks for `users`: their training items and, when `which` is "test", their
    validation item. (rows in the batch, item ids): two (M,) int64 arrays."""
    rows, cols = _mask_coords(split, users)
    if which == "test":  # the validation item is known at test time
        v = split.valid[users]
        has = np.flatnonzero(v >= 0)
        rows, cols = np.r_[rows, has], np.r_[cols, v[has]]
    return rows, cols


def ranks_of_targets(scores: Any, targets: np.ndarray, mask_rows: np.ndarray,
                     mask_cols: np.ndarray) -> np.ndarray:
    """Pessimistic 0-based rank of each target among the unmasked items.

    scores: (B, n) float numpy array or torch tensor; targets: (B,) int64; mask_rows/cols: (M,) int64
    coordinates excluded from the ranking. Returns (B,) int64.
    """
    B = targets.size
    if isinstance(scores, np.ndarray):
        ar = np.arange(B)
        t = scores[ar, targets]
        if np.isnan(t).any():
            raise ValueError("score_fn returned NaN for a target item")
        above = scores >= t[:, None]  # strictly higher or tied
        above[mask_rows, mask_cols] = False
        above[ar, targets] = False
        return above.sum(axis=1).astype(np.int64)
    import torch

    dev = scores.device
    ar_t = torch.arange(B, device=dev)
    tg = torch.as_tensor(targets, device=dev)
    t_t = scores[ar_t, tg]
    if torch.isnan(t_t).any():
        raise ValueError("score_fn returned NaN for a target item")
    above_t = scores >= t_t[:, None]
    above_t[torch.as_tensor(mask_rows, device=dev), torch.as_tensor(mask_cols, device=dev)] = False
    above_t[ar_t, tg] = False
    return above_t.sum(dim=1).cpu().numpy().astype(np.int64)


def evaluate_full_ranking(score_fn: ScoreFn, split: SplitData, which: Literal["valid", "test"] = "valid",
                          k: int = 10, batch_size: int = 1024, users: np.ndarray | None = None,
                          ) -> dict[str, float]:
    """HR@k and NDCG@k (percent) of `score_fn` on the validation or test items of `split`.

    score_fn(users: (B,) int64 internal ids) -> (B, n_items) scores, higher = better.
    users: optional (U,) internal user ids to evaluate (default all); users without a target are skipped.
    Returns {"hr@k": float, "ndcg@k": float, "users": number evaluated}.
    """
    if which not in ("valid", "test"):
        raise ValueError(f"which={which!r} must be 'valid' or 'test'")
    if k < 1 or batch_size < 1:
        raise ValueError(f"k={k} and batch_size={batch_size} must be >= 1")
    target_all = split.valid if which == "valid" else split.test
    cand = np.arange(split.n_users, dtype=np.int64) if users is None else np.asarray(users, dtype=np.int64)
    if cand.size and (cand.min() < 0 or cand.max() >= split.n_users):
        raise ValueError(f"users must be internal ids in [0, {split.n_users})")
    cand = cand[target_all[cand] >= 0]
    hits, ndcg = 0.0, 0.0
    for lo in range(0, cand.size, batch_size):
        u = cand[lo : lo + batch_size]
        scores = score_fn(u)
        if not hasattr(scores, "shape"):  # e.g. nested lists
            scores = np.asarray(scores)
        if tuple(scores.shape) != (u.size, split.n_items):
            raise ValueError(
                f"score_fn returned shape {tuple(scores.shape)}, expected ({u.size}, {split.n_items})")
        rows, cols = known_coords(split, u, which)
        r = ranks_of_targets(scores, target_all[u], rows, cols)
        hit = r < k
        hits += float(hit.sum())
        ndcg += float((1.0 / np.log2(r[hit] + 2.0)).sum())
    n = cand.size
    return {f"hr@{k}": 100.0 * hits / max(n, 1), f"ndcg@{k}": 100.0 * ndcg / max(n, 1), "users": n}
