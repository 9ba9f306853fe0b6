"""Deterministic synthetic power-law (Zipf) interactions for tests and scale benchmarks.

Never real data: the result has `synthetic=True`, its name is "synthetic" and its `label` and `source`
say GENERATED in every output. Memory is O(interactions), not O(vocabulary), so a 10M+ item vocabulary
costs only its (n_items,) catalogue array.
"""

from __future__ import annotations

import math

import numpy as np

from mgqe.trainer.data.interactions import Interactions


def zipf_ranks(rng: np.random.Generator, size: int, n: int, alpha: float) -> np.ndarray:
    """Draw (size,) int64 popularity ranks in [0, n) with P(rank r) ~ (r + 1)^-alpha.

    Inverse CDF of the continuous power law on [1, n + 1), floored: exact in the tail, a close
    approximation for the first few ranks, and needs no (n,) table.
    """
    u = rng.random(size)
    if abs(alpha - 1.0) < 1e-12:
        x = np.exp(u * math.log(n + 1.0))
    else:
        a1 = 1.0 - alpha
        x = (1.0 + u * ((n + 1.0) ** a1 - 1.0)) ** (1.0 / a1)
    return np.clip(np.floor(x).astype(np.int64) - 1, 0, n - 1)


def _coprime_multiplier(n: int, rng: np.random.Generator) -> int:
    """A multiplier a with gcd(a, n) = 1, so r -> (a r + b) mod n is a bijection on [0, n)."""
    if n <= 2:
        return 1
    while True:
        a = int(rng.integers(n // 3, n))
        if math.gcd(a, n) == 1:
            return a


def generate_zipf(n_users: int = 1000, n_items: int = 10_000, mean_length: float = 20.0,
                  alpha: float = 1.0, min_length: int = 3, seed: int = 0) -> Interactions:
    """Generate users whose histories draw items from a Zipf(alpha) popularity law.

    Each user's length is min_length - 1 + Geometric(p) with mean `mean_length`; repeated draws of an
    item by the same user are dropped (real MovieLens has no repeats), so lengths end up slightly
    shorter for users heavy on head items. Item ids are a seeded bijection of popularity ranks (so the
    remapping has work to do); the catalogue is all n_items ids, including never-drawn ones.
    Same arguments -> identical output.
    """
    if n_users < 1 or n_items < 1:
        raise ValueError(f"n_users={n_users} and n_items={n_items} must be >= 1")
    if min_length < 1 or mean_length < min_length:
        raise ValueError(f"need 1 <= min_length={min_length} <= mean_length={mean_length}")
    if n_items > 2**31:
        raise ValueError(f"n_items={n_items} exceeds 2**31")
    if alpha <= 0:
        raise ValueError(f"alpha={alpha} must be > 0")
    rng = np.random.default_rng(seed)
    p = 1.0 / (mean_length - min_length + 1.0)
    lengths = np.minimum(rng.geometric(p, size=n_users) + (min_length - 1), n_items).astype(np.int64)
    users = np.repeat(np.arange(n_users, dtype=np.int64), lengths)
    ranks = zipf_ranks(rng, users.size, n_items, alpha)
    a, b = _coprime_multiplier(n_items, rng), int(rng.integers(0, n_items))
    items = (ranks * a + b) % n_items  # no overflow: n_items <= 2**31 is checked above
    # drop repeats within a user, keeping the first occurrence and the draw order
    order = np.lexsort((items, users))  # stable: equal (user, item) pairs stay in draw order
    su, si = users[order], items[order]
    repeat = np.r_[False, (su[1:] == su[:-1]) & (si[1:] == si[:-1])]
    keep = np.sort(order[~repeat])
    users, items = users[keep], items[keep]
    source = (f"GENERATED zipf(alpha={alpha}, n_users={n_users}, n_items={n_items}, "
              f"mean_length={mean_length}, min_length={min_length}, seed={seed}); not real data")
    return Interactions("synthetic", users, items.astype(np.int64), source=source, synthetic=True,
                        all_items=np.arange(n_items, dtype=np.int64))
