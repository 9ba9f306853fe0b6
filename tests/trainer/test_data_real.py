"""Counts and protocol checks on the real MovieLens files ($MGQE_DATA_DIR, else ../shared/data)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from mgqe.trainer.data import load_interactions, load_split
from mgqe.trainer.data.interactions import group_by_user
from mgqe.trainer.data.readers import parse_int_table, read_bytes

_REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("MGQE_DATA_DIR") or _REPO.parent / "shared" / "data")
pytestmark = pytest.mark.skipif(
    not (DATA / "ml-1m").is_dir(),
    reason=f"real MovieLens data not found at {DATA} (set MGQE_DATA_DIR to the shared data directory)",
)


@pytest.mark.parametrize(("name", "users", "items", "n"), [
    ("ml-1m", 6040, 3706, 1_000_209),
    ("ml-1m-sasrec", 6040, 3416, 999_611),
    ("ml-100k", 943, 1682, 100_000),
])
def test_counts(name: str, users: int, items: int, n: int) -> None:
    log = load_interactions(name, DATA)
    assert (np.unique(log.users).size, np.unique(log.items).size, log.n_interactions) == (users, items, n)
    s = load_split(name, DATA)
    assert (s.n_users, s.n_items) == (users, items)
    # every user has >= 20 ratings, so each has exactly one validation and one test item
    assert (s.valid >= 0).all() and (s.test >= 0).all()
    assert s.n_train == n - 2 * users
    assert np.all(np.diff(s.item_freq) <= 0)
    assert np.array_equal(np.bincount(s.train_items, minlength=s.n_items), s.item_freq)
    assert not s.synthetic


def test_ml1m_last_items_match_raw_timestamps() -> None:
    """For users 1-2999 the raw GroupLens lines give the test item by a stable time sort."""
    path = DATA / "ml-1m" / "ratings.dat.users0001-2999.gz"
    t = parse_int_table(read_bytes(path), 4, path, sep=b"::")
    u, i = group_by_user(t[:, 0], t[:, 1], t[:, 3])
    last = np.r_[u[1:] != u[:-1], True]
    raw_test = dict(zip(u[last].tolist(), i[last].tolist(), strict=True))
    s = load_split("ml-1m", DATA)
    user_of = {int(x): k for k, x in enumerate(s.user_vocab)}
    got = {x: int(s.item_vocab[s.test[user_of[x]]]) for x in raw_test}
    assert got == raw_test


def test_sasrec_ids_map_to_movielens() -> None:
    s = load_split("ml-1m-sasrec", DATA)
    full = load_split("ml-1m", DATA)
    # the 5-core file keeps every user and a subset of the movies, in MovieLens ids
    assert set(s.user_vocab.tolist()) == set(full.user_vocab.tolist())
    assert set(s.item_vocab.tolist()) <= set(full.item_vocab.tolist())
    # both files use the same stable time order, so the last movies agree except where the full file's
    # last movie is one of the rare (< 5 ratings) movies the 5-core file dropped
    full_test = dict(zip(full.user_vocab.tolist(), full.item_vocab[full.test].tolist(), strict=True))
    sas_test = dict(zip(s.user_vocab.tolist(), s.item_vocab[s.test].tolist(), strict=True))
    core = set(s.item_vocab.tolist())
    differ = {u for u in full_test if full_test[u] != sas_test[u]}
    assert differ == {u for u in full_test if full_test[u] not in core}
