"""PointwiseRanking negatives: the NCF filter (no negative is a training pair), both membership paths, the
unfiltered stream kept bit-identical for earlier cached runs, and the config hash rule for the new field."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

from mgqe.trainer import objectives
from mgqe.trainer.config import NOT_HASHED, TrainConfig, config_hash, from_dict
from mgqe.trainer.data.protocol import leave_last_out
from mgqe.trainer.data.synthetic import generate_zipf
from mgqe.trainer.objectives import PointwiseRanking, TrainPairs


@pytest.fixture(scope="module")
def split():  # type: ignore[no-untyped-def]
    # few items and long histories, so unfiltered negatives often hit a training pair
    return leave_last_out(generate_zipf(n_users=200, n_items=60, mean_length=25.0, seed=3))


def _epoch_arrays(obj: PointwiseRanking, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    batches = list(obj.epoch(np.random.default_rng(seed), 10**9, torch.device("cpu")))
    assert len(batches) == 1
    return tuple(t.numpy() for t in batches[0])  # type: ignore[return-value]


def test_filtered_negatives_are_never_training_pairs(split) -> None:  # type: ignore[no-untyped-def]
    obj = PointwiseRanking(split, n_neg=4)
    u, i, y = _epoch_arrays(obj, 0)
    seen = np.zeros((split.n_users, split.n_items), bool)
    seen[split.train_users, split.train_items] = True
    neg = y == 0
    assert neg.sum() == 4 * split.n_train
    assert not seen[u[neg], i[neg]].any()
    assert seen[u[~neg], i[~neg]].all()
    # and the unfiltered sampler does hit training pairs on this data, so the check above can fail
    u0, i0, y0 = _epoch_arrays(PointwiseRanking(split, n_neg=4, neg_filter=False), 0)
    assert seen[u0[y0 == 0], i0[y0 == 0]].sum() > 0


def test_sorted_keys_path_equals_dense_mask(split, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    dense = _epoch_arrays(PointwiseRanking(split, n_neg=3), 7)
    monkeypatch.setattr(objectives, "_DENSE_MASK_LIMIT", 0)
    obj = PointwiseRanking(split, n_neg=3)
    assert obj.pairs is not None and obj.pairs.seen is None and obj.pairs.keys is not None
    for a, b in zip(dense, _epoch_arrays(obj, 7), strict=True):
        np.testing.assert_array_equal(a, b)


def test_unfiltered_stream_is_the_earlier_one(split) -> None:  # type: ignore[no-untyped-def]
    """neg_filter=False draws exactly what the sampler drew before the filter existed (cached cells)."""
    N, n_neg = split.n_train, 2
    rng = np.random.default_rng(5)
    items = np.concatenate([split.train_items, rng.integers(0, split.n_items, size=N * n_neg)])
    perm = rng.permutation(items.size)
    _, i, _ = _epoch_arrays(PointwiseRanking(split, n_neg=n_neg, neg_filter=False), 5)
    np.testing.assert_array_equal(i, items[perm])


def test_user_with_every_item_stops_after_max_rounds(split) -> None:  # type: ignore[no-untyped-def]
    obj = PointwiseRanking(split, n_neg=1)
    assert obj.pairs is not None
    obj.pairs.seen = np.ones_like(obj.pairs.seen)  # every item is a training item of every user
    neg = obj.negatives(np.zeros(50, np.int64), np.random.default_rng(0))
    assert neg.shape == (50,) and ((neg >= 0) & (neg < split.n_items)).all()


def test_train_pairs_with_no_pairs_contains_nothing(split, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(objectives, "_DENSE_MASK_LIMIT", 0)
    empty = split.__class__(**{**split.__dict__, "train_users": split.train_users[:0],
                               "train_items": split.train_items[:0]})
    assert not TrainPairs(empty).contains(np.array([0, 1]), np.array([0, 1])).any()


def test_hash_keeps_earlier_cells_and_separates_the_filter() -> None:
    # added after the first cells were cached
    new_fields = {"neg_filter", "centroid_task_grad", "pos_init_std", "adam_beta2"}
    legacy = {k: v for k, v in TrainConfig(model="gmf").to_dict().items() if k not in new_fields}
    gmf_off = from_dict({**legacy, "neg_filter": False})
    gmf_on = from_dict(legacy)  # the default is the filter
    assert gmf_on.neg_filter and config_hash(gmf_on) != config_hash(gmf_off)
    # a cell cached before the field existed was unfiltered: its hash is the one of neg_filter=False
    old = {k: v for k, v in legacy.items() if k not in NOT_HASHED}
    assert config_hash(gmf_off) == hashlib.sha256(json.dumps(old, sort_keys=True).encode()).hexdigest()[:16]
    # models whose objective has no sampled pointwise negatives ignore the field
    for model, extra in (("sasrec", {}), ("gmf", {"task": "rating", "dataset": "ml-1m"})):
        a = from_dict({"model": model, **extra, "neg_filter": True})
        b = from_dict({"model": model, **extra, "neg_filter": False})
        assert config_hash(a) == config_hash(b)
    # a field at the value every earlier run had stays out of the hash; any other value enters it
    sasrec = {k: v for k, v in TrainConfig(model="sasrec").to_dict().items() if k not in new_fields}
    old = {k: v for k, v in sasrec.items() if k not in NOT_HASHED}
    digest = hashlib.sha256(json.dumps(old, sort_keys=True).encode()).hexdigest()[:16]
    assert config_hash(from_dict(sasrec)) == digest
    assert config_hash(from_dict({**sasrec, "pos_init_std": 0.01})) != config_hash(from_dict(sasrec))
    assert config_hash(from_dict({**sasrec, "adam_beta2": 0.98})) != config_hash(from_dict(sasrec))
    assert config_hash(from_dict({**sasrec, "adam_beta2": 0.999})) == digest
