"""What one training run optimises and how it is evaluated, per task.

    PointwiseRanking   gmf / neumf on implicit feedback: BCE, `n_neg` uniform negatives per positive,
                       re-sampled every epoch and (by default) re-drawn while they are one of the user's
                       training items, as the NCF code does; all vectorised.
    SequentialRanking  sasrec: BCE with one sampled negative per position (the original SASRec loss).
    Regression         gmf task "rating" (user, item, rating) and relevance (item, item, label): squared loss.

Each objective yields batches of tensors for an epoch, computes the loss of a batch, and evaluates the model
(full-ranking HR@10 / NDCG@10 in percent, or RMSE). `primary` names the validation metric used for early
stopping and `higher_is_better` its direction.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, cast

import numpy as np
import torch
from torch import nn

from mgqe.trainer.data.protocol import SplitData
from mgqe.trainer.metrics import evaluate_full_ranking

Batch = tuple[torch.Tensor, ...]
# users * items above which seen-item checks use sorted keys (GMF/NeuMF) or are skipped (SASRec)
_DENSE_MASK_LIMIT = 50_000_000


def _batches(n: int, batch_size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    perm = rng.permutation(n)
    for s in range(0, n, batch_size):
        yield perm[s : s + batch_size]


def full_ranking(score_fn: object, split: SplitData, which: str, batch: int = 1024) -> dict[str, float]:
    """HR@10 / NDCG@10 (percent) by the project protocol (mgqe.trainer.metrics); score_fn(users)->(B, n)."""
    return dict(evaluate_full_ranking(score_fn, split, which, k=10, batch_size=batch))  # type: ignore[arg-type]


class FullRanker(Protocol):
    """What full-ranking evaluation calls on a backbone (GMF, NeuMF, SASRec); mypy sees an nn.Module's
    submodules only as `Tensor | Module`, so evaluate() casts the model to this."""

    def item(self, ids: torch.Tensor) -> torch.Tensor: ...  # the item table: (...,) ids -> (..., d)

    def score_all(self, queries: torch.Tensor, item_table: torch.Tensor | None = None) -> torch.Tensor: ...


class Objective:
    primary = "hr@10"
    higher_is_better = True

    def epoch(self, rng: np.random.Generator, batch_size: int, device: torch.device) -> Iterator[Batch]:
        raise NotImplementedError

    def n_batches(self, batch_size: int) -> int:
        raise NotImplementedError

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        raise NotImplementedError

    def evaluate(self, model: nn.Module, which: str, device: torch.device, eval_batch: int = 1024,
                 ) -> dict[str, float]:
        raise NotImplementedError


class TrainPairs:
    """Membership test for (user, item) training pairs: a dense (n_users, n_items) bool mask when it fits,
    else the sorted int64 keys user * n_items + item (O(n_train) memory, one searchsorted per query)."""

    def __init__(self, split: SplitData) -> None:
        self.n_items = split.n_items
        self.seen: np.ndarray | None = None  # (n_users, n_items) bool
        self.keys: np.ndarray | None = None  # (n_train_unique,) int64, sorted
        if split.n_users * split.n_items <= _DENSE_MASK_LIMIT:
            self.seen = np.zeros((split.n_users, split.n_items), bool)
            self.seen[split.train_users, split.train_items] = True
        else:
            self.keys = np.unique(split.train_users.astype(np.int64) * split.n_items + split.train_items)

    def contains(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """(M,) bool: whether each (users[j], items[j]) is a training pair."""
        if self.seen is not None:
            return self.seen[users, items]
        assert self.keys is not None
        if self.keys.size == 0:
            return np.zeros(users.shape, bool)
        k = users.astype(np.int64) * self.n_items + items
        return self.keys[np.minimum(np.searchsorted(self.keys, k), self.keys.size - 1)] == k


class PointwiseRanking(Objective):
    """GMF / NeuMF: every training pair is a positive; n_neg uniform item ids per positive are negatives.

    With `neg_filter` (the default, as in the NCF code the paper's GMF comes from) a negative that is one of
    the user's training items is re-drawn until it is not. Unfiltered, some negatives are true positives
    labelled 0, which cost GMF part of a point of test HR@10 (measured in docs/gmf-gap.md).
    `neg_filter=False` keeps the exact random stream of the earlier, unfiltered runs.
    """

    max_rounds = 100  # only a user who has (nearly) every item in training could exhaust these

    def __init__(self, split: SplitData, n_neg: int, neg_filter: bool = True) -> None:
        self.split = split
        self.n_neg = n_neg
        self.pairs = TrainPairs(split) if neg_filter else None

    def negatives(self, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(M,) int64 negative item ids for (M,) user ids; one rng draw of M first, re-draws only for hits."""
        neg = rng.integers(0, self.split.n_items, size=users.size)
        if self.pairs is None:
            return neg
        todo = np.flatnonzero(self.pairs.contains(users, neg))
        for _ in range(self.max_rounds):
            if todo.size == 0:
                break
            neg[todo] = rng.integers(0, self.split.n_items, size=todo.size)
            todo = todo[self.pairs.contains(users[todo], neg[todo])]
        return neg

    def n_batches(self, batch_size: int) -> int:
        return -(-self.split.n_train * (1 + self.n_neg) // batch_size)

    def epoch(self, rng: np.random.Generator, batch_size: int, device: torch.device) -> Iterator[Batch]:
        s = self.split
        N = s.n_train
        users = np.tile(s.train_users, 1 + self.n_neg)
        items = np.concatenate([s.train_items, self.negatives(users[N:], rng)])
        labels = np.concatenate([np.ones(N, np.float32), np.zeros(N * self.n_neg, np.float32)])
        u_t, i_t, y_t = (torch.from_numpy(a) for a in (users, items, labels))
        for idx in _batches(users.size, batch_size, rng):
            ix = torch.from_numpy(idx)
            yield u_t[ix].to(device), i_t[ix].to(device), y_t[ix].to(device)

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        u, i, y = batch
        return nn.functional.binary_cross_entropy_with_logits(model(u, i), y)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, which: str, device: torch.device, eval_batch: int = 1024,
                 ) -> dict[str, float]:
        ranker = cast(FullRanker, model)
        E = ranker.item(torch.arange(self.split.n_items, device=device))
        # NeuMF runs its MLP on every (user, item) pair: 500k pairs x 2d floats is about 256 MB
        b = eval_batch if not hasattr(model, "mlp") else max(1, 500_000 // self.split.n_items)

        def score(u: np.ndarray) -> np.ndarray:
            out = [ranker.score_all(torch.from_numpy(u[s : s + b]).to(device), E).cpu().numpy()
                   for s in range(0, len(u), b)]
            return np.concatenate(out) if out else np.zeros((0, self.split.n_items), np.float32)

        return full_ranking(score, self.split, which, batch=eval_batch)


class SequentialRanking(Objective):
    """SASRec: each user's last max_len+1 training items give input positions and next-item targets; one
    uniform negative per position, re-drawn when it is one of the user's training items (when the dense
    users x items mask fits in memory)."""

    def __init__(self, split: SplitData, max_len: int) -> None:
        self.split = split
        self.L = max_len
        n, pad = split.n_items, split.n_items
        self.seq = np.full((split.n_users, max_len), pad, np.int64)
        self.pos = np.full((split.n_users, max_len), pad, np.int64)
        self.valid_seq = np.full((split.n_users, max_len), pad, np.int64)
        self.test_seq = np.full((split.n_users, max_len), pad, np.int64)
        for u in range(split.n_users):
            h = split.user_items(u)
            x, y = h[:-1][-max_len:], h[1:][-max_len:]
            self.seq[u, max_len - x.size :] = x
            self.pos[u, max_len - y.size :] = y
            v = h[-max_len:]
            self.valid_seq[u, max_len - v.size :] = v
            t = np.append(h, split.valid[u])[-max_len:] if split.valid[u] >= 0 else v
            self.test_seq[u, max_len - t.size :] = t
        self.users = np.flatnonzero((self.pos < pad).any(1))
        self.seen: np.ndarray | None = None
        if split.n_users * n <= _DENSE_MASK_LIMIT:
            self.seen = np.zeros((split.n_users, n), bool)
            self.seen[split.train_users, split.train_items] = True

    def n_batches(self, batch_size: int) -> int:
        return -(-self.users.size // batch_size)

    def _negatives(self, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        neg = rng.integers(0, self.split.n_items, size=(users.size, self.L))
        if self.seen is not None:
            for _ in range(10):  # rejection: after 10 rounds the rare leftovers stay (documented)
                bad = self.seen[users[:, None], neg]
                if not bad.any():
                    break
                neg[bad] = rng.integers(0, self.split.n_items, size=int(bad.sum()))
        return neg

    def epoch(self, rng: np.random.Generator, batch_size: int, device: torch.device) -> Iterator[Batch]:
        for idx in _batches(self.users.size, batch_size, rng):
            u = self.users[idx]
            arrays = (self.seq[u], self.pos[u], self._negatives(u, rng))
            yield tuple(torch.from_numpy(a).to(device) for a in arrays)

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        seq, pos, neg = batch
        lp, ln = model(seq, pos, neg)
        m = (pos < self.split.n_items).float()
        bce = nn.functional.binary_cross_entropy_with_logits
        per = bce(lp, torch.ones_like(lp), reduction="none") + bce(ln, torch.zeros_like(ln), reduction="none")
        return (per * m).sum() / m.sum()

    @torch.no_grad()
    def evaluate(self, model: nn.Module, which: str, device: torch.device, eval_batch: int = 1024,
                 ) -> dict[str, float]:
        ranker = cast(FullRanker, model)
        E = ranker.item(torch.arange(self.split.n_items, device=device))
        seqs = self.valid_seq if which == "valid" else self.test_seq

        def score(u: np.ndarray) -> np.ndarray:
            return ranker.score_all(torch.from_numpy(seqs[u]).to(device), E).cpu().numpy()

        return full_ranking(score, self.split, which, batch=min(eval_batch, 512))


@dataclass(frozen=True)
class PairData:
    """Graded pairs for regression: (a, b, y) for train and test: a, b (N,) int64 ids, y (N,) float32.

    n_a, n_b: vocabulary sizes of the two sides (users and items for ratings; items twice for relevance);
    a_vocab/b_vocab: original ids of the internal ids, a_freq/b_freq their training counts (non-increasing).
    """

    name: str
    train: tuple[np.ndarray, np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray, np.ndarray]
    n_a: int
    n_b: int
    a_vocab: np.ndarray
    b_vocab: np.ndarray
    source: str = ""


class Regression(Objective):
    """Squared loss on (a, b, y); metric RMSE (lower is better). There is no validation split in the paper's
    90/10 protocol, so "valid" and "test" both report the held-out 10% and no epoch is selected on it."""

    primary = "rmse"
    higher_is_better = False

    def __init__(self, data: PairData) -> None:
        self.data = data

    def n_batches(self, batch_size: int) -> int:
        return -(-self.data.train[0].size // batch_size)

    def epoch(self, rng: np.random.Generator, batch_size: int, device: torch.device) -> Iterator[Batch]:
        a, b, y = (torch.from_numpy(np.ascontiguousarray(x)) for x in self.data.train)
        for idx in _batches(a.numel(), batch_size, rng):
            ix = torch.from_numpy(idx)
            yield a[ix].to(device), b[ix].to(device), y[ix].float().to(device)

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        a, b, y = batch
        return nn.functional.mse_loss(model(a, b), y)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, which: str, device: torch.device, eval_batch: int = 1024,
                 ) -> dict[str, float]:
        a, b, y = self.data.test
        se = 0.0
        step = 65536
        for s in range(0, a.size, step):
            ta, tb = (torch.from_numpy(x[s : s + step]).to(device) for x in (a, b))
            p = model(ta, tb)
            se += float(((p.cpu().double() - torch.from_numpy(y[s : s + step]).double()) ** 2).sum())
        return {"rmse": float(np.sqrt(se / max(a.size, 1)))}
