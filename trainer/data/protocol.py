"""The paper's protocol (section 5.1): leave-last-out split and frequency remapping of ids.

Tie rules (deterministic): users with fewer than 3 interactions keep everything in training and have no
validation or test item (SASRec's rule). Internal ids sort by descending training count; equal counts
sort by ascending original id. Items seen only in validation/test (or only in the catalogue) get
training count 0 and the last ids.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mgqe.trainer.data.errors import NoInteractionsError
from mgqe.trainer.data.interactions import Interactions


@dataclass(frozen=True)
class SplitData:
    """Leave-last-out split with internal ids remapped by descending TRAINING popularity (0 = most popular).

    train_users, train_items: (N,) int64, sorted by internal user id, each user's items in time order
    train_indptr: (n_users+1,) int64; user u's training items are train_items[indptr[u]:indptr[u+1]]
    valid, test: (n_users,) int64 internal item id (second to last / last), -1 if the user has none
    user_vocab, item_vocab: (n_users,), (n_items,) int64 original id of each internal id
    item_freq, user_freq: (n_items,), (n_users,) int64 training counts, non-increasing
    synthetic: True only for generated data; `label` says so in every output that shows the dataset
    source: files read or generator parameters
    """

    name: str
    n_users: int
    n_items: int
    train_users: np.ndarray
    train_items: np.ndarray
    train_indptr: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    user_vocab: np.ndarray
    item_vocab: np.ndarray
    item_freq: np.ndarray
    user_freq: np.ndarray
    synthetic: bool
    source: str = ""

    @property
    def label(self) -> str:
        """Name for display: synthetic data can never pass for real data in any output."""
        return f"{self.name} [SYNTHETIC: generated, not real data]" if self.synthetic else self.name

    @property
    def n_train(self) -> int:
        return int(self.train_items.size)

    def user_items(self, u: int) -> np.ndarray:
        """User u's training items in time order: (len,) int64."""
        return self.train_items[self.train_indptr[u] : self.train_indptr[u + 1]]


def frequency_order(ids: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Permutation putting ids in descending count, ties by ascending id. ids, counts: (n,) int64."""
    return np.lexsort((ids, -counts))


def _remap(orig_ids: np.ndarray, train_mask: np.ndarray, catalogue: np.ndarray | None,
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> (internal id of every row (N,), vocab (n,), training freq (n,)), all int64."""
    if catalogue is None:
        uniq, inv = np.unique(orig_ids, return_inverse=True)
    else:
        uniq = catalogue
        inv = np.searchsorted(uniq, orig_ids)
        if (inv >= uniq.size).any() or (uniq[np.minimum(inv, uniq.size - 1)] != orig_ids).any():
            raise ValueError("interactions mention items outside the declared catalogue")
    counts = np.bincount(inv[train_mask], minlength=uniq.size).astype(np.int64)
    order = frequency_order(uniq, counts)
    new_of_old = np.empty(uniq.size, dtype=np.int64)
    new_of_old[order] = np.arange(uniq.size, dtype=np.int64)
    return new_of_old[inv], uniq[order].astype(np.int64), counts[order]


def leave_last_out(data: Interactions) -> SplitData:
    """Split each user's time-ordered history: last -> test, second to last -> validation, rest -> train."""
    users, items = data.users, data.items
    if users.size == 0:
        raise NoInteractionsError(f"{data.label}: no interactions in {data.source}")
    if (np.diff(users) < 0).any():
        raise ValueError(f"{data.label}: rows must be grouped by user (see group_by_user)")
    N = users.size
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    lengths = np.diff(np.r_[starts, N])
    pos_from_end = np.repeat(starts + lengths, lengths) - np.arange(N) - 1  # 0 = last item
    has_holdout = np.repeat(lengths >= 3, lengths)
    is_test = has_holdout & (pos_from_end == 0)
    is_valid = has_holdout & (pos_from_end == 1)
    is_train = ~(is_test | is_valid)

    item_new, item_vocab, item_freq = _remap(items, is_train, data.all_items)
    user_new, user_vocab, user_freq = _remap(users, is_train, None)
    n_users, n_items = user_vocab.size, item_vocab.size

    tr_u, tr_i = user_new[is_train], item_new[is_train]
    order = np.argsort(tr_u, kind="stable")  # keeps time order inside each user
    tr_u, tr_i = tr_u[order], tr_i[order]
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(tr_u, minlength=n_users), out=indptr[1:])
    valid = np.full(n_users, -1, dtype=np.int64)
    test = np.full(n_users, -1, dtype=np.int64)
    valid[user_new[is_valid]] = item_new[is_valid]
    test[user_new[is_test]] = item_new[is_test]
    return SplitData(
        name=data.name, n_users=int(n_users), n_items=int(n_items),
        train_users=tr_u, train_items=tr_i, train_indptr=indptr, valid=valid, test=test,
        user_vocab=user_vocab, item_vocab=item_vocab, item_freq=item_freq, user_freq=user_freq,
        synthetic=data.synthetic, source=data.source,
    )


def popularity_groups(n: int, head_fractions: Sequence[float] = (0.1,)) -> list[int]:
    """Stop bounds of contiguous popularity groups over internal ids 0..n-1 (0 = most popular).

    head_fractions: increasing cumulative fractions in (0, 1) of the vocabulary; group i ends at
    ceil(f_i * n). Example: n=3416, (0.1,) -> [342, 3416] (top 10% head, rest tail). The result feeds
    `EmbeddingConfig.mgqe(bounds=...)`.
    """
    if n < 1:
        raise ValueError(f"n={n} must be >= 1")
    fr = list(head_fractions)
    if any(not (0.0 < f < 1.0) for f in fr) or any(b <= a for a, b in itertools.pairwise(fr)):
        raise ValueError(f"head_fractions {fr} must be strictly increasing values in (0, 1)")
    # the small epsilon keeps exact products (0.1 * 6040 = 604.0000000000001) from rounding up
    bounds = [math.ceil(f * n - 1e-9) for f in fr] + [n]
    if bounds[0] < 1 or any(b <= a for a, b in itertools.pairwise(bounds)):
        raise ValueError(f"head_fractions {fr} give empty groups for n={n}: bounds {bounds}")
    return bounds
