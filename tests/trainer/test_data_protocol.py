"""Leave-last-out split, popularity remapping and popularity groups on hand-made logs."""

from __future__ import annotations

import numpy as np
import pytest

from mgqe.trainer.data import Interactions, leave_last_out, popularity_groups
from mgqe.trainer.data.interactions import group_by_user


def _log(rows: list[tuple[int, int]]) -> Interactions:
    u = np.array([r[0] for r in rows], dtype=np.int64)
    i = np.array([r[1] for r in rows], dtype=np.int64)
    return Interactions("hand", u, i, source="test")


# user 10: 200 300 100        -> train [200]      valid 300 test 100
# user 20: 100 200 300 400    -> train [100 200]  valid 300 test 400
# user 30: 300 200            -> fewer than 3: all training, no valid/test
HAND = [(10, 200), (10, 300), (10, 100), (20, 100), (20, 200), (20, 300), (20, 400), (30, 300), (30, 200)]


def test_split_and_remap_by_hand() -> None:
    s = leave_last_out(_log(HAND))
    # training counts: 200 -> 3 (users 10, 20, 30); 100 -> 1; 300 -> 1 (user 30); 400 -> 0 (test only).
    # descending count, ties by ascending original id: 200, 100, 300, 400
    assert s.item_vocab.tolist() == [200, 100, 300, 400]
    assert s.item_freq.tolist() == [3, 1, 1, 0]
    # training lengths: user 20 -> 2, user 30 -> 2, user 10 -> 1; tie 20/30 by id
    assert s.user_vocab.tolist() == [20, 30, 10]
    assert s.user_freq.tolist() == [2, 2, 1]
    assert (s.n_users, s.n_items, s.n_train) == (3, 4, 5)
    # internal user 0 (=20): train 100, 200 -> [1, 0]; user 1 (=30): 300, 200 -> [2, 0]; user 2 (=10): [0]
    assert s.train_users.tolist() == [0, 0, 1, 1, 2]
    assert s.train_items.tolist() == [1, 0, 2, 0, 0]
    assert s.train_indptr.tolist() == [0, 2, 4, 5]
    assert s.user_items(1).tolist() == [2, 0]
    # valid: user 20 -> 300 (=2), user 30 none, user 10 -> 300 (=2); test: 400 (=3), none, 100 (=1)
    assert s.valid.tolist() == [2, -1, 2]
    assert s.test.tolist() == [3, -1, 1]
    assert not s.synthetic and s.label == "hand"
    for a in (s.train_users, s.train_items, s.train_indptr, s.valid, s.test, s.item_vocab, s.item_freq):
        assert a.dtype == np.int64


def test_split_keeps_time_order_not_id_order() -> None:
    # one user whose items arrive in decreasing id order; the last in TIME is the test item
    s = leave_last_out(_log([(1, 9), (1, 3), (1, 7), (1, 5), (1, 1)]))
    back = s.item_vocab
    assert back[s.user_items(0)].tolist() == [9, 3, 7]
    assert back[s.valid[0]] == 5 and back[s.test[0]] == 1


def test_group_by_user_is_stable_on_time_ties() -> None:
    users = np.array([2, 1, 2, 1, 2], dtype=np.int64)
    items = np.array([10, 11, 12, 13, 14], dtype=np.int64)
    time = np.array([5, 9, 5, 1, 3], dtype=np.int64)
    u, i = group_by_user(users, items, time)
    # user 1: t=1 (13), t=9 (11); user 2: t=3 (14), then the tie at t=5 in line order: 10, 12
    assert u.tolist() == [1, 1, 2, 2, 2]
    assert i.tolist() == [13, 11, 14, 10, 12]


def test_catalogue_items_without_interactions_get_last_ids() -> None:
    log = _log(HAND)
    cat = np.array([100, 200, 300, 400, 500, 50], dtype=np.int64)
    s = leave_last_out(Interactions("hand", log.users, log.items, "test", all_items=np.sort(cat)))
    # 50 and 500 have count 0 like 400: ascending id among them
    assert s.item_vocab.tolist() == [200, 100, 300, 50, 400, 500]
    assert s.item_freq.tolist() == [3, 1, 1, 0, 0, 0]


def test_split_errors() -> None:
    with pytest.raises(ValueError, match="grouped by user"):
        leave_last_out(_log([(2, 1), (1, 2), (2, 3)]))
    with pytest.raises(ValueError, match="no interactions"):
        leave_last_out(_log([]))
    log = _log(HAND)
    with pytest.raises(ValueError, match="outside the declared catalogue"):
        leave_last_out(Interactions("hand", log.users, log.items, "t", all_items=np.array([100, 200])))
    with pytest.raises(ValueError, match="equal 1-D shapes"):
        Interactions("x", np.zeros(2, dtype=np.int64), np.zeros(3, dtype=np.int64), "t")


def test_split_invariants_on_random_log() -> None:
    rng = np.random.default_rng(3)
    users = np.sort(rng.integers(0, 40, 600))
    items = rng.integers(0, 90, 600) * 7
    s = leave_last_out(Interactions("rand", users, items, "t"))
    assert np.all(np.diff(s.item_freq) <= 0) and np.all(np.diff(s.user_freq) <= 0)
    assert np.array_equal(np.bincount(s.train_items, minlength=s.n_items), s.item_freq)
    assert np.array_equal(np.diff(s.train_indptr), s.user_freq)
    assert np.array_equal(s.train_users, np.repeat(np.arange(s.n_users), s.user_freq))
    assert s.n_train + (s.valid >= 0).sum() + (s.test >= 0).sum() == users.size
    # every user's full history maps back to the original log, in order
    for u in range(s.n_users):
        hist = s.user_items(u).tolist() + [x for x in (s.valid[u], s.test[u]) if x >= 0]
        orig = items[users == s.user_vocab[u]]
        assert s.item_vocab[hist].tolist() == orig.tolist()


def test_popularity_groups() -> None:
    # 10% of 3416 = 341.6 -> 342 head ids; 10% of 6040 = 604 exactly (no round-up from float error)
    assert popularity_groups(3416) == [342, 3416]
    assert popularity_groups(6040) == [604, 6040]
    assert popularity_groups(10, (0.1, 0.5)) == [1, 5, 10]
    with pytest.raises(ValueError, match="strictly increasing"):
        popularity_groups(100, (0.5, 0.2))
    with pytest.raises(ValueError, match="strictly increasing"):
        popularity_groups(100, (1.0,))
    with pytest.raises(ValueError, match="empty groups"):
        popularity_groups(2, (0.3, 0.4))
    with pytest.raises(ValueError, match="n=0"):
        popularity_groups(0)
