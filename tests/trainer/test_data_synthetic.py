"""Synthetic Zipf generator: determinism, shape of the law, labelling, 10M-item vocabularies."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mgqe.trainer.cli import main
from mgqe.trainer.data import leave_last_out, load_split
from mgqe.trainer.data.stats import dataset_stats
from mgqe.trainer.data.synthetic import generate_zipf, zipf_ranks


def test_deterministic_and_seeded() -> None:
    a, b = generate_zipf(n_users=200, n_items=500, seed=7), generate_zipf(n_users=200, n_items=500, seed=7)
    assert np.array_equal(a.users, b.users) and np.array_equal(a.items, b.items)
    c = generate_zipf(n_users=200, n_items=500, seed=8)
    assert not (a.items.size == c.items.size and np.array_equal(a.items, c.items))


def test_no_repeats_grouped_and_in_range() -> None:
    log = generate_zipf(n_users=300, n_items=1000, mean_length=30, seed=1)
    assert np.all(np.diff(log.users) >= 0)
    pairs = log.users * 1000 + log.items
    assert np.unique(pairs).size == pairs.size
    assert log.items.min() >= 0 and log.items.max() < 1000
    assert log.all_items is not None and log.all_items.size == 1000


def test_zipf_law_frequencies() -> None:
    rng = np.random.default_rng(0)
    n, alpha = 1000, 1.2
    ranks = zipf_ranks(rng, 400_000, n, alpha)
    counts = np.bincount(ranks, minlength=n).astype(float)
    # P(rank r) ~ (r+1)^-alpha: the log-log slope over ranks 10..500 recovers -alpha
    r = np.arange(10, 500)
    slope = np.polyfit(np.log(r + 1), np.log(counts[r]), 1)[0]
    assert slope == pytest.approx(-alpha, abs=0.08)


def test_labelled_synthetic_everywhere() -> None:
    s = load_split("synthetic", n_users=50, n_items=80, seed=2)
    assert s.synthetic and s.name == "synthetic"
    assert "SYNTHETIC" in s.label and "not real data" in s.source
    assert s.n_items == 80  # the whole catalogue, never-drawn ids included (frequency 0, last ids)
    assert np.all(np.diff(s.item_freq) <= 0)
    st = dataset_stats(generate_zipf(n_users=50, n_items=80, seed=2))
    assert st["synthetic"] is True and "SYNTHETIC" in str(st["dataset"]) and st["catalogue_items"] == 80


def test_ten_million_item_vocabulary() -> None:
    log = generate_zipf(n_users=300, n_items=10_000_000, mean_length=10, seed=0)
    assert log.all_items is not None and log.all_items.size == 10_000_000
    assert log.items.max() < 10_000_000
    # draws spread over the vocabulary through the bijection, not only over the first ids
    assert log.items.max() > 1_000_000


@pytest.mark.slow
def test_ten_million_item_split() -> None:
    s = leave_last_out(generate_zipf(n_users=100_000, n_items=10_000_000, seed=0))
    assert s.n_items == 10_000_000 and s.synthetic
    assert np.all(np.diff(s.item_freq) <= 0)


def test_generator_errors() -> None:
    with pytest.raises(ValueError, match="must be >= 1"):
        generate_zipf(n_users=0)
    with pytest.raises(ValueError, match="min_length"):
        generate_zipf(mean_length=2, min_length=3)
    with pytest.raises(ValueError, match="alpha"):
        generate_zipf(alpha=0)
    with pytest.raises(ValueError, match="2\\*\\*31"):
        generate_zipf(n_items=2**31 + 1)


def test_stats_cli_synthetic(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "stats", "--dataset", "synthetic", "--n-users", "40", "--n-items", "100",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["synthetic"] is True and out["dataset"].startswith("synthetic [SYNTHETIC")
    assert out["catalogue_items"] == 100 and out["users"] == 40
    assert main(["data", "stats", "--dataset", "synthetic", "--n-users", "40", "--n-items", "100"]) == 0
    text = capsys.readouterr().out
    assert "SYNTHETIC: generated, not real data" in text and "GENERATED zipf" in text
