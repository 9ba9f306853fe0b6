"""Public graded-relevance proxies for the paper's Task 3 (its app-to-app data is private).

Both are built from the only real explicit ratings available here: MovieLens-1M users 1-2999
(487,650 ratings; `ml-1m/ratings.dat.users0001-2999.gz`, or the official `ml-1m/ratings.dat`
restricted to those users, which holds the same ratings).

(a) `load_rating_regression`: predict a user's 1-5 star rating of a movie; random 90/10 split; RMSE.
(b) `load_item_relevance`: for movie pairs co-rated by >= min_coraters users, label = 100 x Pearson
    correlation of the two movies' ratings over their co-raters (range -100..100, like the paper's
    labels); random 90/10 split of pairs; RMSE. Pairs whose ratings do not vary over the co-raters
    (correlation undefined) are dropped.
Ids are remapped like the ranking protocol: descending TRAINING frequency, ties by original id.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mgqe.trainer.data.errors import DatasetNotFoundError
from mgqe.trainer.data.loaders import resolve_data_dir
from mgqe.trainer.data.protocol import frequency_order
from mgqe.trainer.data.readers import find_file, parse_int_table, read_bytes

MAX_USER = 2999  # the raw ratings reachable for the project cover users 1..2999
DEFAULT_MIN_CORATERS = 60  # gives ~3.8e5 pairs on the real data: "a few hundred thousand"


@dataclass(frozen=True)
class RatingData:
    """Explicit ratings, split 90/10 at random. Ids internal (0 = most training ratings).

    train_users, train_items: (N,) int64; train_ratings: (N,) float32 in 1..5; test_*: same for the test part
    user_vocab, item_vocab: (n_users,), (n_items,) int64 original ids; user_freq, item_freq: training counts
    """

    name: str
    n_users: int
    n_items: int
    train_users: np.ndarray
    train_items: np.ndarray
    train_ratings: np.ndarray
    test_users: np.ndarray
    test_items: np.ndarray
    test_ratings: np.ndarray
    user_vocab: np.ndarray
    item_vocab: np.ndarray
    user_freq: np.ndarray
    item_freq: np.ndarray
    source: str
    synthetic: bool = False

    def mean_baseline_rmse(self) -> float:
        """Test RMSE of always predicting the training mean: the floor any model must beat."""
        mu = float(self.train_ratings.mean())
        return float(np.sqrt(np.mean((self.test_ratings.astype(np.float64) - mu) ** 2)))


@dataclass(frozen=True)
class RelevanceData:
    """Item-pair relevance labels, split 90/10 at random. Ids internal (0 = in most training pairs).

    train_a, train_b: (P,) int64 internal item ids of each pair (each unordered pair appears once);
    train_y: (P,) float32 label in [-100, 100]; test_*: same for the test part
    item_vocab: (n_items,) int64 original movie ids; item_freq: (n_items,) training-pair counts
    """

    name: str
    n_items: int
    train_a: np.ndarray
    train_b: np.ndarray
    train_y: np.ndarray
    test_a: np.ndarray
    test_b: np.ndarray
    test_y: np.ndarray
    item_vocab: np.ndarray
    item_freq: np.ndarray
    min_coraters: int
    source: str
    synthetic: bool = False

    def mean_baseline_rmse(self) -> float:
        """Test RMSE of always predicting the training mean label."""
        mu = float(self.train_y.mean())
        return float(np.sqrt(np.mean((self.test_y.astype(np.float64) - mu) ** 2)))


def load_explicit_ratings(data_dir: str | Path | None = None) -> tuple[np.ndarray, str]:
    """Raw ratings of users 1..2999: (N, 4) int64 rows (user, movie, rating, timestamp), and the source."""
    folder = resolve_data_dir(data_dir) / "ml-1m"
    official = find_file(folder, "ratings.dat")
    if official is not None:
        t = parse_int_table(read_bytes(official), 4, official, sep=b"::")
        return t[t[:, 0] <= MAX_USER], f"{official} (users 1-{MAX_USER})"
    subset = find_file(folder, "ratings.dat.users0001-2999")
    if subset is None:
        raise DatasetNotFoundError(
            f"explicit ratings not found: looked for {folder / 'ratings.dat'} and "
            f"{folder / 'ratings.dat.users0001-2999.gz'}; get the official file with "
            f"`mgqe-train data download movielens-1m --data-dir {folder.parent}`")
    return parse_int_table(read_bytes(subset), 4, subset, sep=b"::"), str(subset)


def _split_mask(n: int, test_fraction: float, seed: int) -> np.ndarray:
    """(n,) bool, True for the first round(test_fraction * n) rows of a seeded permutation.

    Both parts keep at least one row, so neither train nor test is ever empty.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction={test_fraction} must be in (0, 1)")
    if n < 2:
        raise ValueError(f"{n} rows cannot be split into a train and a test part")
    n_test = min(max(round(test_fraction * n), 1), n - 1)
    is_test = np.zeros(n, dtype=bool)
    is_test[np.random.default_rng(seed).permutation(n)[:n_test]] = True
    return is_test


