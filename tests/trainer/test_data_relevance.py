"""Task 3 proxies: explicit rating regression and item-pair Pearson relevance."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from mgqe.trainer.cli import main
from mgqe.trainer.data import DatasetNotFoundError
from mgqe.trainer.data.relevance import (
    load_explicit_ratings,
    load_item_relevance,
    load_rating_regression,
    pearson_pairs,
)

_REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("MGQE_DATA_DIR") or _REPO.parent / "shared" / "data")
real = pytest.mark.skipif(not (DATA / "ml-1m").is_dir(),
                          reason=f"real MovieLens data not found at {DATA} (set MGQE_DATA_DIR)")

# users 1..3 rate movies: 10 = [1, 2, 3], 20 = [2, 4, 5] (co-moves with 10), 30 = [3, 2, 1] (opposite),
# 40 = [4, 4, 4] (no variance); user 4 (above 2999) is ignored when read from an official ratings.dat
HAND = {10: [1, 2, 3], 20: [2, 4, 5], 30: [3, 2, 1], 40: [4, 4, 4]}


def _rows() -> np.ndarray:
    return np.array([(u + 1, m, r[u], 100 + u) for m, r in HAND.items() for u in range(3)], dtype=np.int64)


def _write_official(root: Path, extra_user: bool = True) -> None:
    rows = _rows().tolist() + ([[3000, 10, 5, 1], [3000, 20, 1, 1]] if extra_user else [])
    (root / "ml-1m").mkdir(parents=True, exist_ok=True)
    (root / "ml-1m" / "ratings.dat").write_text("".join("::".join(map(str, r)) + "\n" for r in rows))


def test_pearson_pairs_by_hand() -> None:
    t = _rows()
    a, b, r, n = pearson_pairs(t[:, 0], t[:, 1], t[:, 2], min_coraters=3)
    got = {(int(x), int(y)): float(v) for x, y, v in zip(a, b, r, strict=True)}
    # 40 never varies: its pairs have no correlation and are dropped; the rest by np.corrcoef
    expect = {(x, y): float(np.corrcoef(HAND[x], HAND[y])[0, 1])
              for x in (10, 20, 30) for y in (10, 20, 30) if x < y}
    assert got.keys() == expect.keys()
    for k, v in expect.items():
        assert got[k] == pytest.approx(v, abs=1e-9)
    assert got[(10, 30)] == pytest.approx(-1.0) and n.tolist() == [3, 3, 3]
    # with 4 required co-raters no pair is left
    assert pearson_pairs(t[:, 0], t[:, 1], t[:, 2], min_coraters=4)[0].size == 0
    with pytest.raises(ValueError, match="min_coraters=1"):
        pearson_pairs(t[:, 0], t[:, 1], t[:, 2], min_coraters=1)


def test_pearson_only_over_coraters() -> None:
    # user 4 rates only movie 10: must not enter the (10, 20) correlation
    t = np.r_[_rows(), [[4, 10, 5, 0]]]
    a, b, r, n = pearson_pairs(t[:, 0], t[:, 1], t[:, 2], min_coraters=3)
    i = int(np.flatnonzero((a == 10) & (b == 20))[0])
    assert n[i] == 3 and r[i] == pytest.approx(np.corrcoef(HAND[10], HAND[20])[0, 1])


def test_rating_regression_on_official_layout(tmp_path: Path) -> None:
    _write_official(tmp_path)
    raw, source = load_explicit_ratings(tmp_path)
    assert raw.shape == (12, 4) and "users 1-2999" in source  # user 3000 is left out
    d = load_rating_regression(tmp_path, seed=0, test_fraction=0.25)
    assert d.train_ratings.size == 9 and d.test_ratings.size == 3
    assert d.n_users == 3 and d.n_items == 4
    assert np.all(np.diff(d.item_freq) <= 0) and np.all(np.diff(d.user_freq) <= 0)
    assert np.array_equal(np.bincount(d.train_items, minlength=d.n_items), d.item_freq)
    # every (user, movie, rating) row survives the remap
    back = sorted(zip(d.user_vocab[np.r_[d.train_users, d.test_users]].tolist(),
                      d.item_vocab[np.r_[d.train_items, d.test_items]].tolist(),
                      np.r_[d.train_ratings, d.test_ratings].astype(int).tolist(), strict=True))
    assert back == sorted(map(tuple, _rows()[:, :3].tolist()))
    again = load_rating_regression(tmp_path, seed=0, test_fraction=0.25)
    assert np.array_equal(again.test_items, d.test_items)
    mu = d.train_ratings.mean()
    assert d.mean_baseline_rmse() == pytest.approx(float(np.sqrt(np.mean((d.test_ratings - mu) ** 2))))


def test_item_relevance_small(tmp_path: Path) -> None:
    _write_official(tmp_path)
    d = load_item_relevance(tmp_path, min_coraters=3, seed=1, test_fraction=1 / 3)
    assert d.train_y.size + d.test_y.size == 3 and d.test_y.size == 1
    pairs = {(int(d.item_vocab[x]), int(d.item_vocab[y])): float(v) for x, y, v in zip(
        np.r_[d.train_a, d.test_a], np.r_[d.train_b, d.test_b], np.r_[d.train_y, d.test_y], strict=True)}
    assert pairs[(10, 30)] == pytest.approx(-100.0) and set(pairs) == {(10, 20), (10, 30), (20, 30)}
    assert np.array_equal(np.bincount(np.r_[d.train_a, d.train_b], minlength=d.n_items), d.item_freq)
    with pytest.raises(ValueError, match="no movie pair"):
        load_item_relevance(tmp_path, min_coraters=4)


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError,
                       match=r"ratings\.dat\.users0001-2999\.gz.*download movielens-1m"):
        load_rating_regression(tmp_path)
    _write_official(tmp_path)
    with pytest.raises(ValueError, match="test_fraction"):
        load_rating_regression(tmp_path, test_fraction=1.0)


def test_relevance_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_official(tmp_path)
    assert main(["data", "relevance", "--data-dir", str(tmp_path), "--min-coraters", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ratings.train"] + out["ratings.test"] == 12
    # 10% of 3 pairs rounds to 0: the split still keeps one test pair
    assert (out["pairs.train"], out["pairs.test"]) == (2, 1) and out["pairs.label_min"] >= -100
    assert main(["data", "relevance", "--data-dir", str(tmp_path), "--min-coraters", "1"]) == 2
    assert "--min-coraters 1 must be >= 2" in capsys.readouterr().err


@real
def test_real_rating_regression() -> None:
    d = load_rating_regression(DATA)
    assert d.train_ratings.size + d.test_ratings.size == 487_650 and d.n_users == 2999
    assert d.test_ratings.size == round(0.1 * 487_650)
    assert set(np.unique(d.train_ratings).tolist()) == {1.0, 2.0, 3.0, 4.0, 5.0}


@real
def test_real_item_relevance_labels_match_direct_pearson() -> None:
    d = load_item_relevance(DATA, min_coraters=60)
    total = d.train_y.size + d.test_y.size
    assert 100_000 < total < 1_000_000  # "a few hundred thousand" at the default
    assert d.train_y.min() >= -100 and d.train_y.max() <= 100
    raw, _ = load_explicit_ratings(DATA)
    picks = np.random.default_rng(0).choice(d.test_y.size, 20, replace=False)
    movies = set(d.item_vocab[np.r_[d.test_a[picks], d.test_b[picks]]].tolist())
    by_movie = {m: dict(zip(raw[raw[:, 1] == m, 0].tolist(), raw[raw[:, 1] == m, 2].tolist(), strict=True))
                for m in movies}
    for k in picks:
        a, b = int(d.item_vocab[d.test_a[k]]), int(d.item_vocab[d.test_b[k]])
        common = sorted(by_movie[a].keys() & by_movie[b].keys())
        assert len(common) >= 60
        r = np.corrcoef([by_movie[a][u] for u in common], [by_movie[b][u] for u in common])[0, 1]
        assert d.test_y[k] == pytest.approx(100 * r, abs=1e-3)
