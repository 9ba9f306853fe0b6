"""Full-ranking HR@k / NDCG@k on a hand-made split, a brute-force reference, and error paths."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pytest
import torch

from mgqe.trainer.data import Interactions, leave_last_out
from mgqe.trainer.data.synthetic import generate_zipf
from mgqe.trainer.metrics import evaluate_full_ranking, known_coords

# same log as test_data_protocol: internal user 0 trains on items {1, 0}, valid 2, test 3;
# user 1 has no targets; user 2 trains on {0}, valid 2, test 1.
HAND = [(10, 200), (10, 300), (10, 100), (20, 100), (20, 200), (20, 300), (20, 400), (30, 300), (30, 200)]
SCORES = np.array([[9, 8, 6, 5], [0, 0, 0, 0], [9, 3, 7, 3]], dtype=np.float32)


def _split():
    u = np.array([r[0] for r in HAND], dtype=np.int64)
    i = np.array([r[1] for r in HAND], dtype=np.int64)
    return leave_last_out(Interactions("hand", u, i, "test"))


def _numpy_fn(users: np.ndarray) -> np.ndarray:
    return SCORES[users].copy()


def _torch_fn(users: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(SCORES[users].copy())


@pytest.mark.parametrize("fn", [_numpy_fn, _torch_fn])
def test_hand_case(fn) -> None:
    s = _split()
    # valid: user 0 target 2 (score 6), candidates {2, 3}: item 3 scores 5 < 6 -> rank 0.
    #        user 2 target 2 (score 7), candidates {1, 2, 3}: none higher -> rank 0.
    assert evaluate_full_ranking(fn, s, "valid", k=1) == {"hr@1": 100.0, "ndcg@1": 100.0, "users": 2}
    # test: user 0 target 3 (score 5); items 0, 1 trained, item 2 (score 6) is the validation item and is
    #       masked too -> rank 0. user 2 target 1 (score 3); item 3 ties at 3 -> pessimistic rank 1.
    r1 = evaluate_full_ranking(fn, s, "test", k=1)
    assert r1 == {"hr@1": 50.0, "ndcg@1": 50.0, "users": 2}
    r2 = evaluate_full_ranking(fn, s, "test", k=2, batch_size=1)
    assert r2["hr@2"] == 100.0
    assert r2["ndcg@2"] == pytest.approx(100.0 * (1.0 + 1.0 / math.log2(3.0)) / 2.0)


def test_user_subset() -> None:
    s = _split()
    assert evaluate_full_ranking(_numpy_fn, s, "test", k=1, users=np.array([2])) == {
        "hr@1": 0.0, "ndcg@1": 0.0, "users": 1}
    # user 1 has no test item: nothing to evaluate, and no division by zero
    assert evaluate_full_ranking(_numpy_fn, s, "test", users=np.array([1]))["users"] == 0


def _reference(scores: np.ndarray, s, which: str, k: int) -> tuple[float, float]:
    """Plain per-user loop: the definition in the metrics docstring."""
    target = s.valid if which == "valid" else s.test
    hr = nd = 0.0
    n = 0
    for u in range(s.n_users):
        t = target[u]
        if t < 0:
            continue
        n += 1
        masked = set(s.user_items(u).tolist())
        if which == "test" and s.valid[u] >= 0:
            masked.add(int(s.valid[u]))
        rank = sum(1 for j in range(s.n_items) if j != t and j not in masked and scores[u, j] >= scores[u, t])
        if rank < k:
            hr += 1
            nd += 1 / math.log2(rank + 2)
    return 100 * hr / n, 100 * nd / n


@pytest.mark.parametrize("which", ["valid", "test"])
def test_matches_brute_force_with_ties(which: Literal["valid", "test"]) -> None:
    s = leave_last_out(generate_zipf(n_users=60, n_items=50, mean_length=8, seed=1))
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 6, size=(s.n_users, s.n_items)).astype(np.float32)  # many ties
    got = evaluate_full_ranking(lambda u: scores[u], s, which, k=5, batch_size=7)
    hr, nd = _reference(scores, s, which, 5)
    assert got["hr@5"] == pytest.approx(hr) and got["ndcg@5"] == pytest.approx(nd)
    assert got["users"] == int(((s.valid if which == "valid" else s.test) >= 0).sum())


def test_known_coords_are_the_training_items_plus_the_validation_item_at_test_time() -> None:
    split = leave_last_out(generate_zipf(n_users=12, n_items=30, seed=4))
    users = np.array([3, 7])
    for which in ("valid", "test"):
        rows, cols = known_coords(split, users, which)
        for b, u in enumerate(users):
            train = set(split.train_items[split.train_indptr[u] : split.train_indptr[u + 1]].tolist())
            extra = {int(split.valid[u])} if which == "test" else set()
            assert set(cols[rows == b].tolist()) == train | extra


def test_constant_scorer_never_hits() -> None:
    s = _split()
    r = evaluate_full_ranking(lambda u: np.zeros((u.size, s.n_items)), s, "valid", k=1)
    # user 0 has 2 candidates, user 2 has 3: every tie counts against the model
    assert r["hr@1"] == 0.0


def test_errors() -> None:
    s = _split()
    with pytest.raises(ValueError, match="expected \\(2, 4\\)"):
        evaluate_full_ranking(lambda u: np.zeros((u.size, 3)), s)
    with pytest.raises(ValueError, match="NaN"):
        evaluate_full_ranking(lambda u: np.full((u.size, 4), np.nan), s)
    with pytest.raises(ValueError, match="NaN"):
        evaluate_full_ranking(lambda u: torch.full((u.size, 4), float("nan")), s)
    with pytest.raises(ValueError, match="which="):
        evaluate_full_ranking(_numpy_fn, s, "train")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="k=0"):
        evaluate_full_ranking(_numpy_fn, s, k=0)
    with pytest.raises(ValueError, match="internal ids"):
        evaluate_full_ranking(_numpy_fn, s, users=np.array([5]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_scores_ranked_on_device() -> None:
    s = _split()
    gpu = torch.from_numpy(SCORES).cuda()
    r = evaluate_full_ranking(lambda u: gpu[torch.as_tensor(u, device="cuda")], s, "test", k=2)
    assert r == evaluate_full_ranking(_numpy_fn, s, "test", k=2)


def test_list_scores_are_accepted() -> None:
    s = _split()
    r = evaluate_full_ranking(lambda u: SCORES[u].tolist(), s, "test", k=1)
    assert r == evaluate_full_ranking(_numpy_fn, s, "test", k=1)