def _remap_by_train(ids: np.ndarray, train_counts_of: np.ndarray,
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ids: (n,) sorted unique originals; train_counts_of: (n,) -> (new id of each old index, vocab, freq)."""
    order = frequency_order(ids, train_counts_of)
    new_of_old = np.empty(ids.size, dtype=np.int64)
    new_of_old[order] = np.arange(ids.size, dtype=np.int64)
    return new_of_old, ids[order].astype(np.int64), train_counts_of[order].astype(np.int64)


def load_rating_regression(data_dir: str | Path | None = None, seed: int = 0,
                           test_fraction: float = 0.1) -> RatingData:
    """Task 3 proxy (a): the 487,650 explicit ratings of users 1-2999, random 90/10 split."""
    t, source = load_explicit_ratings(data_dir)
    is_test = _split_mask(t.shape[0], test_fraction, seed)
    uniq_u, inv_u = np.unique(t[:, 0], return_inverse=True)
    uniq_i, inv_i = np.unique(t[:, 1], return_inverse=True)
    new_u, user_vocab, user_freq = _remap_by_train(
        uniq_u, np.bincount(inv_u[~is_test], minlength=uniq_u.size))
    new_i, item_vocab, item_freq = _remap_by_train(
        uniq_i, np.bincount(inv_i[~is_test], minlength=uniq_i.size))
    u, i, r = new_u[inv_u], new_i[inv_i], t[:, 2].astype(np.float32)
    return RatingData(
        name="ml-1m-ratings", n_users=int(uniq_u.size), n_items=int(uniq_i.size),
        train_users=u[~is_test], train_items=i[~is_test], train_ratings=r[~is_test],
        test_users=u[is_test], test_items=i[is_test], test_ratings=r[is_test],
        user_vocab=user_vocab, item_vocab=item_vocab, user_freq=user_freq, item_freq=item_freq,
        source=f"{source}; random {1 - test_fraction:.0%}/{test_fraction:.0%} split, seed {seed}",
    )


def pearson_pairs(users: np.ndarray, items: np.ndarray, ratings: np.ndarray, min_coraters: int,
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All item pairs (a < b by original id) co-rated by >= min_coraters users, with their Pearson r.

    users, items, ratings: (N,) int64 rating rows (one rating per user and item).
    Returns (a, b) original item ids (P,) int64, r (P,) float64 in [-1, 1], co-rater counts (P,) int64.
    All sums are of small integers, so float32 matrix products are exact (values stay below 2**24).
    """
    if min_coraters < 2:
        raise ValueError(f"min_coraters={min_coraters} must be >= 2 (a correlation needs two co-raters)")
    uniq_i, inv_i = np.unique(items, return_inverse=True)
    keep_item = np.bincount(inv_i) >= min_coraters  # an item rated by fewer users cannot be in any pair
    rows = keep_item[inv_i]
    cand = uniq_i[keep_item]
    _, inv_u = np.unique(users[rows], return_inverse=True)
    col = np.searchsorted(cand, items[rows])
    n_u, m = int(inv_u.max()) + 1 if rows.any() else 0, cand.size
    X = np.zeros((n_u, m), dtype=np.float32)
    X[inv_u, col] = ratings[rows]
    B = (X > 0).astype(np.float32)
    n = B.T @ B                       # co-raters of (i, j)
    S = (X.T @ B).astype(np.float64)  # S[i, j] = sum of i's ratings over co-raters of (i, j)
    P = (X.T @ X).astype(np.float64)
    Q = ((X * X).T @ B).astype(np.float64)
    ia, ib = np.triu_indices(m, k=1)
    nn = n[ia, ib].astype(np.float64)
    ok = nn >= min_coraters
    ia, ib, nn = ia[ok], ib[ok], nn[ok]
    sa, sb = S[ia, ib], S[ib, ia]
    cov = P[ia, ib] - sa * sb / nn
    va = Q[ia, ib] - sa * sa / nn
    vb = Q[ib, ia] - sb * sb / nn
    defined = (va > 1e-9) & (vb > 1e-9)
    r = cov[defined] / np.sqrt(va[defined] * vb[defined])
    return (cand[ia[defined]].astype(np.int64), cand[ib[defined]].astype(np.int64),
            np.clip(r, -1.0, 1.0), nn[defined].astype(np.int64))


def load_item_relevance(data_dir: str | Path | None = None, min_coraters: int = DEFAULT_MIN_CORATERS,
                        seed: int = 0, test_fraction: float = 0.1) -> RelevanceData:
    """Task 3 proxy (b): movie pairs with label 100 x Pearson r over their co-raters, random 90/10 split."""
    t, source = load_explicit_ratings(data_dir)
    a, b, r, _ = pearson_pairs(t[:, 0], t[:, 1], t[:, 2], min_coraters)
    if a.size == 0:
        raise ValueError(f"no movie pair has >= {min_coraters} co-raters; lower min_coraters")
    is_test = _split_mask(a.size, test_fraction, seed)
    uniq, inv = np.unique(np.r_[a, b], return_inverse=True)
    ia, ib = inv[: a.size], inv[a.size :]
    counts = np.bincount(np.r_[ia[~is_test], ib[~is_test]], minlength=uniq.size)
    new, vocab, freq = _remap_by_train(uniq, counts)
    ia, ib = new[ia], new[ib]
    y = (100.0 * r).astype(np.float32)
    return RelevanceData(
        name="ml-1m-item-relevance", n_items=int(uniq.size),
        train_a=ia[~is_test], train_b=ib[~is_test], train_y=y[~is_test],
        test_a=ia[is_test], test_b=ib[is_test], test_y=y[is_test],
        item_vocab=vocab, item_freq=freq, min_coraters=min_coraters,
        source=f"{source}; pairs with >= {min_coraters} co-raters, label 100 x Pearson r; "
               f"random {1 - test_fraction:.0%}/{test_fraction:.0%} split, seed {seed}",
    )
